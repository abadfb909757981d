"""The translation screen in real Chromium: after the source changes two items, a translator brings it up to date."""

from __future__ import annotations

import re
import subprocess

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.screens import save_screen
from tests.sync_support import LIAISON

SITE = "np-kathmandu"
SLUG = "internal-security-section"


def translator_token(server: ConsoleServer, locale: str) -> str:
    """A translator limited to ``locale``, created with the CLI as an administrator does."""
    args = ["token", "create", "--name", "Tara", "--role", "translator", "--locale", locale]
    done = subprocess.run([*LIAISON, *args], env=server.env, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def change_two_source_items(server: ConsoleServer, editor: str) -> int:
    """Rewrite two list items of the French source through the API, as an editor; the page's id."""
    headers = {"Authorization": f"Bearer {editor}"}
    pages = httpx.get(f"{server.url}/v1/sites/{SITE}/pages", timeout=10).json()
    document = next(item["document_id"] for item in pages["items"] if item["slug"] == SLUG)
    listed = httpx.get(f"{server.url}/v1/documents/{document}/variants/fr/revisions", headers=headers, timeout=10)
    items = listed.json()["items"]
    number = max(item["number"] for item in items)
    body = httpx.get(
        f"{server.url}/v1/documents/{document}/variants/fr/revisions/{number}", headers=headers, timeout=10
    ).json()
    item_list = next(block for block in body["blocks"] if block["id"] == "s3-list")["items"]
    item_list[0][-1]["text"] = ". L'attaché de sécurité intérieure est l'interlocuteur des polices népalaises."
    item_list[1][0]["text"] = (
        "Il travaille en lien étroit avec l'ambassade de France à Katmandou, pour la communauté résidant "
    )
    written = httpx.post(
        f"{server.url}/v1/documents/{document}/variants/fr/revisions",
        json={"title": body["title"], "blocks": body["blocks"], "base_revision": number, "message": "Two items"},
        headers=headers,
        timeout=10,
    )
    assert written.status_code == 201, written.text
    return int(document)


def test_a_translator_sees_the_two_outdated_items_with_their_diff_and_brings_them_up_to_date(
    page: Page, console_server: ConsoleServer
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    editor = console_server.create_token("editor", name="Eve")
    document = change_two_source_items(console_server, editor)

    sign_in(page, console_server, translator_token(console_server, "en"))
    page.goto(f"{console_server.url}/console/documents/{document}/en/translate")
    expect(page.get_by_test_id("progress")).to_have_text(re.compile(r"2 of 4 up to date"))
    outdated = page.locator("section.segment[data-state=outdated]")
    expect(outdated).to_have_count(2)
    expect(outdated.nth(0)).to_have_attribute("data-segment", "s3-list.1")
    expect(outdated.nth(1)).to_have_attribute("data-segment", "s3-list.2")
    first_diff = page.get_by_test_id("diff-s3-list.1")
    expect(first_diff.locator("del")).not_to_have_count(0)
    expect(first_diff.locator("ins").first).to_be_visible()
    expect(first_diff).to_contain_text("polices")
    # The previous translation is in the field, and the link and fact it must keep are shown as chips.
    first = page.get_by_label("Translation of segment 3")
    expect(first).to_have_value(re.compile("Nepal falls within the jurisdiction"))
    expect(page.locator("#codes-s3-list\\.1 .chip")).to_have_text(["link to https://in.ambafrance.org/"])
    expect(page.get_by_test_id("preview")).to_contain_text("Nepal falls within the jurisdiction")
    save_screen(page, "translate")

    first.fill(
        'Nepal falls within the jurisdiction of the Internal Security Section of the <a href="https://in.ambafrance.org/">'
        "Embassy of France in New Delhi</a>. The Internal Security Attaché is the contact of the Nepalese police."
    )
    second = page.get_by_label("Translation of segment 4")
    second.fill(
        "He works closely with the Embassy of France in Kathmandu, for the community residing {fact:post.in_country}."
    )
    # The live preview follows what is typed (debounced), rendered as the public page.
    expect(page.get_by_test_id("preview")).to_contain_text("He works closely with the Embassy")
    # An edit that drops the fact is undone, with a sentence saying why; what was there stays.
    second.fill("He works closely with the Embassy of France in Kathmandu.")
    expect(second).to_have_value(re.compile(r"\{fact:post\.in_country\}"))
    expect(page.locator("#chip-status-s3-list\\.2")).to_contain_text("cannot be removed or changed")
    second.fill("")  # a field emptied at once (select all, delete) is undone too
    expect(second).to_have_value(re.compile("He works closely"))
    # Clicking a chip inserts it at the cursor: to move the fact, insert it, then delete the old one.
    second.evaluate("field => field.setSelectionRange(0, 0)")
    page.locator("#codes-s3-list\\.2 .chip").click()
    expect(second).to_have_value(re.compile(r"^\{fact:post\.in_country\}He works"))
    second.fill(
        "He works closely with the Embassy of France in Kathmandu, for the community residing {fact:post.in_country}."
    )
    expect(page.locator("#chip-status-s3-list\\.2")).to_be_hidden()
    page.get_by_role("button", name="Save the translation").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Saved as revision")
    expect(page.get_by_test_id("progress")).to_have_text(re.compile(r"4 of 4 up to date"))
    expect(page.locator("section.segment[data-state=outdated]")).to_have_count(0)

    # At phone width the rows stack (source above translation) and nothing overflows sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("button", name="Save the translation")).to_be_visible()

    status = httpx.get(
        f"{console_server.url}/v1/documents/{document}/translations",
        headers={"Authorization": f"Bearer {editor}"},
        timeout=10,
    ).json()
    english = next(entry for entry in status["locales"] if entry["locale"] == "en")
    assert english["status"] == "up_to_date"
    assert errors == []
