"""The demo embassy website in Chromium: read the French page, switch to English, see a published change after a reload.

`liaison dev` (what `make run` starts) runs on free ports on a seeded database; the browser
reads the demo website it serves from the demo agent's folder, as a new user does.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from playwright.sync_api import Page

from tests.dev_support import DevUrls, running_dev
from tests.sync_support import LIAISON, PATIENCE, sync_env, test_redis_url

SLUG = "internal-security-section"
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture
def dev(tmp_path: Path, seeded_database_url: str) -> Iterator[DevUrls]:
    """`liaison dev` with its demo website, on this test's seeded database."""
    with running_dev(tmp_path, seeded_database_url) as urls:
        yield urls


def editor_token(database_url: str) -> str:
    """An editor's token, made with the CLI as an administrator does."""
    env = sync_env(database_url, test_redis_url(), 0)
    env.pop("LIAISON_PORT")
    done = subprocess.run(
        [*LIAISON, "token", "create", "--name", "browser-editor", "--role", "editor"],
        env={**env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def hreflangs(page: Page) -> dict[str, str]:
    """The page's ``<link rel="alternate" hreflang>`` links: hreflang → href."""
    links = page.locator('head link[rel="alternate"][hreflang]')
    return {
        links.nth(i).get_attribute("hreflang") or "": links.nth(i).get_attribute("href") or ""
        for i in range(links.count())
    }


def publish_new_french_title(api: str, token: str, title: str) -> None:
    """Write a French revision with a new title through the API and publish it."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        listing = http.get("/v1/sites/in-new-delhi/pages").raise_for_status().json()
        document_id = next(item["document_id"] for item in listing["items"] if item["slug"] == SLUG)
        variant = f"/v1/documents/{document_id}/variants/fr"
        head = http.get(f"{variant}/revisions").raise_for_status().json()["items"][0]["number"]
        current = http.get(f"{variant}/revisions/{head}").raise_for_status().json()
        written = http.post(
            f"{variant}/revisions",
            json={"title": title, "blocks": current["blocks"], "base_revision": head, "message": "new title"},
        ).raise_for_status()
        http.post(f"{variant}/publish", json={"revision": written.json()["number"]}).raise_for_status()


def test_a_reader_reads_the_french_page_switches_to_english_and_sees_a_published_change(
    dev: DevUrls, seeded_database_url: str, page: Page
) -> None:
    """The demo website in a browser: French page, hreflang, the switcher, a change after a reload, the sitemap."""
    page.goto(dev.site + "/")
    assert page.url == f"{dev.site}/fr/index.html"
    page.locator(f'main a[href$="{SLUG}.html"]').first.click()
    page.wait_for_url(f"{dev.site}/fr/{SLUG}.html")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator('link[rel="canonical"]').get_attribute("href") == f"{dev.site}/fr/{SLUG}.html"
    assert hreflangs(page) == {
        "fr": f"{dev.site}/fr/{SLUG}.html",
        "en": f"{dev.site}/en/{SLUG}.html",
        "x-default": f"{dev.site}/fr/{SLUG}.html",
    }

    page.locator("nav.liaison-languages a[hreflang='en'][href]").click()
    page.wait_for_url(f"{dev.site}/en/{SLUG}.html")
    assert page.locator("html").get_attribute("lang") == "en"
    page.go_back()
    page.wait_for_url(f"{dev.site}/fr/{SLUG}.html")

    title = "Section de sécurité intérieure — mise à jour"
    publish_new_french_title(dev.api, editor_token(seeded_database_url), title)
    deadline = time.monotonic() + PATIENCE
    while page.title() != title:
        assert time.monotonic() < deadline, f"the French page still has the title {page.title()!r}"
        page.reload()
    assert page.locator("html").get_attribute("lang") == "fr"

    sitemap = etree.fromstring(httpx.get(dev.site + "/sitemap.xml", timeout=10).content)
    entries = {
        url.findtext("s:loc", namespaces=SITEMAP): {
            link.get("hreflang"): link.get("href") for link in url.findall("x:link", namespaces=SITEMAP)
        }
        for url in sitemap.findall("s:url", namespaces=SITEMAP)
    }
    assert entries[f"{dev.site}/fr/{SLUG}.html"] == {
        "fr": f"{dev.site}/fr/{SLUG}.html",
        "en": f"{dev.site}/en/{SLUG}.html",
        "x-default": f"{dev.site}/fr/{SLUG}.html",
    }
