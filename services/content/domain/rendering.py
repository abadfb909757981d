"""Rendering a published revision: fragments expanded, facts formatted, safe HTML.

HTML is safe by construction: the only way text reaches the output is through
`html.escape`, tags come from a fixed set, and a link target is written only
when its scheme is http, https or mailto.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from html import escape

import msgspec
from babel import Locale

from schemas.blocks import Block, FactSpan, FragmentInclude, Heading, ListBlock, Paragraph, Span
from schemas.delivery import FactUsed, RenderedBlock, RenderedHeading, RenderedList, RenderedParagraph, RenderedSpan
from schemas.facts import DateValue, DecimalValue, EmailValue, IntegerValue, UrlValue, YearValue
from services.content.domain.formatting import format_fact
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


class RenderInput(msgspec.Struct, frozen=True):
    """Everything a render depends on; the render is a pure function of it."""

    locale: str
    fallback_chain: list[str]
    title: str
    blocks: list[Block]
    facts: Mapping[str, Fact]
    """Fact key -> the fact the page's site sees (its own scope first, then global)."""
    fragments: Mapping[str, ResolvedFragment]


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
        self.locale = Locale.parse(source.locale, sep="-")
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


def body_html(title: str, blocks: Sequence[RenderedBlock], facts: Mapping[str, FactUsed], lang: str) -> str:
    """The page body: a title and the blocks, fragment blocks grouped in sections."""
    parts = [f'<article lang="{escape(lang, quote=True)}">', f"<h1>{escape(title, quote=True)}</h1>"]
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
        html=body_html(source.title, blocks, facts, source.locale),
        facts=sorted(facts.values(), key=lambda f: f.key),
        fragments=renderer.fragments_used,
        latest_input=renderer.latest,
    )
