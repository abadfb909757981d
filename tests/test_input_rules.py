"""What a field may hold: characters, territory codes, locale tags, token options, and who reverts.

The character rules live in ``schemas/text.py``, the territory rule in ``domain/facts.py`` and the
locale rule in ``domain/locales.py``; every refusal is a problem naming the field, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.domain.facts import known_territories
from services.content.storage.database import Database
from services.content.usecases.tokens import list_tokens
from tests.conftest import TokenFactory, dump
from tests.helpers import page_id, paragraph, revision, text
from tests.test_tokens import run_cli
from tests.test_validation import PROBLEM_PREFIX, refused, revisions_url

Json = dict[str, Any]
Client = AsyncTestClient[Litestar]

REFUSED_IN_MACHINE_STRINGS = {
    "NUL": "\x00",
    "unit separator": "\x1f",
    "DEL": "\x7f",
    "C1 next line": "\x85",
    "U+FFFE": "\ufffe",
    "U+FFFF": "\uffff",
    "U+FDD0": "\ufdd0",
    "U+1FFFE": "\U0001fffe",
    "U+10FFFF": "\U0010ffff",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "right-to-left mark": "\u200f",
}
"""Characters no URL or e-mail address may hold, anywhere in it."""

SITE = {"key": "xx-nowhere", "name": "Nowhere", "locales": ["fr", "en"], "default_locale": "fr"}


def failures_of(results: dict[str, str | None]) -> str:
    """The cases that went wrong, one per line (empty when all went right)."""
    return "\n".join(f"{case}: {failure}" for case, failure in results.items() if failure)


async def refusal(client: Client, db: Database, *args: Any, **request: Any) -> str | None:
    """None if ``refused(...)`` holds, else what was wrong (so one test reports every case)."""
    try:
        await refused(client, db, *args, **request)
    except AssertionError as exc:
        return str(exc)
    return None


# -- characters ------------------------------------------------------------------------------


async def test_links_urls_and_emails_refuse_controls_noncharacters_and_bidi_controls(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    results: dict[str, str | None] = {}
    for name, char in {**REFUSED_IN_MACHINE_STRINGS, "final line feed": "\n"}.items():
        tail = "" if name == "final line feed" else "b"
        link = revision("Title", paragraph(text("x", link=f"https://example.org/a{char}{tail}")), base_revision=1)
        results[f"link, {name}"] = await refusal(
            client, seeded, "POST", url, 400, "invalid-body", "$.blocks[0].content[0].link", json=link, headers=admin
        )
        mailto = revision("Title", paragraph(text("x", link=f"mailto:a{char}{tail}@example.org")), base_revision=1)
        results[f"mailto, {name}"] = await refusal(
            client, seeded, "POST", url, 400, "invalid-body", "$.blocks[0].content[0].link", json=mailto, headers=admin
        )
        for kind, value in (("url", f"https://example.org/a{char}{tail}"), ("email", f"a{char}{tail}@example.org")):
            body = {"key": f"contact.{kind}", "value": {"type": kind, "value": value}}
            results[f"{kind} fact, {name}"] = await refusal(
                client, seeded, "POST", "/v1/facts", 400, "invalid-body", "$.value.value", json=body, headers=admin
            )
    assert not results.get("link, NUL"), results["link, NUL"]
    assert not failures_of(results), failures_of(results)

    # What a URL or an address may hold is untouched: non-ASCII letters, queries, fragments.
    for body in (
        {"key": "contact.url", "value": {"type": "url", "value": "https://fr.wikipedia.org/wiki/Ministère?a=b#c"}},
        {"key": "contact.email", "value": {"type": "email", "value": "josé@ambafrance.example"}},
    ):
        created = await client.post("/v1/facts", json=body, headers=admin)
        assert created.status_code == 201, created.text
    written = await client.post(
        url,
        json=revision("Title", paragraph(text("x", link="https://example.org/ünï?q=1#top")), base_revision=1),
        headers=admin,
    )
    assert written.status_code == 201, written.text


async def test_keys_slugs_codes_and_tags_refuse_a_final_line_feed(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """Python's ``$`` matches before a final line feed: no pattern may let one through."""
    page = await page_id(seeded, "in-new-delhi")
    fact = {"key": "a.b", "value": {"type": "integer", "value": 1}}
    cases: list[tuple[str, str, str, Json]] = [
        ("site key", "/v1/sites", "$.key", {**SITE, "key": "xx-nowhere\n"}),
        ("site locale", "/v1/sites", "$.locales[1]", {**SITE, "locales": ["fr", "en\n"]}),
        ("site country", "/v1/sites", "$.country", {**SITE, "country": "IN\n"}),
        (
            "slug",
            "/v1/documents",
            "$.slug",
            {"kind": "page", "site": "in-new-delhi", "slug": "visas\n", "source_locale": "fr"},
        ),
        ("fragment key", "/v1/documents", "$.key", {"kind": "fragment", "key": "shared\n", "source_locale": "fr"}),
        ("fact key", "/v1/facts", "$.key", {**fact, "key": "a.b\n"}),
        ("fact scope", "/v1/facts", "$.scope", {**fact, "scope": "global\n"}),
        ("territory", "/v1/facts", "$.value.value[0]", {**fact, "value": {"type": "territories", "value": ["IN\n"]}}),
        ("decimal", "/v1/facts", "$.value.value", {**fact, "value": {"type": "decimal", "value": "1.5\n"}}),
        (
            "block id",
            revisions_url(page, "fr"),
            "$.blocks[0].id",
            revision("Title", paragraph(text("x"), block_id="intro\n"), base_revision=1),
        ),
        (
            "fact placeholder",
            revisions_url(page, "fr"),
            "$.blocks[0].content[0].key",
            revision("Title", paragraph({"type": "fact", "key": "network.embassy_count\n"}), base_revision=1),
        ),
    ]
    results = {
        case: await refusal(client, seeded, "POST", url, 400, "invalid-body", field, json=body, headers=admin)
        for case, url, field, body in cases
    }
    assert not failures_of(results), failures_of(results)


async def test_text_refuses_nul_c0_controls_and_noncharacters_but_keeps_tabs_newlines_and_bidi(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    results: dict[str, str | None] = {}
    for name, char in {
        "NUL": "\x00",
        "escape": "\x1b",
        "DEL": "\x7f",
        "U+FFFE": "\ufffe",
        "U+10FFFF": "\U0010ffff",
    }.items():
        for field, body in (
            ("$.title", revision(f"a{char}b", paragraph(text("x")), base_revision=1)),
            ("$.blocks[0].content[0].text", revision("Title", paragraph(text(f"a{char}b")), base_revision=1)),
            ("$.message", revision("Title", paragraph(text("x")), base_revision=1, message=f"a{char}b")),
        ):
            results[f"{field}, {name}"] = await refusal(
                client, seeded, "POST", url, 400, "invalid-body", field, json=body, headers=admin
            )
        results[f"site name, {name}"] = await refusal(
            client,
            seeded,
            "POST",
            "/v1/sites",
            400,
            "invalid-body",
            "$.name",
            json={**SITE, "name": f"a{char}b"},
            headers=admin,
        )
        localized = {"key": "a.b", "value": {"type": "text", "value": {"fr": f"a{char}b"}}}
        results[f"text fact, {name}"] = await refusal(
            client, seeded, "POST", "/v1/facts", 400, "invalid-body", "$.value.value", json=localized, headers=admin
        )
    assert not failures_of(results), failures_of(results)

    # Tabs, line breaks and bidirectional controls (right-to-left text needs them) are text.
    body = revision(
        "\u2067\u0645\u0631\u062d\u0628\u0627\u2069 Title",
        paragraph(text("a\tb\nc\r\nd \u202b\u05e2\u05d1\u05e8\u05d9\u05ea\u202c")),
        base_revision=1,
    )
    written = await client.post(url, json=body, headers=admin)
    assert written.status_code == 201, written.text
    assert written.json()["title"] == body["title"]


# -- territory codes ------------------------------------------------------------------------------


def test_known_territories_are_the_249_iso_3166_1_country_codes() -> None:
    codes = known_territories()
    assert len(codes) == 249, sorted(codes)
    assert {"IN", "NP", "LK", "MV", "FR", "AQ", "PS", "TW"} <= codes
    assert not {"EU", "EZ", "UN", "ZZ", "QO", "XK", "XA", "AA", "AC", "IC", "TA", "DG", "EA", "CP", "CQ"} & codes


async def test_territory_codes_that_are_not_countries_are_refused(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    results: dict[str, str | None] = {}
    for code in ("ZZ", "QO", "EU", "UN", "XK", "AC"):
        update = {"value": {"type": "territories", "value": ["IN", code]}, "base_version": 1}
        results[f"fact {code}"] = await refusal(
            client,
            seeded,
            "PUT",
            "/v1/facts/in-new-delhi/iss.jurisdiction",
            422,
            "invalid-content",
            "$.value.value[1]",
            f"'{code}'",
            json=update,
            headers=admin,
        )
        results[f"site country {code}"] = await refusal(
            client,
            seeded,
            "POST",
            "/v1/sites",
            422,
            "invalid-content",
            "$.country",
            f"'{code}'",
            json={**SITE, "country": code},
            headers=admin,
        )
    assert not failures_of(results), failures_of(results)
    created = await client.post("/v1/sites", json={**SITE, "country": "NP"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["country"] == "NP"


# -- locale tags ----------------------------------------------------------------------------------


async def test_locale_tags_babel_would_only_guess_are_refused(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    """'und' would be stored as en-US, 'en-ZZ' as en-US, 'de-1996' as de: what was sent is not kept."""
    results: dict[str, str | None] = {}
    for tag in ("und", "und-FR", "en-ZZ", "en-Zzzz", "de-1996"):
        results[tag] = await refusal(
            client,
            seeded,
            "POST",
            "/v1/sites",
            400,
            "invalid-locale",
            "$.locales[1]",
            f"'{tag}'",
            json={**SITE, "locales": ["fr", tag]},
            headers=admin,
        )
    assert not failures_of(results), failures_of(results)


async def test_a_site_keeps_its_locales_as_sent_in_canonical_spelling(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    body = {**SITE, "locales": ["fr", "FR-ca", "zh-TW", "iw"], "default_locale": "fr-ca", "fallback": ["fr-CA", "fr"]}
    created = await client.post("/v1/sites", json=body, headers=admin)
    assert created.status_code == 201, created.text
    site = created.json()
    # Babel formats zh-TW as zh_Hant_TW, but the site offers what it was given; iw is he's old code.
    assert site["locales"] == ["fr", "fr-CA", "zh-TW", "he"]
    assert site["default_locale"] == "fr-CA"
    assert site["fallback"] == ["fr-CA", "fr"]


async def test_a_text_fact_with_two_keys_for_one_locale_is_refused(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    body = {"key": "a.b", "value": {"type": "text", "value": {"fr": "c", "EN": "a", "en": "b"}}}
    problem = await refused(
        client,
        seeded,
        "POST",
        "/v1/facts",
        422,
        "invalid-content",
        "$.value.value",
        "'EN'",
        "'en'",
        json=body,
        headers=admin,
    )
    assert problem["type"] == PROBLEM_PREFIX + "invalid-content"


# -- tokens and roles -------------------------------------------------------------------------------


async def test_token_create_refuses_a_locale_for_a_role_it_does_not_bind(seeded: Database, database_url: str) -> None:
    before = await dump(seeded)
    for role in ("editor", "admin", "reader"):
        code, out, err = await run_cli(database_url, "token", "create", "--name", "x", "--role", role, "--locale", "fr")
        assert code != 0, (role, out, err)
        assert out == "", out
        assert len(err.strip().splitlines()) == 1, err
        assert "translator" in err, err
        assert role in err, err
    assert await dump(seeded) == before

    code, out, err = await run_cli(
        database_url, "token", "create", "--name", "t", "--role", "translator", "--locale", "FR"
    )
    assert code == 0, err
    (token,) = await list_tokens(seeded)
    assert (token.role, token.locales) == ("translator", ["fr"])


async def test_revert_is_an_editors_power_even_in_a_translators_locale(
    client: Client, seeded: Database, make_token: TokenFactory
) -> None:
    translator = await make_token("translator", locales=["en"], name="en-translator")
    editor = await make_token("editor", name="editor")
    page = await page_id(seeded, "in-new-delhi")
    written = await client.post(
        revisions_url(page, "en"),
        json=revision("Translated", paragraph(text("x")), base_revision=1, source_revision=1),
        headers=translator,
    )
    assert written.status_code == 201, written.text

    revert = f"/v1/documents/{page}/variants/en/revert"
    problem = await refused(
        client,
        seeded,
        "POST",
        revert,
        403,
        "forbidden",
        "revert",
        json={"revision": 1, "base_revision": 2},
        headers=translator,
    )
    assert problem["action"] == "revert"
    reverted = await client.post(revert, json={"revision": 1, "base_revision": 2}, headers=editor)
    assert reverted.status_code == 201, reverted.text
    assert reverted.json()["number"] == 3
