"""API tokens: 401 without a valid one, 403 outside its role and scope, stored only as a hash, and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from services.content.usecases.tokens import create_token, list_tokens, revoke_token
from tests.conftest import TokenFactory, dump
from tests.helpers import fragment_id, page_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_PREFIX = "urn:liaison:problem:"
SLUG = "internal-security-section"
FRAGMENT = "dci-internal-security"
LIAISON = Path(sys.executable).parent / "liaison"

Json = dict[str, Any]


# -- fixtures ----------------------------------------------------------------------


# -- helpers -----------------------------------------------------------------------


def revisions_url(document_id: int, locale: str) -> str:
    """Route writing a revision of a variant."""
    return f"/v1/documents/{document_id}/variants/{locale}/revisions"


def revision(words: str, **extra: Any) -> Json:
    """A one-paragraph revision body."""
    return {"title": "Title", "blocks": [{"type": "paragraph", "content": [{"type": "text", "text": words}]}], **extra}


def bearer(secret: str) -> dict[str, str]:
    """Authorization header for a token secret."""
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response: Response, status: int, name: str) -> Json:
    """Check ``response`` is an RFC 9457 problem of type ``name`` with ``status``; return its body."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.headers
    body: Json = response.json()
    assert body["type"] == PROBLEM_PREFIX + name, body
    assert body["status"] == status, body
    assert body.get("detail"), body
    return body


def assert_unauthenticated(response: Response) -> None:
    """A 401 problem with a Bearer challenge."""
    assert_problem(response, 401, "unauthenticated")
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.split(" ")[0].lower() == "bearer", response.headers


async def refused(
    client: AsyncTestClient[Litestar], db: Database, method: str, url: str, status: int, name: str, **request: Any
) -> Json:
    """Send a request that must be refused, and leave the database unchanged."""
    before = await dump(db)
    response = await client.request(method, url, **request)
    body = assert_problem(response, status, name)
    assert await dump(db) == before, f"{method} {url} was refused with {status} but changed the database"
    return body


# -- 401: no token, an unknown one, a revoked one --------------------------------------------


async def test_no_token_on_drafts_route_is_401_with_bearer_challenge(
    client: AsyncTestClient[Litestar], seeded: Database
) -> None:
    page = await page_id(seeded, "in-new-delhi")
    assert_unauthenticated(await client.get(f"/v1/documents/{page}"))
    assert_unauthenticated(await client.get(f"/v1/documents/{page}/variants/fr/revisions/1"))
    assert_unauthenticated(await client.get(f"/v1/documents/{page}/variants/fr/revisions"))
    assert_unauthenticated(await client.get("/v1/facts/global/network.embassy_count/versions"))
    # Writes too, and nothing changes.
    before = await dump(seeded)
    assert_unauthenticated(await client.post(revisions_url(page, "fr"), json=revision("x", base_revision=1)))
    assert_unauthenticated(await client.delete("/v1/facts/global/network.embassy_count"))
    assert_unauthenticated(
        await client.post("/v1/sites", json={"key": "x", "name": "X", "locales": ["fr"], "default_locale": "fr"})
    )
    assert await dump(seeded) == before


async def test_malformed_authorization_header_is_401(client: AsyncTestClient[Litestar], seeded: Database) -> None:
    page = await page_id(seeded, "in-new-delhi")
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "lsn_abc", "Token lsn_abc"):
        response = await client.get(f"/v1/documents/{page}", headers={"Authorization": header})
        assert_unauthenticated(response)


async def test_unknown_token_is_401(client: AsyncTestClient[Litestar], seeded: Database) -> None:
    page = await page_id(seeded, "in-new-delhi")
    assert_unauthenticated(await client.get(f"/v1/documents/{page}", headers=bearer("lsn_" + "A" * 43)))
    assert_unauthenticated(await client.get(f"/v1/documents/{page}", headers=bearer("not-even-our-format")))


async def test_revoked_token_is_401(client: AsyncTestClient[Litestar], seeded: Database) -> None:
    page = await page_id(seeded, "in-new-delhi")
    issued = await create_token(seeded, "to-revoke", "admin", None, None)
    assert (await client.get(f"/v1/documents/{page}", headers=bearer(issued.secret))).status_code == 200
    await revoke_token(seeded, issued.token.id)
    assert_unauthenticated(await client.get(f"/v1/documents/{page}", headers=bearer(issued.secret)))
    # Another token keeps working.
    other = await create_token(seeded, "other", "reader", None, None)
    assert (await client.get(f"/v1/documents/{page}", headers=bearer(other.secret))).status_code == 200


# -- 403: role and scope ------------------------------------------------------------------


async def test_reader_reads_revisions_but_cannot_write(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    reader = await make_token("reader", name="reader")
    page = await page_id(seeded, "in-new-delhi")
    for url in (
        f"/v1/documents/{page}",
        f"/v1/documents/{page}/variants/fr/revisions",
        f"/v1/documents/{page}/variants/fr/revisions/1",
        f"/v1/documents/{page}/variants/en/revisions/1",
        f"/v1/documents/{page}/variants/fr/diff?from=1&to=1",
        "/v1/facts/global/network.embassy_count/versions",
    ):
        response = await client.get(url, headers=reader)
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"

    await refused(
        client,
        seeded,
        "POST",
        revisions_url(page, "fr"),
        403,
        "forbidden",
        json=revision("x", base_revision=1),
        headers=reader,
    )
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(page, "en"),
        403,
        "forbidden",
        json=revision("x", base_revision=1, source_revision=1),
        headers=reader,
    )
    await refused(
        client,
        seeded,
        "POST",
        f"/v1/documents/{page}/variants/fr/publish",
        403,
        "forbidden",
        json={"revision": 1},
        headers=reader,
    )
    await refused(
        client,
        seeded,
        "PUT",
        "/v1/facts/global/network.embassy_count",
        403,
        "forbidden",
        json={"value": {"type": "integer", "value": 79}, "base_version": 1},
        headers=reader,
    )


async def test_401_and_403_are_told_apart(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    reader = await make_token("reader", name="reader")
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    body = revision("x", base_revision=1)
    anonymous = await client.post(url, json=body)
    forbidden = await client.post(url, json=body, headers=reader)
    assert_unauthenticated(anonymous)
    assert_problem(forbidden, 403, "forbidden")
    assert anonymous.json()["type"] != forbidden.json()["type"]


async def test_site_scoped_editor(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    editor = await make_token("editor", sites=["in-new-delhi"], name="delhi-editor")
    delhi = await page_id(seeded, "in-new-delhi")
    kathmandu = await page_id(seeded, "np-kathmandu")

    created = await client.post(revisions_url(delhi, "fr"), json=revision("Nouveau", base_revision=1), headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["author"] == "delhi-editor"
    published = await client.post(f"/v1/documents/{delhi}/variants/fr/publish", json={"revision": 2}, headers=editor)
    assert published.status_code == 200, published.text

    # Documents outside the token's sites (another site's page, a shared fragment) are not found.
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(kathmandu, "fr"),
        404,
        "not-found",
        json=revision("x", base_revision=1),
        headers=editor,
    )
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(await fragment_id(seeded), "fr"),
        404,
        "not-found",
        json=revision("x", base_revision=1),
        headers=editor,
    )
    await refused(
        client,
        seeded,
        "POST",
        "/v1/sites",
        403,
        "forbidden",
        json={"key": "lk-colombo", "name": "Colombo", "locales": ["fr", "en"], "default_locale": "fr"},
        headers=editor,
    )
    # Global facts belong to no single site, so a site-scoped token may not change them.
    await refused(
        client,
        seeded,
        "PUT",
        "/v1/facts/global/network.embassy_count",
        403,
        "forbidden",
        json={"value": {"type": "integer", "value": 79}, "base_version": 1},
        headers=editor,
    )
    # Nor read the other site's drafts.
    assert_problem(await client.get(f"/v1/documents/{kathmandu}", headers=editor), 404, "not-found")


async def test_locale_scoped_translator(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    translator = await make_token("translator", locales=["en"], name="en-translator")
    page = await page_id(seeded, "in-new-delhi")

    created = await client.post(
        revisions_url(page, "en"), json=revision("Translated", base_revision=1, source_revision=1), headers=translator
    )
    assert created.status_code == 201, created.text
    assert created.json()["source_revision"] == 1

    # fr is the source locale: writing it is an editor's job.
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(page, "fr"),
        403,
        "forbidden",
        json=revision("Source", base_revision=1),
        headers=translator,
    )
    # Publishing is an editor's job too, even in the translator's own locale.
    await refused(
        client,
        seeded,
        "POST",
        f"/v1/documents/{page}/variants/en/publish",
        403,
        "forbidden",
        json={"revision": 2},
        headers=translator,
    )


async def test_translator_scoped_to_another_locale(
    client: AsyncTestClient[Litestar], seeded: Database, make_token: TokenFactory
) -> None:
    translator = await make_token("translator", locales=["fr"], name="fr-translator")
    page = await page_id(seeded, "in-new-delhi")
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(page, "en"),
        403,
        "forbidden",
        json=revision("Translated", base_revision=1, source_revision=1),
        headers=translator,
    )


# -- storage -------------------------------------------------------------------------------


async def test_token_is_stored_only_as_its_hash(seeded: Database) -> None:
    issued = await create_token(seeded, "hashed", "translator", ["in-new-delhi"], ["en"])
    secret = issued.secret
    rows = (await dump(seeded))["tokens"]
    assert len(rows) == 1
    row = rows[0]
    for column in row:
        assert secret not in str(column)
        assert secret.removeprefix("lsn_") not in str(column)
    assert hashlib.sha256(secret.encode()).hexdigest() in row
    # Nowhere else in the database either.
    everything = repr(await dump(seeded))
    assert secret.removeprefix("lsn_") not in everything


async def test_issued_secrets_differ(seeded: Database) -> None:
    secrets = {(await create_token(seeded, f"t{i}", "reader", None, None)).secret for i in range(5)}
    assert len(secrets) == 5
    assert all(len(secret) >= 32 for secret in secrets)


# -- published content is public --------------------------------------------------------------


async def test_published_routes_need_no_token(client: AsyncTestClient[Litestar], seeded: Database) -> None:
    sites = await client.get("/v1/sites")
    assert sites.status_code == 200, sites.text
    assert {site["key"] for site in sites.json()} == {"in-new-delhi", "np-kathmandu"}
    one_site = await client.get("/v1/sites/in-new-delhi")
    assert one_site.status_code == 200, one_site.text

    facts = await client.get("/v1/facts")
    assert facts.status_code == 200, facts.text
    assert "network.embassy_count" in {fact["key"] for fact in facts.json()}
    scoped = await client.get("/v1/facts", params={"scope": "in-new-delhi"})
    assert scoped.status_code == 200, scoped.text
    assert {fact["scope"] for fact in scoped.json()} == {"in-new-delhi"}
    fact = await client.get("/v1/facts/global/network.embassy_count")
    assert fact.status_code == 200, fact.text
    assert fact.json()["value"] == {"type": "integer", "value": 78}


# -- the CLI -------------------------------------------------------------------------------------


async def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    """Run ``liaison`` with the test's database; return (exit code, stdout, stderr)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIAISON_")}
    env["LIAISON_DATABASE_URL"] = database_url
    env["COLUMNS"] = "200"
    process = await asyncio.create_subprocess_exec(
        str(LIAISON), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_help(database_url: str) -> None:
    results = await asyncio.gather(run_cli(database_url, "--help"), run_cli(database_url, "token", "--help"))
    for code, out, err in results:
        assert code == 0, err
        assert "Usage" in out
    assert "create" in results[1][1]
    assert "revoke" in results[1][1]


async def test_cli_token_lifecycle(client: AsyncTestClient[Litestar], seeded: Database, database_url: str) -> None:
    delhi = await page_id(seeded, "in-new-delhi")
    kathmandu = await page_id(seeded, "np-kathmandu")

    code, out, err = await run_cli(
        database_url, "token", "create", "--name", "x", "--role", "editor", "--site", "in-new-delhi"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    secret = lines[0].strip()
    assert secret
    assert secret == out.strip()
    assert secret not in err

    # The secret is a working bearer token with the role and scope asked for.
    headers = bearer(secret)
    assert (await client.get(f"/v1/documents/{delhi}", headers=headers)).status_code == 200
    written = await client.post(revisions_url(delhi, "fr"), json=revision("CLI", base_revision=1), headers=headers)
    assert written.status_code == 201, written.text
    assert written.json()["author"] == "x"
    assert_problem(
        await client.post(revisions_url(kathmandu, "fr"), json=revision("CLI", base_revision=1), headers=headers),
        404,
        "not-found",
    )

    (token,) = [t for t in await list_tokens(seeded) if t.name == "x"]
    assert token.role == "editor"
    assert token.sites == ["in-new-delhi"]

    # Listing never shows a secret; creating a token for a site that does not exist fails and stores nothing.
    before = await dump(seeded)
    (code, out, err), (bad_code, bad_out, bad_err) = await asyncio.gather(
        run_cli(database_url, "token", "list"),
        run_cli(database_url, "token", "create", "--name", "y", "--role", "editor", "--site", "nowhere"),
    )
    assert code == 0, err
    assert secret not in out
    assert secret not in err
    assert secret.removeprefix("lsn_")[:16] not in out
    assert "editor" in out
    assert "in-new-delhi" in out
    assert bad_code != 0
    assert bad_out == ""
    assert "nowhere" in bad_err
    assert await dump(seeded) == before

    code, out, err = await run_cli(database_url, "token", "revoke", str(token.id))
    assert code == 0, err
    assert_unauthenticated(await client.get(f"/v1/documents/{delhi}", headers=headers))
