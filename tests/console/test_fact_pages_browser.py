"""The facts screen in real Chromium: an edit shows its fan-out and the new value reaches both sites."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.screens import save_screen

SITES = ("in-new-delhi", "np-kathmandu")
SLUG = "internal-security-section"


def public_render(server: ConsoleServer, site: str, locale: str) -> str:
    response = httpx.get(f"{server.url}/v1/sites/{site}/pages/{SLUG}", params={"locale": locale}, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def test_a_fact_edit_shows_its_fan_out_count_and_the_new_value_reaches_both_sites_renders(
    page: Page, console_server: ConsoleServer
) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    for site in SITES:
        assert "4,321" not in public_render(console_server, site, "en")
    sign_in(page, console_server, console_server.create_token("editor", name="Amélie"))

    page.get_by_role("link", name="Facts", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Global facts")
    row = page.locator('tr[data-fact="network.embassy_count"]')
    expect(row.locator('td[data-locale="fr"]')).to_have_text("78")
    save_screen(page, "facts")
    row.get_by_role("link", name="Edit network.embassy_count").click()

    page.get_by_label("Value").fill("4321")
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_test_id("fanout-summary")).to_have_text("This will re-render 2 pages (4 renders) on 2 sites:")
    expect(page.get_by_test_id("new-en")).to_have_text("4,321")
    expect(page.get_by_test_id("new-fr")).to_have_text("4\u202f321")
    for site in SITES:
        expect(page.get_by_test_id("fanout").locator(f'li[data-site="{site}"]')).to_contain_text(SLUG)
    save_screen(page, "fact-confirm")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_test_id("saved")).to_contain_text("network.embassy_count is now at version 2")
    expect(row.locator('td[data-locale="en"]')).to_have_text("4,321")
    deadline = time.monotonic() + 20
    pending = set(SITES)
    while pending and time.monotonic() < deadline:
        pending = {site for site in pending if "4,321" not in public_render(console_server, site, "en")}
    assert not pending, f"the new value did not reach {pending}"
    assert "4\u202f321" in public_render(console_server, SITES[0], "fr")
    assert errors == []
