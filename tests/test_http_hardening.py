"""Hostile input and what the HTTP surface gives away: bodies, If-Match, existence, headers, /metrics.

Each route list is read from the app itself, so a route added later is covered without
editing these tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from tests.conftest import TokenFactory, dump
from tests.helpers import fragment_id, page_id, paragraph, revision, text
from tests.sync_support import Process, free_port, sync_env, test_redis_url, wait_http
from tests.test_validation import assert_problem, refused

Client = AsyncTestClient[Litestar]
Json = dict[str, Any]
PROBLEM = "application/problem+json"
SLUG = "internal-security-section"
PAGE = f"/v1/sites/in-new-delhi/pages/{SLUG}"
FACT = "/v1/facts/global/network.embassy_count"


def json_write_routes(app: Litestar, document_id: int) -> Iterator[tuple[str, str]]:
    """``(method, url)`` of every route that reads a JSON body, its path filled with real values."""
    values = {"document_id": document_id, "locale": "fr", "fact_scope": "global", "key": "network.embassy_count"}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/console"):
            continue  # the console's forms are URL-encoded, behind CSRF (tests/console/)
        for handler in route.route_handlers:
            if "data" in handler.parsed_fn_signature.parameters:
                for method in sorted(handler.http_methods):
                    yield method, route.path_format.format(**values)


def without_id(problem: Json, document_id: int) -> Json:
    """A problem with the document id the caller sent replaced, to compare two answers."""
    return {
        **problem,
        "detail": problem["detail"].replace(f"document {document_id} ", "document <id> "),
        "instance": re.sub(rf"^/v1/documents/{document_id}(?=/|$)", "/v1/documents/<id>", problem["instance"]),
    }


def without_slug(problem: Json, slug: str) -> Json:
    """A problem with the page slug the caller sent replaced, to compare two answers."""
    return {
        **problem,
        "detail": problem["detail"].replace(f"'{slug}'", "'<slug>'"),
        "instance": problem["instance"].replace(f"/pages/{slug}", "/pages/<slug>"),
    }


# -- bodies -------------------------------------------------------------------------------


async def test_invalid_utf8_in_a_json_string_is_a_400_problem_on_every_write_route(
    app: Litestar, client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """msgspec raises UnicodeDecodeError (not a decoding error) for a bad byte inside a string."""
    routes = list(json_write_routes(app, await page_id(seeded, "in-new-delhi")))
    assert len(routes) >= 7, routes
    failures: list[str] = []
    for method, url in routes:
        for raw in (b'{"title":"\xff"}', b'{"key":"a\xc3","value":1}', b'{"\xed\xa0\x80":1}'):
            try:
                problem = await refused(
                    client,
                    seeded,
                    method,
                    url,
                    400,
                    "malformed-json",
                    "not valid UTF-8",
                    content=raw,
                    headers={**admin, "content-type": "application/json"},
                )
                assert "byte " in problem["detail"], problem
                # Before the token is looked at, too: still a 4xx problem, never a 500.
                anonymous = await client.request(method, url, content=raw, headers={"content-type": "application/json"})
                assert_problem(anonymous, None)
            except AssertionError as exc:
                failures.append(f"{method} {url} {raw!r}: {exc}")
    # The one write route that takes a file rather than JSON.
    doc = await page_id(seeded, "in-new-delhi")
    for content_type, raw in (
        ("text/x-gettext-translation", b'msgid "x"\nmsgstr "\xff\xfe"\n'),
        ("application/xliff+xml", b'<?xml version="1.0" encoding="UTF-8"?><xliff>\xff</xliff>'),
    ):
        try:
            await refused(
                client,
                seeded,
                "POST",
                f"/v1/documents/{doc}/variants/en/import",
                None,
                None,
                content=raw,
                headers={**admin, "content-type": content_type},
            )
        except AssertionError as exc:
            failures.append(f"import {content_type}: {exc}")
    assert not failures, "\n".join(failures)


DUPLICATES: list[tuple[str, bytes, str, str]] = [
    # (what, body, key named, object path named)
    (
        "a fragment turned into a page",
        b'{"kind":"fragment","kind":"page","site":"in-new-delhi","slug":"dup","source_locale":"fr"}',
        "kind",
        "$:",
    ),
    (
        "nested in an array",
        b'{"kind":"page","site":"in-new-delhi","slug":"dup","source_locale":"fr","x":[{"a":1},{"b":1,"b":2}]}',
        "b",
        "$.x[1]:",
    ),
    (
        "the same key, once escaped",
        b'{"kind":"page","\\u006bind":"fragment","site":"in-new-delhi","slug":"dup","source_locale":"fr"}',
        "kind",
        "$:",
    ),
]


async def test_a_body_with_a_duplicate_key_at_any_depth_is_refused_naming_the_key(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    headers = {**admin, "content-type": "application/json"}
    failures: list[str] = []
    for what, raw, key, path in DUPLICATES:
        try:
            problem = await refused(
                client,
                seeded,
                "POST",
                "/v1/documents",
                400,
                "duplicate-key",
                path,
                f"'{key}'",
                content=raw,
                headers=headers,
            )
            assert problem["key"] == key, problem
        except AssertionError as exc:
            failures.append(f"{what}: {exc}")
    assert not failures, "\n".join(failures)


async def test_a_stale_then_a_current_base_revision_is_refused_not_written(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """The last duplicate used to win: a stale base followed by the head's was a 201."""
    doc = await page_id(seeded, "in-new-delhi")
    body = json.dumps(revision("Nouveau", paragraph(text("x")))).encode()
    raw = body[:-1] + b', "base_revision": 7, "base_revision": 1}'
    url = f"/v1/documents/{doc}/variants/fr/revisions"
    await refused(
        client,
        seeded,
        "POST",
        url,
        400,
        "duplicate-key",
        "'base_revision'",
        content=raw,
        headers={**admin, "content-type": "application/json"},
    )


async def test_every_json_route_refuses_duplicate_keys(
    app: Litestar, client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    failures: list[str] = []
    for method, url in json_write_routes(app, await page_id(seeded, "in-new-delhi")):
        try:
            await refused(
                client,
                seeded,
                method,
                url,
                400,
                "duplicate-key",
                content=b'{"message":"a","message":"b"}',
                headers={**admin, "content-type": "application/json"},
            )
        except AssertionError as exc:
            failures.append(f"{method} {url}: {exc}")
    assert not failures, "\n".join(failures)


async def test_validation_messages_name_the_api_field_never_a_python_error(
    app: Litestar, client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """A write with no body used to say ``errors: [{"message": "'data'"}]`` (a KeyError's repr)."""
    failures: list[str] = []
    for method, url in json_write_routes(app, await page_id(seeded, "in-new-delhi")):
        try:
            problem = await refused(client, seeded, method, url, 400, "invalid-body", "$: ", headers=admin)
            assert problem["errors"], problem
            for error in problem["errors"]:
                assert error["key"] == "$", error
                assert error["source"] == "body", error
                assert error["message"] == "$: a JSON body is required", error
            assert "'data'" not in json.dumps(problem), problem
        except AssertionError as exc:
            failures.append(f"{method} {url}: {exc}")
    assert not failures, "\n".join(failures)


async def test_each_validation_error_names_its_field_in_english_whatever_the_language(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    doc = await page_id(seeded, "in-new-delhi")
    problem = await refused(
        client,
        seeded,
        "POST",
        f"/v1/documents/{doc}/variants/fr/revisions",
        400,
        "invalid-body",
        "$.title\u00a0: ",
        json=revision("", paragraph(text("x")), base_revision=1),
        headers={**admin, "Accept-Language": "fr"},
    )
    assert problem["errors"] == [
        {"key": "$.title", "source": "body", "message": "$.title: Expected `str` of length >= 1"}
    ], problem


# -- If-Match ------------------------------------------------------------------------------


async def test_a_weak_if_match_never_matches_even_the_head(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """RFC 9110, 13.1.1: If-Match compares strongly; W/"r1" is stale-base like any other miss."""
    doc = await page_id(seeded, "in-new-delhi")
    variant = f"/v1/documents/{doc}/variants/fr"
    writes: list[tuple[str, Json]] = [
        (variant + "/revisions", revision("Nouveau", paragraph(text("x")))),
        (variant + "/revert", {"revision": 1}),
        # A body naming the head does not make the weak If-Match match.
        (variant + "/revisions", revision("Nouveau", paragraph(text("x")), base_revision=1)),
    ]
    for url, body in writes:
        problem = await refused(
            client, seeded, "POST", url, 409, "stale-base", 'W/"r1"', json=body, headers={**admin, "If-Match": 'W/"r1"'}
        )
        assert problem["current"] == {"revision": 1, "etag": '"r1"'}, problem
    problem = await refused(
        client,
        seeded,
        "PUT",
        FACT,
        409,
        "stale-base",
        'W/"v1"',
        '"v1"',
        json={"value": {"type": "integer", "value": 79}},
        headers={**admin, "If-Match": 'W/"v1"'},
    )
    assert problem["current"] == {"version": 1, "etag": '"v1"'}
    # The strong ETags still match.
    written = await client.post(
        variant + "/revisions", json=revision("Nouveau", paragraph(text("x"))), headers={**admin, "If-Match": '"r1"'}
    )
    assert written.status_code == 201, written.text
    updated = await client.put(
        FACT, json={"value": {"type": "integer", "value": 79}}, headers={**admin, "If-Match": '"v1"'}
    )
    assert updated.status_code == 200, updated.text


# -- existence -----------------------------------------------------------------------------


def document_requests(doc: int) -> list[tuple[str, str, Json | None, dict[str, str]]]:
    """Every request about one document a token can make: (method, url, JSON body, extra headers)."""
    variant = f"/v1/documents/{doc}/variants"
    return [
        ("GET", f"/v1/documents/{doc}", None, {}),
        ("DELETE", f"/v1/documents/{doc}", None, {}),
        ("GET", f"/v1/documents/{doc}/translations", None, {}),
        ("POST", f"{variant}/fr/revisions", revision("x", paragraph(text("x")), base_revision=1), {}),
        ("POST", f"{variant}/en/revisions", revision("x", paragraph(text("x")), source_revision=1), {}),
        ("POST", f"{variant}/de/revisions", revision("x", paragraph(text("x"))), {}),  # a locale of no site
        ("POST", f"{variant}/fr/revisions", revision("x", paragraph(text("x"))), {"If-Match": 'W/"r1"'}),
        ("GET", f"{variant}/fr/revisions", None, {}),
        ("GET", f"{variant}/fr/revisions/1", None, {}),
        ("GET", f"{variant}/fr/diff?from=1&to=1", None, {}),
        ("POST", f"{variant}/fr/publish", {"revision": 1}, {}),
        ("POST", f"{variant}/fr/unpublish", None, {}),
        ("POST", f"{variant}/fr/revert", {"revision": 1, "base_revision": 1}, {}),
        ("GET", f"{variant}/en/export", None, {}),
        ("GET", f"{variant}/en/export?format=xliff", None, {}),
    ]


async def answer(client: Client, method: str, url: str, body: Json | None, headers: dict[str, str]) -> Json:
    """The problem a request gets, checked to be one."""
    response = await client.request(method, url, json=body, headers=headers)
    problem: Json = assert_problem(response, None)
    return problem


@pytest.mark.parametrize("role", ["reader", "translator", "editor", "admin"])
async def test_a_site_scoped_token_cannot_tell_another_sites_document_from_none(
    client: Client, seeded: Database, make_token: TokenFactory, role: str
) -> None:
    """The same status, type, title and detail (but for the id it sent) as for an id nobody has."""
    token = await make_token(role, sites=["in-new-delhi"], name=f"delhi-{role}")
    elsewhere = await page_id(seeded, "np-kathmandu")
    fragment = await fragment_id(seeded)
    unknown = 999_999
    failures: list[str] = []
    before = await dump(seeded)
    for hidden in (elsewhere, fragment):
        for (method, url, body, extra), (_, unknown_url, unknown_body, _) in zip(
            document_requests(hidden), document_requests(unknown), strict=True
        ):
            headers = {**token, **extra}
            seen = without_id(await answer(client, method, url, body, headers), hidden)
            expected = without_id(await answer(client, method, unknown_url, unknown_body, headers), unknown)
            if seen != expected:
                failures.append(f"{method} {url}: {seen} != {expected}")
    assert not failures, "\n".join(failures)
    assert await dump(seeded) == before
    # On its own site, a token is still told what its role may not do.
    if role in ("reader", "translator"):
        own = await page_id(seeded, "in-new-delhi")
        url = f"/v1/documents/{own}/variants/fr/publish"
        await refused(client, seeded, "POST", url, 403, "forbidden", json={"revision": 1}, headers=token)


async def test_a_public_reader_cannot_tell_an_unpublished_page_from_none(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": "in-new-delhi", "slug": "draft-only", "source_locale": "fr"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    written = await client.post(
        f"/v1/documents/{doc}/variants/fr/revisions", json=revision("Brouillon", paragraph(text("x"))), headers=admin
    )
    assert written.status_code == 201, written.text
    unpublished = await client.post(
        f"/v1/documents/{await page_id(seeded, 'in-new-delhi')}/variants/fr/unpublish", headers=admin
    )
    assert unpublished.status_code == 200, unpublished.text
    unpublished_en = await client.post(
        f"/v1/documents/{await page_id(seeded, 'in-new-delhi')}/variants/en/unpublish", headers=admin
    )
    assert unpublished_en.status_code == 200, unpublished_en.text

    failures: list[str] = []
    for suffix in ("", ".html", "?locale=fr", "?locale=en", ".html?locale=de"):
        for headers in ({}, {"Accept-Language": "fr"}, {"Accept": "text/html"}):
            expected = await client.get(f"/v1/sites/in-new-delhi/pages/never-written{suffix}", headers=headers)
            for slug in ("draft-only", SLUG):
                seen = await client.get(f"/v1/sites/in-new-delhi/pages/{slug}{suffix}", headers=headers)
                try:
                    assert seen.status_code == expected.status_code == 404, (seen.text, expected.text)
                    assert without_slug(seen.json(), slug) == without_slug(expected.json(), "never-written")
                except AssertionError as exc:
                    failures.append(f"{slug}{suffix} {headers}: {exc}")
    assert not failures, "\n".join(failures)


# -- headers -------------------------------------------------------------------------------


async def test_every_response_says_nosniff_and_names_its_charset_once(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    doc = await page_id(seeded, "in-new-delhi")
    first = await client.get(PAGE)
    requests: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", PAGE, {}, None),
        ("GET", PAGE, {}, None),  # from the cache: the prepared response
        ("GET", PAGE + ".html", {}, None),
        ("GET", PAGE, {"If-None-Match": first.headers["etag"]}, None),
        ("GET", "/v1/sites", {}, None),
        ("GET", "/v1/nope", {}, None),
        ("PATCH", "/v1/sites", {}, None),
        ("GET", "/v1/sites/in-new-delhi/pages/nope", {}, None),
        ("POST", "/v1/sites", {**admin, "content-type": "application/json"}, b"{"),
        ("POST", "/v1/sites", {}, b"{}"),
        ("GET", f"/v1/documents/{doc}/variants/en/export", admin, None),
        ("GET", f"/v1/documents/{doc}/variants/en/export?format=xliff", admin, None),
        ("GET", "/metrics", {}, None),
        ("GET", "/health/live", {}, None),
        ("GET", "/schema/openapi.json", {}, None),
        ("GET", "/schema/swagger", {}, None),
    ]
    failures: list[str] = []
    for method, url, headers, content in requests:
        response = await client.request(method, url, headers=headers, content=content)
        if response.headers.get_list("x-content-type-options") != ["nosniff"]:
            failures.append(f"{method} {url} -> {response.status_code}: no single nosniff in {response.headers}")
        if response.headers.get("content-type", "").lower().count("charset") > 1:
            failures.append(f"{method} {url}: {response.headers['content-type']}")
    assert not failures, "\n".join(failures)


async def test_the_po_export_says_its_type_and_charset_once(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    doc = await page_id(seeded, "in-new-delhi")
    po = await client.get(f"/v1/documents/{doc}/variants/en/export", headers=admin)
    assert po.status_code == 200, po.text
    assert po.headers["content-type"] == "text/x-gettext-translation; charset=utf-8"
    xliff = await client.get(f"/v1/documents/{doc}/variants/en/export?format=xliff", headers=admin)
    assert xliff.headers["content-type"] == "application/xliff+xml; charset=utf-8"


@pytest.fixture
def guarded_app(settings: Settings, db: Database) -> Litestar:
    """The app with a metrics token set."""
    return create_app(msgspec.structs.replace(settings, metrics_token="m3trics"), db=db)


async def test_metrics_need_the_metrics_token_when_one_is_set(
    guarded_app: Litestar, client: Client, seeded: Database
) -> None:
    assert (await client.get("/metrics")).status_code == 200  # no token set: public, as before
    async with AsyncTestClient(app=guarded_app, raise_server_exceptions=False) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer m3trics-and-more"},
            {"Authorization": "m3trics"},
        ):
            response = await client.get("/metrics", headers=headers)
            problem = assert_problem(response, 401, "unauthenticated", "LIAISON_METRICS_TOKEN")
            assert "m3trics" not in json.dumps(problem)
            assert response.headers["www-authenticate"].startswith("Bearer")
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer m3trics"})
        assert allowed.status_code == 200, allowed.text
        assert "liaison_http_requests_total" in allowed.text
        # The rest of the service is unchanged: the metrics token is no API token.
        assert (await client.get(PAGE)).status_code == 200
        assert (await client.get("/v1/sites", headers={"Authorization": "Bearer m3trics"})).status_code == 200


def test_a_served_process_reads_the_metrics_token_and_answers_bad_bytes_with_a_problem(
    database_url: str, seeded: Database, tmp_path: Path
) -> None:
    """Through uvicorn, as deployed: the issue's own curl, and LIAISON_METRICS_TOKEN from the environment."""
    port = free_port()
    env = {**sync_env(database_url, test_redis_url(), port), "LIAISON_METRICS_TOKEN": "from-the-env"}
    server = Process(["serve", "--port", str(port)], env, tmp_path / "server.log")
    try:
        api = f"http://127.0.0.1:{port}"
        wait_http(api + "/health/live")
        bad = httpx.post(api + "/v1/sites", content=b'{"title":"\xff"}', headers={"content-type": "application/json"})
        assert bad.status_code == 400, bad.text
        assert bad.headers["content-type"].startswith(PROBLEM)
        assert bad.headers["x-content-type-options"] == "nosniff"
        assert httpx.get(api + "/metrics").status_code == 401
        assert httpx.get(api + "/metrics", headers={"Authorization": "Bearer from-the-env"}).status_code == 200
        page = httpx.get(api + PAGE)
        assert page.status_code == 200
        assert page.headers["x-content-type-options"] == "nosniff"
    finally:
        server.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
