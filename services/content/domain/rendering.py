"""Rendering a published revision: fragments expanded, facts formatted, safe HTML.

HTML is safe by construction: the only way text reaches the output is through
`html.escape`, tags come from a fixed set, and a link target is written only
when its scheme is http, https or mailto.

Around the content, the body carries the service's own words (a language switcher, a link
back to the top, a fallback notice). They come in already translated (`PageWords`, the
notice's text): this module never loads a catalog.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from html import escape

import msgspec
from babel import Locale, UnknownLocaleError

from schemas.blocks import Block, FactSpan, FragmentInclude, Heading, ListBlock, Paragraph, Span
from schemas.delivery import FactUsed, RenderedBlock, RenderedHeading, RenderedList, RenderedParagraph, RenderedSpan
from schemas.facts import DateValue, DecimalValue, EmailValue, IntegerValue, UrlValue, YearValue
from services.content.domain.formatting import format_fact
from services.content.domain.locales import babel_locale
from services.content.domain.model import Fact

SAFE_LINK = re.compile(r"^(?:https?://|mailto:)[^\s<>\"'`]+$", re.IGNORECASE)
MAX_FRAGMENT_DEPTH = 8


class ResolvedFragment(msgspec.Struct, frozen=True):
    """A fragment's published revision in the locale chosen for a render."""

    key: str
    revision: int
    locale: str
    blocks: list[Block]
    published_at: dt.datetime


class PageWords(msgspec.Struct, frozen=True):
    """The service's words around a page, already in the language ``lang`` (the page's, when there is a catalog)."""

    lang: str
    top: str
    """The link back to the top of the page ("Top of the page")."""
    languages: str
    """The accessible name of the language switcher ("Languages")."""


class LanguageLink(msgspec.Struct, frozen=True):
    """A published locale of the page, for the language switcher."""

    locale: str
    url: str


class RenderInput(msgspec.Struct, frozen=True):
    """Everything a render depends on; the render is a pure function of it."""

    locale: str
    fallback_chain: list[str]
    title: str
    blocks: list[Block]
    facts: Mapping[str, Fact]
    """Fact key -> the fact the page's site sees (its own scope first, then global)."""
    fragments: Mapping[str, ResolvedFragment]
    languages: tuple[LanguageLink, ...] = ()
    """The page's published locales, this one included, in the site's order."""
    words: PageWords | None = None
    """Without them the body is the content alone (no switcher, no link to the top)."""


class RenderOutput(msgspec.Struct, frozen=True):
    """A render's content: the blocks with text final, the HTML body, and what was used."""

    title: str
    blocks: list[RenderedBlock]
    html: str
    facts: list[FactUsed]
    fragments: dict[str, int]
    latest_input: dt.datetime | None


class _Renderer:
    def __init__(self, source: RenderInput) -> None:
        self.source = source
        self.locale = babel_locale(source.locale)  # parsed once per tag: Locale.parse reads the disk
        self.facts_used: dict[str, FactUsed] = {}
        self.fragments_used: dict[str, int] = {}
        self.latest: dt.datetime | None = None

    def _see(self, at: dt.datetime) -> None:
        self.latest = at if self.latest is None or at > self.latest else self.latest

    # -- spans -------------------------------------------------------------------

    def span(self, span: Span) -> RenderedSpan:
        if not isinstance(span, FactSpan):
            return RenderedSpan(text=span.text, marks=span.marks, link=span.link)
        fact = self.source.facts.get(span.key)
        if fact is None:
            # Only reachable when a fact a fragment names is absent from this site's scopes.
            return RenderedSpan(text="", marks=span.marks, link=span.link, fact=span.key)
        self.facts_used[span.key] = FactUsed(key=fact.key, scope=fact.scope, version=fact.version, value=fact.value)
        self._see(fact.updated_at)
        text = format_fact(fact.value, self.locale, span.format, self.source.fallback_chain)
        link = span.link
        if link is None and isinstance(fact.value, UrlValue):
            link = fact.value.value
        elif link is None and isinstance(fact.value, EmailValue):
            link = "mailto:" + fact.value.value
        return RenderedSpan(text=text, marks=span.marks, link=link, fact=span.key)

    def spans(self, spans: Sequence[Span]) -> list[RenderedSpan]:
        return [self.span(s) for s in spans]

    # -- blocks ------------------------------------------------------------------

    def blocks(self, blocks: Sequence[Block], fragment: str | None, depth: int) -> list[RenderedBlock]:
        result: list[RenderedBlock] = []
        for block in blocks:
            block_id = block.id or ""
            if isinstance(block, Heading):
                result.append(RenderedHeading(block_id, block.level, self.spans(block.content), fragment))
            elif isinstance(block, Paragraph):
                result.append(RenderedParagraph(block_id, self.spans(block.content), fragment))
            elif isinstance(block, ListBlock):
                items = [self.spans(item) for item in block.items]
                result.append(RenderedList(block_id, items, block.ordered, fragment))
            elif isinstance(block, FragmentInclude):
                included = self.source.fragments.get(block.fragment)
                # Cycles are refused at save time; the depth bound is a second guard.
                if included is None or depth >= MAX_FRAGMENT_DEPTH:
                    continue
                self.fragments_used[included.key] = included.revision
                self._see(included.published_at)
                result += self.blocks(included.blocks, included.key, depth + 1)
        return result


def _fact_data(fact: FactUsed) -> tuple[str, str] | None:
    """(tag, machine-readable value) to wrap a formatted fact in, per HTML's data/time elements."""
    value = fact.value
    if isinstance(value, DateValue):
        return "time", value.value.isoformat()
    if isinstance(value, IntegerValue | YearValue):
        return "data", str(value.value)
    if isinstance(value, DecimalValue):
        return "data", value.value
    return None


def span_html(span: RenderedSpan, facts: Mapping[str, FactUsed]) -> str:
    """One span as HTML; its text is escaped and its link kept only if its scheme is safe."""
    html = escape(span.text, quote=True)
    if span.fact is not None and span.fact in facts:
        wrapper = _fact_data(facts[span.fact])
        if wrapper is not None:
            tag, value = wrapper
            attribute = "datetime" if tag == "time" else "value"
            html = f'<{tag} {attribute}="{escape(value, quote=True)}">{html}</{tag}>'
    for mark in span.marks:
        tag = {"em": "em", "strong": "strong"}[mark]
        html = f"<{tag}>{html}</{tag}>"
    if span.link is not None and SAFE_LINK.match(span.link):
        html = f'<a href="{escape(span.link, quote=True)}">{html}</a>'
    return html


def block_html(block: RenderedBlock, facts: Mapping[str, FactUsed]) -> str:
    """One rendered block as HTML."""
    attrs = f' id="{escape(block.id, quote=True)}"' if block.id else ""
    if isinstance(block, RenderedHeading):
        inner = "".join(span_html(s, facts) for s in block.content)
        return f"<h{block.level}{attrs}>{inner}</h{block.level}>"
    if isinstance(block, RenderedParagraph):
        return f"<p{attrs}>{''.join(span_html(s, facts) for s in block.content)}</p>"
    tag = "ol" if block.ordered else "ul"
    items = "".join(f"<li>{''.join(span_html(s, facts) for s in item)}</li>" for item in block.items)
    return f"<{tag}{attrs}>{items}</{tag}>"


@lru_cache(maxsize=256)
def own_language_name(locale: str) -> str:
    """A locale's name in its own language ('fr' -> 'français', 'en' -> 'English'), from Babel's data."""
    try:
        return Locale.parse(locale, sep="-").get_display_name() or locale
    except (UnknownLocaleError, ValueError):
        return locale


def _lang(words: PageWords, page_lang: str) -> str:
    return "" if words.lang == page_lang else f' lang="{escape(words.lang, quote=True)}"'


def languages_html(languages: Sequence[LanguageLink], current: str, words: PageWords, page_lang: str) -> str:
    """The language switcher: a link per published locale, named in its own language, the current one marked."""
    items = []
    for link in languages:
        tag = escape(link.locale, quote=True)
        href = f' href="{escape(link.url, quote=True)}"' if SAFE_LINK.match(link.url) else ""
        marked = ' aria-current="true"' if link.locale == current else ""
        name = escape(own_language_name(link.locale), quote=True)
        items.append(f'<li><a{href} hreflang="{tag}" lang="{tag}"{marked}>{name}</a></li>')
    label = escape(words.languages, quote=True)
    return (
        f'<nav class="liaison-languages" aria-label="{label}"{_lang(words, page_lang)}><ul>{"".join(items)}</ul></nav>'
    )


def notice_html(text: str, lang: str, page_lang: str) -> str:
    """A note to the reader (the fallback notice) as a paragraph."""
    attrs = "" if lang == page_lang else f' lang="{escape(lang, quote=True)}"'
    return f'<p class="liaison-notice"{attrs}>{escape(text, quote=True)}</p>'


def with_notice(body: str, notice: str) -> str:
    """``body`` (from `body_html`) with ``notice`` (from `notice_html`) first inside the article."""
    opening, _, rest = body.partition("\n")
    return f"{opening}\n{notice}\n{rest}"


def body_html(
    title: str,
    blocks: Sequence[RenderedBlock],
    facts: Mapping[str, FactUsed],
    lang: str,
    words: PageWords | None = None,
    languages: Sequence[LanguageLink] = (),
) -> str:
    """The page body: a title and the blocks, fragment blocks grouped in sections.

    With ``words``: the article is the target of a "top of the page" link at its end, and
    when the page is published in more than one locale, a language switcher comes first.
    """
    top = ' id="top"' if words is not None else ""
    parts = [f'<article lang="{escape(lang, quote=True)}"{top}>']
    if words is not None and len(languages) > 1:
        parts.append(languages_html(languages, lang, words, lang))
    parts.append(f"<h1>{escape(title, quote=True)}</h1>")
    current: str | None = None
    for block in blocks:
        if block.fragment != current:
            if current is not None:
                parts.append("</section>")
            if block.fragment is not None:
                parts.append(f'<section data-fragment="{escape(block.fragment, quote=True)}">')
            current = block.fragment
        parts.append(block_html(block, facts))
    if current is not None:
        parts.append("</section>")
    if words is not None:
        parts.append(
            f'<p class="liaison-top"{_lang(words, lang)}><a href="#top">{escape(words.top, quote=True)}</a></p>'
        )
    parts.append("</article>")
    return "\n".join(parts)


def render(source: RenderInput) -> RenderOutput:
    """Render a published revision for ``source.locale``."""
    renderer = _Renderer(source)
    blocks = renderer.blocks(source.blocks, None, 0)
    facts = renderer.facts_used
    return RenderOutput(
        title=source.title,
        blocks=blocks,
        html=body_html(source.title, blocks, facts, source.locale, source.words, source.languages),
        facts=sorted(facts.values(), key=lambda f: f.key),
        fragments=renderer.fragments_used,
        latest_input=renderer.latest,
    )
