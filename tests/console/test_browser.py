"""The console in real Chromium against a real ``liaison serve``: sign in, sites, language, sign out, CSRF."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.console.conftest import ConsoleServer, sign_in


def test_sign_in_see_the_sites_switch_to_french_and_sign_out(page: Page, console_server: ConsoleServer) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    secret = console_server.create_token("editor", name="Amélie")

    page.goto(f"{console_server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console$"))
    page.get_by_label("Token").fill("lsn_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")

    sign_in(page, console_server, secret)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sites")
    expect(page.get_by_test_id("who")).to_have_text("Signed in as Amélie (editor)")
    expect(page.get_by_role("link", name="Ambassade de France au Népal")).to_have_attribute(
        "href", "/console/sites/np-kathmandu"
    )
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Ambassade de France au Népal")).to_have_attribute("lang", "fr")

    # console.js sends the switch when the choice changes (its button is then only for keyboards).
    page.get_by_label("Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_test_id("who")).to_have_text("Connecté en tant que Amélie (rédacteur)")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sites")
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(f"{console_server.url}/console/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion à la console")
    page.goto(f"{console_server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    # No script error, no CSP violation, no failed asset: only the wrong token's 401.
    assert [error for error in errors if "status of 401" not in error] == []


def test_a_form_posted_without_its_csrf_token_is_refused_with_nothing_changed(
    page: Page, context: BrowserContext, console_server: ConsoleServer
) -> None:
    sign_in(page, console_server, console_server.create_token("reader", name="Rose"))
    # The sign-out form, its token field removed, as a forged form from elsewhere would arrive.
    page.locator("form.sign-out input[name=_csrf_token]").evaluate("field => field.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("security token")

    page.goto(f"{console_server.url}/console")  # still signed in: the session was not ended
    expect(page.get_by_test_id("who")).to_have_text("Signed in as Rose (reader)")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    session = cookies["liaison_session"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    # A request carrying the session cookie but no token (a cross-site form) is refused too.
    forged = httpx.post(
        f"{console_server.url}/console/sign-out",
        data={"next": "/console"},
        cookies={"liaison_session": session["value"]},
    )
    assert forged.status_code == 403
    page.reload()
    expect(page.get_by_test_id("who")).to_have_text("Signed in as Rose (reader)")


def test_a_reader_sees_no_edit_control_at_phone_width(page: Page, console_server: ConsoleServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, console_server, console_server.create_token("reader", name="Rose"))
    expect(page.get_by_role("link", name="Ambassade de France en Inde")).to_be_visible()
    expect(page.locator(".edit-control")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_htmx_requests_carry_the_pages_csrf_token(
    page: Page, context: BrowserContext, console_server: ConsoleServer
) -> None:
    sign_in(page, console_server, console_server.create_token("reader", name="Rose"))
    page.wait_for_function("window.htmx !== undefined")
    # Without the header (a plain script request): refused, nothing set.
    refused = page.evaluate(
        """() => fetch("/console/language", {method: "POST", redirect: "manual",
              headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "lang=fr&next=/console"})
              .then(response => response.status)"""
    )
    assert refused == 403
    assert "liaison_lang" not in {cookie["name"] for cookie in context.cookies()}
    # Through htmx: console.js adds X-CSRF-Token from the page's meta tag.
    page.evaluate(
        """() => new Promise(done => {
              document.body.addEventListener("htmx:afterRequest", event => done(event.detail.xhr.status), {once: true});
              htmx.ajax("POST", "/console/language", {values: {lang: "fr", next: "/console"}, swap: "none"});
           })"""
    )
    assert {cookie["name"]: cookie["value"] for cookie in context.cookies()}["liaison_lang"] == "fr"
