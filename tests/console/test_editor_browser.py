"""The editor in real Chromium against a real ``liaison serve``: write a page with marks, a link and a fact, preview
it in both locales, publish it; and two editors on one page, the second re-applying after the conflict view.

The demo agent's file of a published page is the sync tests' subject (tests/test_sync_agent.py); here the public
render the agent copies is checked instead of running an agent beside the browser.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Response, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.screens import save_screen

SEED = "internal-security-section"
SLOW = 20_000
"""Milliseconds to wait for a preview or a save on a shared, busy machine."""


def watch_errors(page: Page) -> list[str]:
    """Collect the page's script errors and CSP refusals (a test ends by asserting there were none)."""
    errors: list[str] = []

    def seen(text: str) -> None:
        if "status of 409" in text:  # the conflict view is a 409 page on purpose; Chromium logs its status
            return
        if text.startswith("htmx:afterRequest"):
            # htmx also logs a preview request that a reload or a save aborted (no answer at all, on a
            # busy machine); a preview the server refused is caught below from its response instead.
            return
        errors.append(text)

    def answered(response: Response) -> None:
        if response.url.endswith("/preview") and response.status >= 400:
            errors.append(f"preview answered {response.status}")

    page.on("console", lambda message: seen(message.text) if message.type == "error" else None)
    page.on("response", answered)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def api(server: ConsoleServer, secret: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, f"{server.url}{path}", headers={"Authorization": f"Bearer {secret}"}, timeout=30, **kwargs
    )


def seed_page_id(server: ConsoleServer, secret: str) -> int:
    found = api(server, secret, "GET", "/v1/documents", params={"site": "in-new-delhi", "q": SEED}).json()
    return int(next(item["id"] for item in found["items"] if item["slug"] == SEED))


def test_write_a_page_with_strong_text_a_link_and_a_fact_preview_it_in_both_locales_and_publish_it(
    page: Page, console_server: ConsoleServer
) -> None:
    errors = watch_errors(page)
    secret = console_server.create_token("editor", name="Amélie")
    sign_in(page, console_server, secret)

    page.locator('[data-site="in-new-delhi"]').get_by_role("link", name="New page or fragment").click()
    page.get_by_label("Address (slug) of the page, or key of the fragment").fill("visas")
    page.get_by_role("button", name="Create and edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit visas (French)")

    page.get_by_label("Title", exact=True).fill("Visas")
    page.get_by_label("New block").select_option("heading")
    page.get_by_role("button", name="Add block").click()
    page.keyboard.type("Demander un visa")
    page.get_by_label("New block").select_option("paragraph")
    page.get_by_role("button", name="Add block").click()
    paragraph = page.get_by_role("textbox", name="Paragraph text")
    expect(paragraph).to_be_focused()
    page.keyboard.type("Les demandes sont ")
    page.keyboard.press("Control+B")
    page.keyboard.type("gratuites")
    page.keyboard.press("Control+B")
    page.keyboard.type(". Lisez le guide")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Control+K")
    expect(page.get_by_label("Link address")).to_be_focused()
    page.get_by_label("Link address").fill("javascript:alert(1)")
    page.keyboard.press("Enter")
    expect(page.locator("#editor-problem")).to_contain_text("must start with http://, https:// or mailto:")
    page.get_by_label("Link address").fill("https://france-visas.gouv.fr/")
    page.get_by_role("button", name="Link", exact=True).click()
    paragraph.press("Control+End")
    page.keyboard.type(". Le réseau existe depuis le ")
    page.get_by_label("Fact", exact=True).select_option("dci.established_on")
    page.get_by_role("button", name="Insert fact").click()
    chip = paragraph.locator('[data-fact-key="dci.established_on"]')
    expect(chip).to_have_attribute("contenteditable", "false")
    expect(chip).to_have_text("1er septembre 2010")  # the picker's value, in the variant's locale
    expect(paragraph.locator("b, strong")).to_have_text("gratuites")
    expect(paragraph.locator('a[href="https://france-visas.gouv.fr/"]')).to_have_text("guide")

    # Blocks move by keyboard, the focus staying in the moved block's text.
    paragraph.press("Alt+ArrowUp")
    expect(page.locator("#blocks > li").first).to_have_attribute("data-type", "paragraph")
    expect(paragraph).to_be_focused()
    paragraph.press("Alt+ArrowDown")
    expect(page.locator("#blocks > li").first).to_have_attribute("data-type", "heading")

    preview = page.get_by_test_id("preview")
    expect(preview.locator("article")).to_have_attribute("lang", "fr", timeout=SLOW)
    expect(preview.locator("strong")).to_have_text("gratuites", timeout=SLOW)
    expect(preview.locator("time")).to_have_text("1er septembre 2010", timeout=SLOW)
    page.get_by_label("Show in").select_option("en")
    expect(preview.locator("article")).to_have_attribute("lang", "en", timeout=SLOW)
    expect(preview.locator("time")).to_have_text("September 1, 2010", timeout=SLOW)
    save_screen(page, "editor")
    editor_box = page.locator(".editor-pane").bounding_box()
    preview_box = page.locator(".preview-pane").bounding_box()
    assert editor_box
    assert preview_box
    assert preview_box["x"] > editor_box["x"] + editor_box["width"] - 1
    page.set_viewport_size({"width": 390, "height": 800})
    editor_box = page.locator(".editor-pane").bounding_box()
    preview_box = page.locator(".preview-pane").bounding_box()
    assert editor_box
    assert preview_box
    assert preview_box["y"] >= editor_box["y"] + editor_box["height"] - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("saved")).to_have_text("Saved as revision 1.")
    document = int(page.url.split("/")[5])

    # Publishing is the history screen's (another branch): here through the API, with the same token.
    published = api(
        console_server, secret, "POST", f"/v1/documents/{document}/variants/fr/publish", json={"revision": 1}
    )
    assert published.status_code == 200, published.text
    public = httpx.get(f"{console_server.url}/v1/sites/in-new-delhi/pages/visas", params={"locale": "fr"}, timeout=30)
    assert public.status_code == 200, public.text
    body = public.json()["html"]
    assert "<strong>gratuites</strong>" in body
    assert '<a href="https://france-visas.gouv.fr/">guide</a>' in body
    assert "1er septembre 2010" in body
    assert "<h2" in body
    assert "Demander un visa" in body
    assert errors == []


def test_two_editors_on_one_page_the_second_sees_the_conflict_and_saves_after_re_applying(
    browser: Browser, console_server: ConsoleServer
) -> None:
    secret_a = console_server.create_token("editor", name="Amélie")
    secret_b = console_server.create_token("editor", name="Bruno")
    document = seed_page_id(console_server, secret_a)
    editors = []
    for secret in (secret_a, secret_b):
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        tab = context.new_page()
        sign_in(tab, console_server, secret)
        tab.goto(f"{console_server.url}/console/documents/{document}/fr/edit")
        editors.append(tab)
    first, second = editors
    errors = watch_errors(second)

    heading = first.locator('#blocks > [data-type="heading"]').first
    heading.get_by_role("textbox").press("Control+End")
    first.keyboard.type(" (édité par Amélie)")
    first.get_by_role("button", name="Save", exact=True).click()
    expect(first.get_by_test_id("saved")).to_be_visible()

    # editor.js sent back every block Amélie did not touch as it came: the diff names only the heading.
    history = api(console_server, secret_a, "GET", f"/v1/documents/{document}/variants/fr/revisions").json()
    saved = history["items"][0]["number"]
    changes = api(
        console_server,
        secret_a,
        "GET",
        f"/v1/documents/{document}/variants/fr/diff",
        params={"from": saved - 1, "to": saved},
    ).json()
    assert [(change["block_id"], change["change"]) for change in changes["blocks"]] == [
        (heading.get_attribute("data-block-id"), "changed")
    ]

    last = second.locator('#blocks > [data-type="paragraph"]').last
    last_id = last.get_attribute("data-block-id")
    last.get_by_role("textbox").press("Control+End")
    second.keyboard.type(" Ajout de Bruno.")
    second.reload()  # a reload loses nothing: the unsaved form comes back from sessionStorage
    expect(second.locator("#restored-notice")).to_be_visible()
    expect(second.locator(f'[data-block-id="{last_id}"] .inline')).to_contain_text("Ajout de Bruno.")
    second.get_by_role("button", name="Save", exact=True).click()
    conflict = second.get_by_test_id("conflict")
    expect(conflict).to_be_visible(timeout=SLOW)
    expect(conflict.locator("ins").last).to_contain_text("Amélie)")
    expect(second.locator(f'[data-block-id="{last_id}"] .inline')).to_contain_text("Ajout de Bruno.")  # kept
    save_screen(second, "editor-conflict")

    second.get_by_role("button", name="Re-apply my edit on the latest revision").click()
    expect(second.get_by_test_id("notice")).to_contain_text("now based on revision")
    second.get_by_role("button", name="Save", exact=True).click()
    expect(second.get_by_test_id("saved")).to_be_visible()

    head = api(console_server, secret_b, "GET", f"/v1/documents/{document}").json()
    number = next(variant["head_revision"] for variant in head["variants"] if variant["locale"] == "fr")
    latest = api(console_server, secret_b, "GET", f"/v1/documents/{document}/variants/fr/revisions/{number}").json()
    texts = " ".join(span.get("text", "") for block in latest["blocks"] for span in block.get("content", []))
    assert "(édité par Amélie)" in texts
    assert "Ajout de Bruno." in texts
    for tab in editors:
        tab.context.close()
    assert errors == []
