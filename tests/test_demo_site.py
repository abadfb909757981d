"""The demo embassy website of `liaison dev`: the agent's folder over HTTP, read-only, never its dot-files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import lxml.html
import pytest

from services.content.storage.database import Database
from tests.conftest import TokenFactory
from tests.dev_support import DevUrls, running_dev, wait_for_page
from tests.helpers import paragraph, revision, text
from tests.sync_support import PATIENCE

SLUG = "internal-security-section"


@pytest.fixture
def dev(tmp_path: Path, database_url: str, seeded: Database) -> Iterator[DevUrls]:
    """`liaison dev` on the seeded database."""
    with running_dev(tmp_path, database_url) as urls:
        yield urls


def assert_safe_headers(response: httpx.Response) -> None:
    """What every answer of the demo website carries."""
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_demo_website_serves_the_french_page_with_links_to_itself(dev: DevUrls) -> None:
    home = httpx.get(dev.site + "/")
    assert home.status_code == 302
    assert home.headers["location"] == "/fr/index.html"
    assert_safe_headers(home)
    index = httpx.get(dev.site + "/fr/index.html")
    assert index.status_code == 200
    assert f'href="{SLUG}.html"' in index.text

    french = wait_for_page(f"{dev.site}/fr/{SLUG}.html")
    assert french.headers["content-type"] == "text/html; charset=utf-8"
    assert_safe_headers(french)
    document = lxml.html.document_fromstring(french.content)
    assert document.get("lang") == "fr"
    assert document.findtext(".//title") == "Service de sécurité intérieure"
    # The demo site moved to this test's port: its pages link here, not to port 8080 nor to the API.
    alternates = {link.get("hreflang"): link.get("href") for link in document.xpath("//head/link[@rel='alternate']")}
    assert alternates == {
        "fr": f"{dev.site}/fr/{SLUG}.html",
        "en": f"{dev.site}/en/{SLUG}.html",
        "x-default": f"{dev.site}/fr/{SLUG}.html",
    }
    english = httpx.get(alternates["en"])
    assert english.status_code == 200
    assert 'lang="en"' in english.text
    stylesheet = httpx.get(dev.site + "/liaison.css")
    assert stylesheet.headers["content-type"] == "text/css; charset=utf-8"
    sitemap = httpx.get(dev.site + "/sitemap.xml")
    assert sitemap.status_code == 200
    assert sitemap.headers["content-type"].split(";")[0] in ("application/xml", "text/xml")
    assert f"<loc>{dev.site}/fr/{SLUG}.html</loc>" in sitemap.text
    fragment = httpx.get(f"{dev.site}/{SLUG}.fr.json")
    assert fragment.headers["content-type"] == "application/json; charset=utf-8"


def test_the_demo_website_never_serves_dot_files_the_state_or_temporaries(dev: DevUrls) -> None:
    assert (dev.out / ".liaison-agent.json").is_file()
    (dev.out / "fr" / ".visas.html.4242.tmp").write_text("half a page")
    (dev.out / ".env").write_text("SECRET=1")
    refused = [
        "/.liaison-agent.json",
        "/%2eliaison-agent.json",
        "/fr/.visas.html.4242.tmp",
        "/.env",
        "/fr/../.liaison-agent.json",
        "/fr/%2e%2e/.liaison-agent.json",
        "/..%2f.liaison-agent.json",
        "/fr/",
    ]
    for path in refused:
        response = httpx.get(dev.site + path)
        assert response.status_code in (403, 404), (path, response.status_code)
        assert "last_sequence" not in response.text, path
        assert "SECRET" not in response.text, path
        assert_safe_headers(response)
    assert httpx.post(f"{dev.site}/fr/{SLUG}.html").status_code == 405


async def test_a_change_published_with_the_api_shows_after_a_reload(dev: DevUrls, make_token: TokenFactory) -> None:
    headers = await make_token("editor", name="demo-site-test")
    async with httpx.AsyncClient(base_url=dev.api, headers=headers, timeout=30) as api:
        listing = (await api.get("/v1/sites/in-new-delhi/pages")).json()
        document_id = next(item["document_id"] for item in listing["items"] if item["slug"] == SLUG)
        body = revision("Internal Security, updated", paragraph(text("A new first paragraph.")))
        body.update(base_revision=1, source_revision=1)
        created = await api.post(f"/v1/documents/{document_id}/variants/en/revisions", json=body)
        assert created.status_code == 201, created.text
        published = await api.post(
            f"/v1/documents/{document_id}/variants/en/publish", json={"revision": created.json()["number"]}
        )
        assert published.status_code == 200, published.text
    deadline = time.monotonic() + PATIENCE
    async with httpx.AsyncClient() as site:
        while True:
            page = await site.get(f"{dev.site}/en/{SLUG}.html")
            if "<title>Internal Security, updated</title>" in page.text:
                break
            assert time.monotonic() < deadline, page.text[:500]
            time.sleep(0.05)  # noqa: ASYNC251 - the test's own poll, nothing else runs on this loop
    assert 'content="A new first paragraph."' in page.text
