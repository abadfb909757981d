"""The browse screen in real Chromium: a filter and a search replace the table (htmx) and keep the URL."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.screens import save_screen

DELHI = "in-new-delhi"


def test_the_browse_list_with_a_filter_and_a_search(page: Page, console_server: ConsoleServer) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, console_server, console_server.create_token("editor", name="Amélie"))
    page.get_by_role("link", name="Ambassade de France en Inde").click()
    expect(page).to_have_url(f"{console_server.url}/console/sites/{DELHI}")
    seed_page = page.locator("#documents tr[data-document]").filter(
        has=page.locator("code", has_text="internal-security-section")
    )
    expect(seed_page).to_have_count(1)
    expect(page.get_by_test_id("attention")).to_contain_text("0 drafts ahead of live")
    save_screen(page, "site-documents")

    # A filter: htmx replaces the table, the URL follows, the page is not reloaded (the marker survives).
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Status").select_option("draft-ahead")
    expect(page.get_by_test_id("no-documents")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=draft-ahead"))
    page.get_by_label("Status").select_option("published")
    expect(seed_page).to_have_count(1)
    expect(page.locator("#documents")).to_contain_text("Live, revision")

    # A search, as typed (debounced); then one that matches nothing.
    page.get_by_label("Search titles and slugs").fill("SÉCURITÉ")
    expect(page).to_have_url(re.compile(r"q=S%C3%89CURIT%C3%89"))
    expect(seed_page).to_have_count(1)
    page.get_by_label("Search titles and slugs").fill("visas")
    expect(page.get_by_test_id("no-documents")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True

    # The pushed URL is a page of its own: reloaded, it shows the same filters and result.
    page.reload()
    expect(page.get_by_label("Search titles and slugs")).to_have_value("visas")
    expect(page.get_by_label("Status")).to_have_value("published")
    expect(page.get_by_test_id("no-documents")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_label("Status")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls, not the page
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert errors == []
