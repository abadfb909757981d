"""History and review in real Chromium: compare two revisions, publish with its confirmation, then the public API."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.screens import save_screen

DELHI = "in-new-delhi"
SLUG = "internal-security-section"


def api(server: ConsoleServer, secret: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {secret}"}
    response = httpx.request(method, f"{server.url}{path}", headers=headers, json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json()


def test_compare_two_revisions_then_publish_with_the_confirmation(page: Page, console_server: ConsoleServer) -> None:
    admin = console_server.create_token("admin", name="setup")
    listed = api(console_server, admin, "GET", f"/v1/documents?site={DELHI}&kind=page")
    document = next(item["id"] for item in listed["items"] if item["slug"] == SLUG)
    first = api(console_server, admin, "GET", f"/v1/documents/{document}/variants/fr/revisions/1")
    blocks = json.loads(json.dumps(first["blocks"]))
    heading = next(block for block in blocks if block["type"] == "heading")
    heading["content"] = [{"type": "text", "text": "Le service de sécurité intérieure, nouvelle adresse"}]
    api(
        console_server,
        admin,
        "POST",
        f"/v1/documents/{document}/variants/fr/revisions",
        {"title": first["title"], "blocks": blocks, "base_revision": 1, "message": "Nouvelle adresse"},
    )

    sign_in(page, console_server, console_server.create_token("editor", name="Amélie"))
    page.goto(f"{console_server.url}/console/documents/{document}/fr/history")
    expect(page.get_by_test_id("variant-state")).to_contain_text("Head: revision 2.")
    timeline = page.get_by_role("table", name="Timeline")
    expect(timeline.locator("tr[data-kind=publish]")).to_have_count(1)
    expect(timeline.locator("tr[data-kind=revision][data-revision='2']")).to_contain_text("Nouvelle adresse")

    page.get_by_label("From revision").select_option("1")
    page.get_by_label("To revision").select_option("2")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_test_id("diff")
    expect(diff.get_by_role("heading")).to_have_text("Changes from revision 1 to revision 2")
    expect(diff.locator("[data-change=changed]")).to_contain_text("Changed heading at position")
    expect(diff.locator("[data-change=changed] ins").last).to_contain_text("adresse")
    expect(diff.locator("del").first).to_be_visible()
    save_screen(page, "history-diff")

    page.get_by_role("link", name="Publish revision 2…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish revision 2 in French?")
    expect(page.get_by_test_id("urls")).to_contain_text("2 public addresses will change.")
    save_screen(page, "publish-confirmation")
    page.get_by_role("button", name="Publish revision 2").click()
    expect(page.get_by_role("status")).to_have_text("Revision 2 is live.")

    public = httpx.get(f"{console_server.url}/v1/sites/{DELHI}/pages/{SLUG}", params={"locale": "fr"}, timeout=30)
    assert public.status_code == 200
    assert public.json()["revision"] == 2
    assert "nouvelle adresse" in public.text

    # The shared fragment's confirmation counts the pages of both demo sites it re-renders.
    fragments = api(console_server, admin, "GET", "/v1/documents?kind=fragment")
    fragment = fragments["items"][0]["id"]
    page.goto(f"{console_server.url}/console/documents/{fragment}/fr/publish")
    expect(page.get_by_test_id("fanout")).to_contain_text("2 live pages on 2 sites include this fragment")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("button", name=re.compile("Publish revision"))).to_be_visible()
