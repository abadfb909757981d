"""The console's sessions, CSRF, headers and assets over HTTP, against the app in-process on a real database."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.console.security import CONTENT_SECURITY_POLICY
from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.tables import console_sessions
from services.content.usecases.tokens import revoke_token
from tests.conftest import TokenFactory, dump
from tests.console.conftest import Clock, console_client
from tests.console.support import csrf_of, secret_of, sign_in

ASSET = re.compile(r'(?:href|src)="(/console/assets/[^"]+)"')


async def stored_sessions(db: Database) -> list[tuple[str, int]]:
    async with db.reading() as repo:
        rows = await repo.conn.execute(sa.select(console_sessions.c.id_hash, console_sessions.c.token_id))
        return [(row.id_hash, row.token_id) for row in rows]


def set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [header for header in headers if header.startswith(f"{name}=")]
    assert found, f"no Set-Cookie for {name} in {headers}"
    return str(found[0])


async def test_signing_in_sets_a_strict_http_only_cookie_and_stores_only_its_hash(
    client: AsyncTestClient[Litestar], db: Database, make_token: TokenFactory
) -> None:
    header = await make_token("editor", name="Amélie")
    response = await sign_in(client, secret_of(header))
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = set_cookie(response, "liaison_session")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain http here: a Secure cookie would never come back
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 43  # 32 random bytes, URL-safe base64

    rows = await stored_sessions(db)
    assert len(rows) == 1
    assert rows[0][0] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in repr(await dump(db))  # the raw id is nowhere in the database

    assert "liaison_csrf=" in " ".join(response.headers.get_list("set-cookie"))  # dropped: a fresh one follows
    page = await client.get("/console")
    assert page.status_code == 200
    assert "Amélie" in page.text
    assert "editor" in page.text

    again = await sign_in(client, secret_of(header))  # signing in again replaces the session
    assert again.status_code == 303
    assert len(await stored_sessions(db)) == 1


async def test_over_https_the_session_cookie_is_secure(app: Litestar, make_token: TokenFactory) -> None:
    header = await make_token("reader")
    async with console_client(app, base_url="https://console.example") as https:
        response = await sign_in(https, secret_of(header))
    assert response.status_code == 303
    assert "secure" in {part.strip().lower() for part in set_cookie(response, "liaison_session").split(";")}


async def test_behind_an_https_public_url_every_cookie_is_secure(
    database_url: str, db: Database, make_token: TokenFactory
) -> None:
    # TLS ends at the gateway: the request reaches the service over http, its public URL is https.
    app = create(database_url, db, public_url="https://embassy.example")
    header = await make_token("reader")
    async with console_client(app) as client:
        form = await client.get("/console/sign-in")
        csrf_cookie = set_cookie(form, "liaison_csrf")
        assert "secure" in {part.strip().lower() for part in csrf_cookie.split(";")}
        # The client keeps Secure cookies to itself over http; the browser, on https, sends them.
        response = await client.post(
            "/console/sign-in",
            data={"token": secret_of(header), "_csrf_token": csrf_of(form.text)},
            headers={"Cookie": csrf_cookie.split(";")[0]},
        )
    assert "secure" in {part.strip().lower() for part in set_cookie(response, "liaison_session").split(";")}


async def test_a_wrong_token_shows_the_form_again_and_stores_nothing(
    client: AsyncTestClient[Litestar], db: Database
) -> None:
    before = await dump(db)
    response = await sign_in(client, "lsn_not-a-real-token")
    assert response.status_code == 401
    assert "unknown or revoked" in response.text
    assert 'aria-invalid="true"' in response.text
    assert "liaison_session=" not in " ".join(response.headers.get_list("set-cookie"))
    assert await dump(db) == before

    empty = await sign_in(client, "")
    assert empty.status_code == 400
    assert "Enter the secret of your token" in empty.text
    assert await dump(db) == before


async def test_a_page_without_a_session_sends_to_sign_in_and_comes_back(
    client: AsyncTestClient[Litestar], make_token: TokenFactory
) -> None:
    response = await client.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console"
    form = await client.get(response.headers["location"])
    assert 'name="next" value="/console"' in form.text
    # The target of a sign-in is always a console page, whatever the form says.
    header = await make_token("reader")
    signed = await client.post(
        "/console/sign-in",
        data={"token": secret_of(header), "_csrf_token": csrf_of(form.text), "next": "https://elsewhere.example/"},
    )
    assert signed.headers["location"] == "/console"


async def test_an_idle_session_ends_and_a_used_one_lives_on(
    client: AsyncTestClient[Litestar], db: Database, make_token: TokenFactory, clock: Clock
) -> None:
    await sign_in(client, secret_of(await make_token("reader")))
    clock.advance(minutes=29)
    assert (await client.get("/console")).status_code == 200
    clock.advance(minutes=29)  # 58 minutes after signing in, 29 after the last use
    assert (await client.get("/console")).status_code == 200
    clock.advance(minutes=31)
    ended = await client.get("/console")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/console/sign-in?next=/console&ended=1"
    assert await stored_sessions(db) == []
    notice = await client.get(ended.headers["location"])
    assert "Your session has ended" in notice.text


async def test_the_idle_time_is_a_setting(database_url: str, db: Database, make_token: TokenFactory) -> None:
    app = create(database_url, db, console_idle_minutes=5)
    fake = Clock()
    app.state.console.clock = fake
    async with console_client(app) as client:
        await sign_in(client, secret_of(await make_token("reader")))
        fake.advance(minutes=6)
        assert (await client.get("/console")).status_code == 303


def create(database_url: str, db: Database, **settings: Any) -> Litestar:
    return create_app(Settings(database_url=database_url, **settings), db=db)


async def test_revoking_the_token_ends_its_session_at_once(
    client: AsyncTestClient[Litestar], db: Database, make_token: TokenFactory
) -> None:
    await sign_in(client, secret_of(await make_token("editor")))
    assert (await client.get("/console")).status_code == 200
    (token_id,) = {token_id for _, token_id in await stored_sessions(db)}
    await revoke_token(db, token_id)
    response = await client.get("/console")
    assert response.status_code == 303
    assert "ended=1" in response.headers["location"]
    assert await stored_sessions(db) == []


async def test_signing_out_deletes_the_session(
    client: AsyncTestClient[Litestar], db: Database, make_token: TokenFactory
) -> None:
    signed = await sign_in(client, secret_of(await make_token("reader")))
    session_id = set_cookie(signed, "liaison_session").split(";")[0].split("=", 1)[1]
    home = await client.get("/console")
    out = await client.post("/console/sign-out", data={"_csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in"
    assert await stored_sessions(db) == []
    client.cookies.set("liaison_session", session_id, path="/console")  # a copy of the cookie opens nothing
    assert (await client.get("/console")).status_code == 303


@pytest.mark.parametrize("form", ["/console/sign-out", "/console/language", "/console/sign-in"])
async def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    client: AsyncTestClient[Litestar], db: Database, make_token: TokenFactory, form: str
) -> None:
    await sign_in(client, secret_of(await make_token("editor")))
    before = await dump(db)
    for data in ({}, {"_csrf_token": "0" * 128}):
        response = await client.post(form, data={**data, "lang": "fr", "token": "lsn_x", "next": "/console"})
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "security token" in response.text
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "set-cookie" not in response.headers
    assert await dump(db) == before
    assert (await client.get("/console")).status_code == 200  # still signed in, still in English
    assert '<html lang="en">' in (await client.get("/console")).text


async def test_the_api_needs_no_csrf_token(client: AsyncTestClient[Litestar], admin: dict[str, str]) -> None:
    body = {"key": "ch-bern", "name": "Ambassade à Berne", "locales": ["fr", "de"], "default_locale": "fr"}
    response = await client.post("/v1/sites", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def test_every_console_response_has_the_strict_headers(
    client: AsyncTestClient[Litestar], make_token: TokenFactory
) -> None:
    responses = {"sign-in": await client.get("/console/sign-in"), "redirect": await client.get("/console")}
    await sign_in(client, secret_of(await make_token("reader")))
    responses["sites"] = await client.get("/console")
    responses["unknown asset"] = await client.get("/console/assets/nothing.0123456789ab.css")
    responses["bad form"] = await client.post(
        "/console/language", data={"_csrf_token": csrf_of(responses["sites"].text)}
    )
    for name, response in responses.items():
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        assert response.headers["referrer-policy"] == "same-origin", name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["cache-control"] == "no-store", name
    assert responses["bad form"].status_code == 400
    assert "Check what you entered" in responses["bad form"].text
    assert "<script>" not in responses["sites"].text
    assert " style=" not in responses["sites"].text


async def test_assets_have_hashed_names_and_are_cached_for_a_year(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/console/sign-in")
    urls = ASSET.findall(page.text)
    assert {url.rsplit("/", 1)[1].split(".")[0] for url in urls} >= {"console", "htmx"}
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "set-cookie" not in response.headers  # a shared cache may keep it
        digest = url.rsplit(".", 2)[1]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest), url
    assert {(await client.get(url)).headers["content-type"] for url in urls} == {
        "text/css; charset=utf-8",
        "text/javascript; charset=utf-8",
        "image/svg+xml",
    }
    for unknown in ("/console/assets/console.css", "/console/assets/console.000000000000.css", "/console/assets/"):
        assert (await client.get(unknown)).status_code == 404, unknown
    assert (await client.get("/console/assets/vendor/htmx.LICENSE")).status_code == 404


async def test_a_reader_sees_no_edit_control_and_an_editor_does(
    app: Litestar, seeded: Database, make_token: TokenFactory
) -> None:
    pages = {}
    for role in ("reader", "editor"):
        async with console_client(app) as client:
            await sign_in(client, secret_of(await make_token(role, name=role)))
            pages[role] = (await client.get("/console")).text
    assert "np-kathmandu" in pages["reader"]
    assert "edit-control" not in pages["reader"]
    assert "Edit facts" not in pages["reader"]
    assert pages["editor"].count('class="edit-control"') == 4  # facts and "new page or fragment" of both sites


async def test_a_token_scoped_to_a_site_sees_only_that_site(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await sign_in(client, secret_of(await make_token("editor", sites=["np-kathmandu"])))
    sites = (await client.get("/console")).text
    assert 'data-site="np-kathmandu"' in sites
    assert 'data-site="in-new-delhi"' not in sites


async def test_the_language_follows_accept_language_then_the_users_choice(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    await sign_in(client, secret_of(await make_token("reader")))
    french = await client.get("/console", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in french.text
    assert french.headers["content-language"] == "fr"
    assert "Se déconnecter" in french.text
    switched = await client.post(
        "/console/language",
        data={"lang": "en", "next": "/console", "_csrf_token": csrf_of(french.text)},
        headers={"Accept-Language": "fr"},
    )
    assert switched.status_code == 303
    cookie = set_cookie(switched, "liaison_lang")
    assert "path=/console" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    english = await client.get("/console", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.text
    assert "Sign out" in english.text
    # A French site name in an English page says its language.
    assert 'lang="fr">Ambassade de France au Népal</a>' in english.text
