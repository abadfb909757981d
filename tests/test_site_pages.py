"""The site agent's complete pages, indexes and sitemap, with real `liaison serve`, `sync run` and `agent` processes.

The pages are read with an HTML parser (lxml.html) and the sitemap with an XML parser
(lxml.etree), as a browser and a search engine would. Every test ends with the sync suite's
check: the fragment files equal the API's renders and every event is in its stream once.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import lxml.etree
import lxml.html
import pytest
from redis.asyncio import Redis

from services.content.storage.database import Database
from services.content.storage.outbox import OutboxQueries
from services.redis_client import make_redis
from services.sync.agent_state import StateFile
from services.sync.site_template import DEFAULT_FOLDER
from tests.conftest import TokenFactory
from tests.helpers import paragraph, revision, text
from tests.sync_support import (
    Process,
    assert_each_event_once,
    assert_files_match_api,
    free_port,
    sync_env,
    wait_http,
    wait_until,
)
from tests.sync_support import test_redis_url as shared_redis_url

SITE = "in-new-delhi"
SLUG = "internal-security-section"
WEBSITE = "http://127.0.0.1:8080"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "xhtml": "http://www.w3.org/1999/xhtml"}


@dataclass
class Pipeline:
    """A content server, a relay and site agents on the test's database; all killed at the end."""

    tmp: Path
    database_url: str
    redis_url: str
    port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = sync_env(self.database_url, self.redis_url, self.port)
        self.api = f"http://127.0.0.1:{self.port}"

    def start(self, args: list[str], log: str) -> Process:
        """Start a liaison command."""
        process = Process(args, self.env, self.tmp / log)
        self.processes.append(process)
        return process

    def serve_and_relay(self) -> None:
        """The content API (waited for) and the relay."""
        self.start(["serve"], "serve.log")
        wait_http(self.api + "/health/live")
        self.start(["sync", "run"], "relay.log")

    def agent(self, site: str, template: Path | None = None) -> tuple[Path, Process]:
        """Start a site agent writing into ``<tmp>/sites/<site>``."""
        out = self.tmp / "sites" / site
        args = ["agent", "--site", site, "--out", str(out)]
        if template is not None:
            args += ["--template", str(template)]
        return out, self.start(args, f"agent-{site}.log")

    async def converged(self, db: Database, out: Path, site: str) -> None:
        """Wait until the agent applied every event of ``site`` and its files equal the API's renders."""

        async def applied() -> bool:
            async with db.reading() as repo:
                backlog, _ = await OutboxQueries.of(repo).backlog()
                head = (await OutboxQueries.of(repo).site_heads()).get(site, 0)
            return backlog == 0 and StateFile(out, site).load().last_sequence >= head

        await wait_until(applied)

        def matches() -> bool:
            try:
                assert_files_match_api(out, self.api, site)
            except (AssertionError, OSError, httpx.HTTPError):
                return False
            return True

        await wait_until(matches)

    async def final_check(self, db: Database, redis: Redis, out: Path, site: str) -> None:
        """The sync suite's check: the fragment files are the API's renders, and each event is in its stream once."""
        await self.converged(db, out, site)
        assert_files_match_api(out, self.api, site)
        await assert_each_event_once(db, redis, self.env["LIAISON_STREAM_PREFIX"])


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the shared test Redis."""
    client = make_redis(shared_redis_url(), 5.0)
    yield client
    await client.aclose()


@pytest.fixture
async def pipeline(tmp_path: Path, database_url: str, seeded: Database, redis: Redis) -> AsyncIterator[Pipeline]:
    """The processes of one test, on the seeded database; its Redis keys deleted at the end."""
    started = Pipeline(tmp_path, database_url, shared_redis_url())
    try:
        yield started
    finally:
        for process in started.processes:
            process.close()
        prefix = started.env["LIAISON_STREAM_PREFIX"]
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)


@pytest.fixture
async def admin_api(pipeline: Pipeline, make_token: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client of the pipeline's API."""
    headers = await make_token("admin", name="site-pages-tests")
    async with httpx.AsyncClient(base_url=pipeline.api, headers=headers, timeout=30) as client:
        yield client


async def call(client: httpx.AsyncClient, method: str, url: str, expect: int = 200, **kwargs: Any) -> Any:
    """A request that must answer ``expect``; its JSON."""
    response = await client.request(method, url, **kwargs)
    assert response.status_code == expect, (method, url, response.text)
    return response.json()


async def new_page(client: httpx.AsyncClient, site: str, slug: str, titles: dict[str, str], source: str) -> int:
    """A page published in every locale of ``titles`` (the source first)."""
    document = await call(
        client, "POST", "/v1/documents", 201, json={"kind": "page", "site": site, "slug": slug, "source_locale": source}
    )
    for locale, title in sorted(titles.items(), key=lambda item: item[0] != source):
        body = revision(title, paragraph(text(f"{title}: " + "words of the first paragraph " * 12)))
        if locale != source:
            body["source_revision"] = 1
        await call(client, "POST", f"/v1/documents/{document['id']}/variants/{locale}/revisions", 201, json=body)
        await call(client, "POST", f"/v1/documents/{document['id']}/variants/{locale}/publish", json={"revision": 1})
    document_id: int = document["id"]
    return document_id


def page(path: Path) -> lxml.html.HtmlElement:
    """A complete page, parsed."""
    return lxml.html.document_fromstring(path.read_bytes())


def head_links(document: lxml.html.HtmlElement, rel: str) -> dict[str, str]:
    """``hreflang`` -> ``href`` of the head's ``<link rel=alternate>`` (or ``{"": href}`` for other rels)."""
    return {
        link.get("hreflang", ""): link.get("href") for link in document.head.findall("link") if link.get("rel") == rel
    }


def sitemap(out: Path) -> dict[str, dict[str, str]]:
    """``loc`` -> its alternates (``hreflang`` -> ``href``), read with an XML parser."""
    root = lxml.etree.fromstring((out / "sitemap.xml").read_bytes())
    assert root.tag == f"{{{NS['s']}}}urlset"
    return {
        url.findtext("s:loc", namespaces=NS): {
            link.get("hreflang"): link.get("href") for link in url.findall("xhtml:link[@rel='alternate']", NS)
        }
        for url in root.findall("s:url", NS)
    }


def index_links(out: Path, locale: str) -> dict[str, str]:
    """Title -> link of a locale's index page."""
    document = page(out / locale / "index.html")
    return {anchor.text_content(): anchor.get("href") for anchor in document.xpath("//main//a")}


# -- the pages --------------------------------------------------------------------------------


async def test_complete_pages_have_lang_dir_title_canonical_hreflang_and_the_website_links(
    pipeline: Pipeline, db: Database, redis: Redis
) -> None:
    pipeline.serve_and_relay()
    out, _ = pipeline.agent(SITE)
    await pipeline.converged(db, out, SITE)
    for locale in ("fr", "en"):
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{pipeline.api}/v1/sites/{SITE}/pages/{SLUG}", params={"locale": locale})
        render = answer.json()
        path = out / locale / f"{SLUG}.html"
        raw = path.read_text()
        assert raw.startswith("<!doctype html>")
        document = page(path)
        assert document.get("lang") == locale
        assert document.get("dir") == "ltr"
        assert document.head.find("meta[@charset]").get("charset") == "utf-8"
        assert "width=device-width" in document.head.find("meta[@name='viewport']").get("content")
        assert document.findtext(".//title") == render["title"]
        assert head_links(document, "canonical") == {"": f"{WEBSITE}/{locale}/{SLUG}.html"}
        hreflang = head_links(document, "alternate")
        assert hreflang == {
            "fr": f"{WEBSITE}/fr/{SLUG}.html",
            "en": f"{WEBSITE}/en/{SLUG}.html",
            "x-default": f"{WEBSITE}/fr/{SLUG}.html",  # the site's default locale
        }
        # Every link of the page goes to the website or inside the page, none to the API.
        hrefs = [element.get("href") for element in document.iter("a", "link")]
        assert not [href for href in hrefs if pipeline.api in href]
        switcher = document.xpath("//nav[@class='liaison-languages']//a")
        assert {a.get("hreflang"): a.get("href") for a in switcher} == {
            "fr": f"{WEBSITE}/fr/{SLUG}.html",
            "en": f"{WEBSITE}/en/{SLUG}.html",
        }
        described = document.head.find("meta[@name='description']").get("content")
        assert 40 < len(described) <= 160
        assert "<" not in described
        assert described.rstrip("…").split()[0] in render["html"]
        # The content is the render's HTML as it is.
        assert render["html"] in raw
        stylesheet = head_links(document, "stylesheet")[""]
        assert (path.parent / stylesheet).resolve() == (out / "liaison.css").resolve()
        assert (out / "liaison.css").read_bytes() == (DEFAULT_FOLDER / "liaison.css").read_bytes()
        assert index_links(out, locale) == {render["title"]: f"{SLUG}.html"}
    urls = sitemap(out)
    assert set(urls) == {f"{WEBSITE}/fr/{SLUG}.html", f"{WEBSITE}/en/{SLUG}.html"}
    for alternates in urls.values():
        assert alternates == {
            "fr": f"{WEBSITE}/fr/{SLUG}.html",
            "en": f"{WEBSITE}/en/{SLUG}.html",
            "x-default": f"{WEBSITE}/fr/{SLUG}.html",
        }
    await pipeline.final_check(db, redis, out, SITE)


async def test_a_right_to_left_locale_gets_dir_rtl_and_a_title_cannot_inject_markup(
    pipeline: Pipeline, db: Database, redis: Redis, admin_api: httpx.AsyncClient
) -> None:
    pipeline.serve_and_relay()
    site = {
        "key": "eg-cairo",
        "name": "Ambassade au Caire",
        "locales": ["ar", "fr"],
        "default_locale": "fr",
        "website_url": "https://eg.example.org/",
        "page_url_pattern": "/{locale}/{slug}/",
    }
    await call(admin_api, "POST", "/v1/sites", 201, json=site)
    hostile = '<script>alert("x")</script> Visas & "quotes"'
    await new_page(admin_api, "eg-cairo", "visas", {"fr": hostile, "ar": "التأشيرات"}, "fr")
    out, _ = pipeline.agent("eg-cairo")
    await pipeline.converged(db, out, "eg-cairo")
    arabic = page(out / "ar" / "visas.html")
    assert (arabic.get("lang"), arabic.get("dir")) == ("ar", "rtl")
    assert head_links(arabic, "alternate") == {
        "ar": "https://eg.example.org/ar/visas/",
        "fr": "https://eg.example.org/fr/visas/",
        "x-default": "https://eg.example.org/fr/visas/",
    }
    french = page(out / "fr" / "visas.html")
    assert french.get("dir") == "ltr"
    assert french.findtext(".//title") == hostile
    assert french.xpath("//h1")[0].text_content() == hostile
    assert not list(french.iter("script")), "the title became markup"
    assert hostile.split(":")[0] not in (out / "fr" / "visas.html").read_text().replace("&lt;", "")
    assert index_links(out, "fr") == {hostile: "visas.html"}
    assert sitemap(out)["https://eg.example.org/ar/visas/"]["x-default"] == "https://eg.example.org/fr/visas/"
    await pipeline.final_check(db, redis, out, "eg-cairo")


async def test_publishing_and_unpublishing_a_locale_updates_its_other_locales_the_index_and_the_sitemap(
    pipeline: Pipeline, db: Database, redis: Redis, admin_api: httpx.AsyncClient
) -> None:
    pipeline.serve_and_relay()
    out, _ = pipeline.agent(SITE)
    document_id = await new_page(admin_api, SITE, "passports", {"fr": "Passeports", "en": "Passports"}, "fr")
    fr_page, en_page = out / "fr" / "passports.html", out / "en" / "passports.html"
    await pipeline.converged(db, out, SITE)
    assert set(head_links(page(fr_page), "alternate")) == {"fr", "en", "x-default"}
    assert index_links(out, "en") == {"Internal Security section": f"{SLUG}.html", "Passports": "passports.html"}
    assert f"{WEBSITE}/en/passports.html" in sitemap(out)

    await call(admin_api, "POST", f"/v1/documents/{document_id}/variants/en/unpublish")
    await wait_until(lambda: not en_page.exists())
    await pipeline.converged(db, out, SITE)
    assert head_links(page(fr_page), "alternate") == {
        "fr": f"{WEBSITE}/fr/passports.html",
        "x-default": f"{WEBSITE}/fr/passports.html",
    }
    assert "Passports" not in index_links(out, "en")
    urls = sitemap(out)
    assert f"{WEBSITE}/en/passports.html" not in urls
    assert urls[f"{WEBSITE}/fr/passports.html"] == {
        "fr": f"{WEBSITE}/fr/passports.html",
        "x-default": f"{WEBSITE}/fr/passports.html",
    }

    # The website moves: every page is rewritten with the new URLs.
    website = {"website_url": "https://in.example.org/", "page_url_pattern": "/{slug}.{locale}.html"}
    await call(admin_api, "PUT", f"/v1/sites/{SITE}/website", json=website)
    await wait_until(lambda: head_links(page(fr_page), "canonical") == {"": "https://in.example.org/passports.fr.html"})
    await pipeline.converged(db, out, SITE)
    assert set(sitemap(out)) == {
        f"https://in.example.org/{SLUG}.fr.html",
        f"https://in.example.org/{SLUG}.en.html",
        "https://in.example.org/passports.fr.html",
    }

    await call(admin_api, "POST", f"/v1/documents/{document_id}/variants/fr/unpublish")
    await wait_until(lambda: not fr_page.exists())
    await pipeline.converged(db, out, SITE)
    assert set(sitemap(out)) == {f"https://in.example.org/{SLUG}.fr.html", f"https://in.example.org/{SLUG}.en.html"}
    assert "Passeports" not in index_links(out, "fr")
    await pipeline.final_check(db, redis, out, SITE)


# -- the template -------------------------------------------------------------------------------


@contextlib.contextmanager
def template_copy(folder: Path, marker: str) -> Iterator[Path]:
    """The default template copied to ``folder``, its page marked with ``marker`` in a meta element."""
    shutil.copytree(DEFAULT_FOLDER, folder, dirs_exist_ok=True)
    mark(folder, marker)
    yield folder


def mark(folder: Path, marker: str) -> None:
    """Put ``<meta name="generator" content=marker>`` in the template's page."""
    source = (DEFAULT_FOLDER / "page.html").read_text()
    (folder / "page.html").write_text(source.replace("<head>", f'<head>\n<meta name="generator" content="{marker}">'))


def generator(path: Path) -> str | None:
    """The page's generator meta."""
    found = page(path).head.find("meta[@name='generator']")
    return None if found is None else found.get("content")


async def test_a_website_template_is_used_and_a_changed_template_rewrites_every_page_at_start(
    pipeline: Pipeline, db: Database, redis: Redis, tmp_path: Path
) -> None:
    pipeline.serve_and_relay()
    pages = [tmp_path / "sites" / SITE / locale / f"{SLUG}.html" for locale in ("fr", "en")]
    with template_copy(tmp_path / "template", "embassy-theme 1") as template:
        out, agent = pipeline.agent(SITE, template)
        await pipeline.converged(db, out, SITE)
        await wait_until(lambda: all(path.exists() for path in pages))
        assert [generator(path) for path in pages] == ["embassy-theme 1"] * 2
        first_hash = StateFile(out, SITE).load().template_hash
        assert agent.terminate() == 0
        async with db.reading() as repo:
            heads = await OutboxQueries.of(repo).site_heads()

        mark(template, "embassy-theme 2")
        out, agent = pipeline.agent(SITE, template)
        # No event: the agent sees another template in its state and rewrites from its stored renders.
        await wait_until(lambda: [generator(path) for path in pages] == ["embassy-theme 2"] * 2)
        # The state names the new template once the pages are on disk (saved right after them).
        await wait_until(lambda: StateFile(out, SITE).load().template_hash not in ("", first_hash))
        async with db.reading() as repo:
            assert await OutboxQueries.of(repo).site_heads() == heads
        assert "rewrote 2 page(s)" in agent.output()
        assert agent.terminate() == 0

    # Back on the default template: rewritten again, without the mark.
    out, agent = pipeline.agent(SITE)
    await wait_until(lambda: [generator(path) for path in pages] == [None, None])
    await pipeline.final_check(db, redis, out, SITE)


async def test_a_template_folder_without_its_page_is_refused(pipeline: Pipeline, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _, agent = pipeline.agent(SITE, tmp_path / "empty")
    assert agent.popen.wait(timeout=60) != 0
    assert "page.html" in agent.output()
