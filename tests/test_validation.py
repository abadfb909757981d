"""Bad input gets a clear RFC 9457 problem (4xx) that names what is wrong, and changes nothing.

Every refused request is checked twice: the problem body (media type, ``type``,
``status``, a ``detail`` naming the field path or key at fault) and the database,
which must hold exactly the rows it held before the request.
"""

from __future__ import annotations

import json
import random
from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import dump
from tests.helpers import fragment_id, page_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_PREFIX = "urn:liaison:problem:"
SLUG = "internal-security-section"
FRAGMENT = "dci-internal-security"

Json = dict[str, Any]


# -- fixtures ----------------------------------------------------------------------


# -- helpers -----------------------------------------------------------------------


def revisions_url(document_id: int, locale: str) -> str:
    """Route writing a revision of a variant."""
    return f"/v1/documents/{document_id}/variants/{locale}/revisions"


def text(value: str) -> Json:
    """A plain text span."""
    return {"type": "text", "text": value}


def fact(key: str) -> Json:
    """A fact placeholder span."""
    return {"type": "fact", "key": key}


def paragraph(*spans: Json) -> Json:
    """A paragraph block."""
    return {"type": "paragraph", "content": list(spans)}


def include(key: str) -> Json:
    """A fragment include block."""
    return {"type": "fragment", "fragment": key}


def revision(*blocks: Json, title: str = "Title", **extra: Any) -> Json:
    """A revision body."""
    return {"title": title, "blocks": list(blocks), **extra}


def assert_problem(response: Response, status: int | None, name: str | None = None, *detail_parts: str) -> Json:
    """Check ``response`` is an RFC 9457 problem with ``status`` (None: any 4xx); return its body."""
    if status is None:
        assert 400 <= response.status_code < 500, f"{response.status_code} {response.text}"
        status = response.status_code
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.headers
    body: Json = response.json()
    assert isinstance(body["type"], str)
    assert body["type"].startswith(PROBLEM_PREFIX), body
    if name is not None:
        assert body["type"] == PROBLEM_PREFIX + name, body
    assert body["status"] == status, body
    assert isinstance(body["title"], str)
    assert body["title"]
    detail = body.get("detail")
    assert isinstance(detail, str)
    assert detail, body
    for part in detail_parts:
        assert part in detail, f"{part!r} not in detail {detail!r}"
    return body


async def refused(
    client: AsyncTestClient[Litestar],
    db: Database,
    method: str,
    url: str,
    status: int | None,
    name: str | None,
    *detail_parts: str,
    **request: Any,
) -> Json:
    """Send a request that must be refused with a problem, and leave the database unchanged."""
    before = await dump(db)
    response = await client.request(method, url, **request)
    body = assert_problem(response, status, name, *detail_parts)
    assert await dump(db) == before, f"{method} {url} was refused with {status} but changed the database"
    return body


async def write_ok(client: AsyncTestClient[Litestar], headers: dict[str, str], url: str, body: Json) -> Json:
    """Write a revision that must be accepted."""
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def create_fragment(client: AsyncTestClient[Litestar], headers: dict[str, str], key: str) -> int:
    """Create an empty fragment (source locale fr) and return its id."""
    response = await client.post(
        "/v1/documents", json={"kind": "fragment", "key": key, "source_locale": "fr"}, headers=headers
    )
    assert response.status_code == 201, response.text
    document_id: int = response.json()["id"]
    return document_id


# -- facts and fragments a revision refers to --------------------------------------


async def test_unknown_fact_in_placeholder(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    body = revision(paragraph(fact("no.such_fact")), base_revision=1)
    problem = await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "unknown-fact",
        "$.blocks[0].content[0].key",
        "no.such_fact",
        json=body,
        headers=admin,
    )
    assert problem["key"] == "no.such_fact"


async def test_unknown_fact_in_a_list_item_names_its_path(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    blocks = [
        paragraph(text("Known: "), fact("network.embassy_count")),
        {"type": "list", "items": [[text("a")], [text("b "), fact("network.embassy_count"), fact("nope.nope")]]},
    ]
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "unknown-fact",
        "$.blocks[1].items[1][2].key",
        "nope.nope",
        json=revision(*blocks, base_revision=1),
        headers=admin,
    )


async def test_site_scoped_fact_of_another_site_is_unknown_on_a_page(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    # iss.jurisdiction belongs to in-new-delhi; the Kathmandu page cannot see it.
    url = revisions_url(await page_id(seeded, "np-kathmandu"), "fr")
    body = revision(paragraph(text("Jurisdiction: "), fact("iss.jurisdiction")), base_revision=1)
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "unknown-fact",
        "$.blocks[0].content[1].key",
        "iss.jurisdiction",
        json=body,
        headers=admin,
    )


async def test_own_site_fact_and_global_fact_are_accepted(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    """The control case of the two above: the same placeholders on the New Delhi page are fine."""
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    body = revision(paragraph(fact("iss.jurisdiction"), fact("network.embassy_count")), base_revision=1)
    created = await write_ok(client, admin, url, body)
    assert created["number"] == 2


async def test_unknown_fragment_include(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    body = revision(paragraph(text("intro")), include("no-such-fragment"), base_revision=1)
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "unknown-fragment",
        "$.blocks[1].fragment",
        "no-such-fragment",
        json=body,
        headers=admin,
    )


async def test_page_slug_is_not_a_fragment(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "np-kathmandu"), "fr")
    body = revision(include(SLUG), base_revision=1)
    await refused(
        client, seeded, "POST", url, 422, "unknown-fragment", "$.blocks[0].fragment", SLUG, json=body, headers=admin
    )


async def test_fragment_include_cycle_of_two(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    a = await create_fragment(client, admin, "cycle-a")
    b = await create_fragment(client, admin, "cycle-b")
    await write_ok(client, admin, revisions_url(a, "fr"), revision(paragraph(text("A")), include("cycle-b")))
    problem = await refused(
        client,
        seeded,
        "POST",
        revisions_url(b, "fr"),
        422,
        "fragment-cycle",
        "$.blocks[0].fragment",
        "cycle-a",
        "cycle-b",
        json=revision(include("cycle-a")),
        headers=admin,
    )
    assert problem["cycle"] == ["cycle-b", "cycle-a", "cycle-b"]


async def test_fragment_include_cycle_of_three(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    a = await create_fragment(client, admin, "ring-a")
    b = await create_fragment(client, admin, "ring-b")
    c = await create_fragment(client, admin, "ring-c")
    await write_ok(client, admin, revisions_url(a, "fr"), revision(include("ring-b")))
    await write_ok(client, admin, revisions_url(b, "fr"), revision(include("ring-c")))
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(c, "fr"),
        422,
        "fragment-cycle",
        "$.blocks[1].fragment",
        "ring-a",
        json=revision(paragraph(text("C")), include("ring-a")),
        headers=admin,
    )


async def test_fragment_including_itself(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await fragment_id(seeded), "fr")
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "fragment-cycle",
        "$.blocks[0].fragment",
        FRAGMENT,
        json=revision(include(FRAGMENT), base_revision=1),
        headers=admin,
    )
    # A brand-new fragment including itself in its first revision, too.
    new = await create_fragment(client, admin, "narcissus")
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(new, "fr"),
        422,
        "fragment-cycle",
        "narcissus",
        json=revision(include("narcissus")),
        headers=admin,
    )


# -- locales -----------------------------------------------------------------------


async def test_locale_not_on_site(client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "de")
    problem = await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        "locale-not-on-site",
        "'de'",
        "in-new-delhi",
        json=revision(paragraph(text("Hallo"))),
        headers=admin,
    )
    assert problem["locale"] == "de"
    assert problem["site_locales"] == ["fr", "en"]


async def test_page_source_locale_not_on_site(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    body = {"kind": "page", "site": "in-new-delhi", "slug": "neue-seite", "source_locale": "de"}
    await refused(
        client, seeded, "POST", "/v1/documents", 422, "locale-not-on-site", "$.source_locale", json=body, headers=admin
    )


INVALID_TAGS = [("english!", "english!"), ("xx-%3F%3F", "xx-??"), ("zz", "zz")]
"""(as written in a URL path, as the tag itself): punctuation, question marks, unknown to Babel."""


async def test_invalid_locale_in_path(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    document = await page_id(seeded, "in-new-delhi")
    failures: list[str] = []
    for in_path, tag in INVALID_TAGS:
        url = revisions_url(document, in_path)
        try:
            body = revision(paragraph(text("x")))
            await refused(client, seeded, "POST", url, 400, "invalid-locale", f"'{tag}'", json=body, headers=admin)
            # Reads of a variant check the tag the same way.
            await refused(client, seeded, "GET", url, 400, "invalid-locale", f"'{tag}'", headers=admin)
        except AssertionError as exc:
            failures.append(f"{tag}: {exc}")
    assert not failures, "\n".join(failures)


async def test_invalid_locale_in_site(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    base = {"key": "xx-nowhere", "name": "Nowhere", "locales": ["fr", "en"], "default_locale": "fr"}
    failures: list[str] = []
    for _, tag in INVALID_TAGS:
        body = {**base, "locales": ["fr", tag]}
        try:
            problem = await refused(
                client, seeded, "POST", "/v1/sites", 400, None, "$.locales[1]", json=body, headers=admin
            )
            # A tag of the wrong shape may be refused by the schema; one of the right shape only Babel can refuse.
            expected = ("invalid-locale",) if tag == "zz" else ("invalid-locale", "invalid-body")
            assert problem["type"] in [PROBLEM_PREFIX + name for name in expected], problem
        except AssertionError as exc:
            failures.append(f"locales {tag}: {exc}")
    assert not failures, "\n".join(failures)
    await refused(
        client,
        seeded,
        "POST",
        "/v1/sites",
        400,
        "invalid-locale",
        "$.default_locale",
        json={**base, "default_locale": "zz"},
        headers=admin,
    )
    await refused(
        client,
        seeded,
        "POST",
        "/v1/sites",
        400,
        "invalid-locale",
        "$.fallback[1]",
        json={**base, "fallback": ["fr", "zz"]},
        headers=admin,
    )


# -- deleting what published content uses ----------------------------------------------


async def test_delete_global_fact_used_by_published_content(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    problem = await refused(
        client,
        seeded,
        "DELETE",
        "/v1/facts/global/network.embassy_count",
        409,
        "still-referenced",
        "network.embassy_count",
        headers=admin,
    )
    references = problem["references"]
    assert isinstance(references, list)
    assert references
    for reference in references:
        assert {"document_id", "site", "locale"} <= set(reference), reference
    # The shared fragment uses it in both languages.
    fragment = await fragment_id(seeded)
    assert {(r["document_id"], r["site"], r["locale"]) for r in references} >= {
        (fragment, None, "fr"),
        (fragment, None, "en"),
    }


async def test_delete_site_fact_used_by_published_page(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    problem = await refused(
        client,
        seeded,
        "DELETE",
        "/v1/facts/in-new-delhi/iss.jurisdiction",
        409,
        "still-referenced",
        "iss.jurisdiction",
        headers=admin,
    )
    page = await page_id(seeded, "in-new-delhi")
    named = {(r["document_id"], r["site"], r["locale"]) for r in problem["references"]}
    assert named == {(page, "in-new-delhi", "fr"), (page, "in-new-delhi", "en")}


async def test_delete_fragment_included_by_published_pages(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    problem = await refused(
        client,
        seeded,
        "DELETE",
        f"/v1/documents/{await fragment_id(seeded)}",
        409,
        "still-referenced",
        FRAGMENT,
        headers=admin,
    )
    named = {(r["site"], r["locale"]) for r in problem["references"]}
    assert named == {(site, locale) for site in ("in-new-delhi", "np-kathmandu") for locale in ("fr", "en")}
    for reference in problem["references"]:
        assert reference["document_id"] == await page_id(seeded, reference["site"])


async def test_delete_unreferenced_fact_succeeds(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/facts", json={"key": "test.unused", "value": {"type": "integer", "value": 7}}, headers=admin
    )
    assert created.status_code == 201, created.text
    response = await client.delete("/v1/facts/global/test.unused", headers=admin)
    assert response.status_code == 204, response.text
    assert (await client.get("/v1/facts/global/test.unused")).status_code == 404


# -- bodies that are too large, malformed, or off-schema ------------------------------------


async def test_body_over_the_size_limit(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    # A valid body, just too big: 20 spans of 15,000 characters are ~300 KB (limit 262,144).
    body = revision(paragraph(*[text("x" * 15_000) for _ in range(20)]), base_revision=1)
    assert len(json.dumps(body)) > 262_144
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    await refused(client, seeded, "POST", url, 413, "body-too-large", json=body, headers=admin)


async def test_malformed_json(client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    headers = {**admin, "content-type": "application/json"}
    failures: list[str] = []
    for raw in (
        b'{"title": }',
        b"\xff\xfe{}",
        b'{"title": "t", "blocks": []} trailing',
        b"{",
        b'{"title": "t", "blocks": [',
        b"nul",
    ):
        try:
            await refused(client, seeded, "POST", url, 400, "malformed-json", content=raw, headers=headers)
        except AssertionError as exc:
            failures.append(f"{raw!r}: {exc}")
    assert not failures, "\n".join(failures)


SCHEMA_CASES: list[tuple[str, Any, list[str]]] = [
    (
        "heading level 9",
        revision({"type": "heading", "level": 9, "content": [text("Title")]}, base_revision=1),
        ["$.blocks[0].level"],
    ),
    (
        "javascript: link",
        revision(paragraph({"type": "text", "text": "click", "link": "javascript:alert(1)"}), base_revision=1),
        ["$.blocks[0].content[0].link"],
    ),
    (
        "unknown block type",
        revision(paragraph(text("ok")), {"type": "html", "html": "<script>alert(1)</script>"}, base_revision=1),
        ["$.blocks[1].type", "html"],
    ),
    ("unknown top-level field", revision(paragraph(text("ok")), base_revision=1, extra="field"), ["extra"]),
    (
        "unknown block field",
        revision({**paragraph(text("ok")), "onclick": "alert(1)"}, base_revision=1),
        ["$.blocks[0]", "onclick"],
    ),
    (
        "unknown span mark",
        revision(paragraph({"type": "text", "text": "x", "marks": ["blink"]}), base_revision=1),
        ["$.blocks[0].content[0].marks[0]"],
    ),
    (
        "bad fact key",
        revision(paragraph({"type": "fact", "key": "Not A Key"}), base_revision=1),
        ["$.blocks[0].content[0].key"],
    ),
    ("empty text", revision(paragraph(text("")), base_revision=1), ["$.blocks[0].content[0].text"]),
    ("empty paragraph", revision(paragraph(), base_revision=1), ["$.blocks[0].content"]),
    ("base revision 0", revision(paragraph(text("x")), base_revision=0), ["$.base_revision"]),
    ("empty title", revision(title=""), ["$.title"]),
    ("blocks not a list", {"title": "t", "blocks": "nope"}, ["$.blocks"]),
    ("missing title", {"blocks": []}, ["title"]),
]


async def test_body_not_matching_schema(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    failures: list[str] = []
    for case, body, named in SCHEMA_CASES:
        try:
            await refused(client, seeded, "POST", url, 400, "invalid-body", *named, json=body, headers=admin)
        except AssertionError as exc:
            failures.append(f"{case}: {exc}")
    assert not failures, "\n".join(failures)


async def test_body_root_errors_name_the_root_path(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    """An error about the body as a whole is at ``$``: the body has no ``data`` member to blame."""
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    failures: list[str] = []
    for body, named in (
        ({"title": "t", "blocks": [], "extra": 1}, "extra"),
        ({"blocks": []}, "title"),
        (["not", "an", "object"], "object"),
    ):
        try:
            problem = await refused(client, seeded, "POST", url, 400, "invalid-body", named, json=body, headers=admin)
            assert "$.data" not in problem["detail"], f"detail blames a non-existent $.data: {problem['detail']!r}"
        except AssertionError as exc:
            failures.append(f"{body}: {exc}")
    assert not failures, "\n".join(failures)


async def test_fact_body_not_matching_schema(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    failures: list[str] = []
    for body, named in (
        ({"key": "a.b", "value": {"type": "date", "value": "2020-02-30"}}, "$.value.value"),
        ({"key": "a.b", "value": {"type": "colour", "value": "red"}}, "$.value.type"),
        ({"key": "a.b", "value": {"type": "url", "value": "javascript:x"}}, "$.value.value"),
        ({"key": "a.b", "value": {"type": "integer", "value": 10**16}}, "$.value.value"),
        ({"key": "A B", "value": {"type": "integer", "value": 1}}, "$.key"),
        ({"key": "a.b", "value": {"type": "territories", "value": ["in"]}}, "$.value.value[0]"),
        ({"key": "a.b", "value": {"type": "integer", "value": 1}, "scope": "Not A Scope"}, "$.scope"),
    ):
        try:
            await refused(client, seeded, "POST", "/v1/facts", 400, "invalid-body", named, json=body, headers=admin)
        except AssertionError as exc:
            failures.append(f"{body}: {exc}")
    assert not failures, "\n".join(failures)


# -- base revisions ------------------------------------------------------------------------


async def test_stale_base_revision(client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    await write_ok(client, admin, url, revision(paragraph(text("second")), base_revision=1))
    problem = await refused(
        client,
        seeded,
        "POST",
        url,
        409,
        "stale-base",
        json=revision(paragraph(text("lost update")), base_revision=1),
        headers=admin,
    )
    assert problem["current"]["revision"] == 2
    assert problem["current"]["etag"] == '"r2"'
    # The same through If-Match.
    problem = await refused(
        client,
        seeded,
        "POST",
        url,
        409,
        "stale-base",
        json=revision(paragraph(text("lost update"))),
        headers={**admin, "If-Match": '"r1"'},
    )
    assert problem["current"]["revision"] == 2


async def test_base_revision_of_a_variant_with_no_revisions(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    new = await create_fragment(client, admin, "empty-fragment")
    await refused(
        client,
        seeded,
        "POST",
        revisions_url(new, "fr"),
        409,
        "stale-base",
        json=revision(paragraph(text("x")), base_revision=1),
        headers=admin,
    )


async def test_missing_base_on_existing_variant(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    problem = await refused(
        client,
        seeded,
        "POST",
        url,
        428,
        "base-required",
        "base_revision",
        json=revision(paragraph(text("no base"))),
        headers=admin,
    )
    assert problem["current"]["revision"] == 1


async def test_base_revision_and_if_match_disagree(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        None,
        "$.base_revision",
        json=revision(paragraph(text("x")), base_revision=1),
        headers={**admin, "If-Match": '"r2"'},
    )


async def test_if_match_garbage(client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]) -> None:
    """An If-Match that is not one of our ETags is a malformed request header: 400 naming If-Match."""
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    failures: list[str] = []
    for header in ("garbage", "r1", '"rx"', '"v1"', '"r-1"'):
        try:
            await refused(
                client,
                seeded,
                "POST",
                url,
                400,
                None,
                "If-Match",
                json=revision(paragraph(text("x"))),
                headers={**admin, "If-Match": header},
            )
        except AssertionError as exc:
            failures.append(f"revision, If-Match {header}: {exc}")
    try:
        await refused(
            client,
            seeded,
            "PUT",
            "/v1/facts/global/network.embassy_count",
            400,
            None,
            "If-Match",
            json={"value": {"type": "integer", "value": 79}},
            headers={**admin, "If-Match": '"r1"'},
        )
    except AssertionError as exc:
        failures.append(f'fact, If-Match "r1": {exc}')
    assert not failures, "\n".join(failures)


# -- translations ----------------------------------------------------------------------------


async def test_translation_without_source_revision(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "en")
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        None,
        "$.source_revision",
        json=revision(paragraph(text("Hello")), base_revision=1),
        headers=admin,
    )


async def test_translation_of_a_source_revision_that_does_not_exist(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "en")
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        None,
        "$.source_revision",
        json=revision(paragraph(text("Hello")), base_revision=1, source_revision=99),
        headers=admin,
    )


async def test_source_revision_on_the_source_locale(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    await refused(
        client,
        seeded,
        "POST",
        url,
        422,
        None,
        "$.source_revision",
        json=revision(paragraph(text("Bonjour")), base_revision=1, source_revision=1),
        headers=admin,
    )


# -- fact updates ----------------------------------------------------------------------------


async def test_fact_update_changing_the_type(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    await refused(
        client,
        seeded,
        "PUT",
        "/v1/facts/global/network.embassy_count",
        422,
        None,
        "$.value.type",
        "integer",
        json={"value": {"type": "text", "value": {"fr": "soixante-dix-huit"}}, "base_version": 1},
        headers=admin,
    )


async def test_territories_fact_with_unknown_code(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    await refused(
        client,
        seeded,
        "PUT",
        "/v1/facts/in-new-delhi/iss.jurisdiction",
        422,
        None,
        "$.value.value[1]",
        "XX",
        json={"value": {"type": "territories", "value": ["IN", "XX"]}, "base_version": 1},
        headers=admin,
    )
    await refused(
        client,
        seeded,
        "POST",
        "/v1/facts",
        422,
        None,
        "$.value.value[0]",
        "XX",
        json={"key": "iss.other", "scope": "in-new-delhi", "value": {"type": "territories", "value": ["XX"]}},
        headers=admin,
    )


async def test_fact_update_with_stale_base(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    url = "/v1/facts/global/network.embassy_count"
    ok = await client.put(url, json={"value": {"type": "integer", "value": 79}, "base_version": 1}, headers=admin)
    assert ok.status_code == 200, ok.text
    problem = await refused(
        client,
        seeded,
        "PUT",
        url,
        409,
        "stale-base",
        json={"value": {"type": "integer", "value": 80}, "base_version": 1},
        headers=admin,
    )
    assert problem["current"]["version"] == 2
    problem = await refused(
        client,
        seeded,
        "PUT",
        url,
        409,
        "stale-base",
        json={"value": {"type": "integer", "value": 80}},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert problem["current"]["etag"] == '"v2"'


async def test_fact_update_without_base(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    problem = await refused(
        client,
        seeded,
        "PUT",
        "/v1/facts/global/network.embassy_count",
        428,
        "base-required",
        "base_version",
        json={"value": {"type": "integer", "value": 80}},
        headers=admin,
    )
    assert problem["current"]["version"] == 1


# -- numbers the database cannot hold --------------------------------------------------------


async def test_revision_number_beyond_64_bits(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    """No input makes the service answer 500, including numbers too large for an SQL integer."""
    page = await page_id(seeded, "in-new-delhi")
    failures: list[str] = []
    for number in (2**63, 2**64):
        for route, body in (("publish", {"revision": number}), ("revert", {"revision": number, "base_revision": 1})):
            url = f"/v1/documents/{page}/variants/fr/{route}"
            try:
                await refused(client, seeded, "POST", url, None, None, "$.revision", json=body, headers=admin)
            except AssertionError as exc:
                failures.append(f"{route} {body}: {exc}")
    assert not failures, "\n".join(failures)


async def test_path_and_query_integers_beyond_64_bits(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    page = await page_id(seeded, "in-new-delhi")
    failures: list[str] = []
    for url in (
        f"/v1/documents/{2**63}",
        f"/v1/documents/{page}/variants/fr/revisions?cursor={2**63}",
        f"/v1/documents/{page}/variants/fr/revisions/{2**63}",
    ):
        try:
            await refused(client, seeded, "GET", url, None, None, headers=admin)
        except AssertionError as exc:
            failures.append(f"GET {url}: {exc}")
    assert not failures, "\n".join(failures)


async def test_deeply_nested_json(client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]) -> None:
    url = revisions_url(await page_id(seeded, "in-new-delhi"), "fr")
    raw = b'{"title": "t", "blocks": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    await refused(
        client, seeded, "POST", url, 400, None, content=raw, headers={**admin, "content-type": "application/json"}
    )


# -- fuzz --------------------------------------------------------------------------------------

_KEYS = [
    "title", "blocks", "type", "content", "text", "key", "fragment", "level", "items", "marks", "link", "id",
    "base_revision", "source_revision", "revision", "message", "value", "scope", "kind", "site", "slug",
    "source_locale", "locales", "default_locale", "fallback", "country", "name", "base_version", "", "__proto__",
]  # fmt: skip
_STRINGS = [
    "", "x", "heading", "paragraph", "list", "fragment", "text", "fact", "integer", "date", "territories", "fr",
    "en", "de", "zz", "english!", "in-new-delhi", "np-kathmandu", "global", FRAGMENT, SLUG,
    "network.embassy_count", "iss.jurisdiction", "javascript:alert(1)", "https://example.org", "<script>",
    "\x00", "\ud7ff\ue000", "é" * 50, "2010-09-01", "2020-13-45", "XX", "IN", "page", "🙂", "' OR 1=1 --",
]  # fmt: skip


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randint(-3, 5),
                rng.choice([-(2**63), 2**63 - 1, 2**64, 2**31, 10**15 + 1, -1, 0]),
                rng.uniform(-1e6, 1e6),
                rng.choice(_STRINGS),
                "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 12))),
            ]
        )
    if roll < 0.55:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _mutated(rng: random.Random, valid: Json) -> Json:
    """A valid body with one part made invalid (wrong type, unknown key, or a missing required key)."""
    body: Json = json.loads(json.dumps(valid))
    target: Any = body
    while True:
        children = (
            [k for k, v in target.items() if isinstance(v, dict | list) and v] if isinstance(target, dict) else []
        )
        if isinstance(target, list):
            children = [i for i, v in enumerate(target) if isinstance(v, dict | list) and v]
        if not children or rng.random() < 0.4:
            break
        target = target[rng.choice(children)]
    if isinstance(target, list):
        target.append({"type": "no-such-type", "junk": _random_value(rng)})
    elif rng.random() < 0.5:
        target["zz_unknown_" + str(rng.randint(0, 99))] = _random_value(rng)
    else:
        key = rng.choice(sorted(target))
        current = target[key]
        # A value of a type the field never takes.
        target[key] = [current, current] if not isinstance(current, list) else {"nested": current}
    return body


def _raw_garbage(rng: random.Random) -> bytes:
    choices = [
        bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 64))),
        json.dumps(_random_value(rng)).encode()[: rng.randint(1, 40)] + b"\x00",
        b"{" * rng.randint(1, 50),
        b'{"title": "t", "blocks": [' + b"," * rng.randint(1, 5) + b"]}",
        b'{"title": "t" "blocks": []}',
        b"\xef\xbb\xbf" + b'{"title": NaN}',
        b'{"revision": 1e999}',
        b'{"revision": -}',
    ]
    return rng.choice(choices)


_NUMBERS = [2, 3, 7, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]
"""Revision and version numbers that name nothing, up to ones no SQL integer holds."""
_FACT_KEYS = ["network.embassy_count", "iss.jurisdiction", "post.in_country", "dci.established_on"]
_TAGS = ["fr", "en", "FR", "en-GB", "de", "zz", "pt-BR"]


def _fact_value(rng: random.Random, kind: str | None = None) -> Json:
    values: dict[str, Any] = {
        "integer": rng.randint(-(10**15), 10**15),
        "decimal": f"{rng.randint(-999, 999)}.{rng.randint(0, 99)}",
        "date": f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "year": rng.randint(1, 9999),
        "territories": rng.sample(["IN", "NP", "LK", "MV", "FR", "XX"], rng.randint(1, 4)),
        "text": dict.fromkeys(rng.sample(_TAGS, rng.randint(1, 3)), "texte"),
        "url": "https://example.org/" + str(rng.randint(0, 99)),
        "email": f"user{rng.randint(0, 99)}@example.org",
    }
    chosen = kind or rng.choice(sorted(values))
    return {"type": chosen, "value": values[chosen]}


def _semantic(rng: random.Random, route: str, page: int, fragment: int) -> tuple[str, str, Json, dict[str, str]]:
    """A body that matches the schema but that the service must refuse: (method, url, body, extra headers)."""
    headers: dict[str, str] = {}
    if route in ("page", "translation", "fragment"):
        spans = [text("x"), *(fact(rng.choice(_FACT_KEYS)) for _ in range(rng.randint(0, 3)))]
        spans.insert(rng.randint(0, len(spans)), fact(f"fuzz.unknown{rng.randint(0, 999)}"))  # always refused
        blocks = [paragraph(*spans)]
        for _ in range(rng.randint(0, 2)):
            blocks.insert(rng.randint(0, len(blocks)), include(rng.choice([FRAGMENT, SLUG, "fuzz-missing"])))
        body = revision(*blocks)
        base = 1 if rng.random() < 0.6 else rng.choice([None, *_NUMBERS])
        if base is not None and rng.random() < 0.3:
            headers["If-Match"] = f'"r{base}"'
        elif base is not None:
            body["base_revision"] = base
        if route == "translation" or rng.random() < 0.2:
            source = 1 if rng.random() < 0.6 else rng.choice([None, *_NUMBERS])
            if source is not None:
                body["source_revision"] = source
        document = fragment if route == "fragment" else page
        locale = ("en" if route == "translation" else "fr") if rng.random() < 0.7 else rng.choice(_TAGS)
        return "POST", revisions_url(document, locale), body, headers
    if route == "publish":
        locale = rng.choice(_TAGS)
        return "POST", f"/v1/documents/{page}/variants/{locale}/publish", {"revision": rng.choice(_NUMBERS)}, headers
    if route == "revert":
        body = {"revision": rng.choice(_NUMBERS)}
        if rng.random() < 0.8:
            body["base_revision"] = rng.choice([1, 1, *_NUMBERS])
        return "POST", f"/v1/documents/{page}/variants/fr/revert", body, headers
    if route == "document":
        body = rng.choice(
            [
                {"kind": "page", "site": "in-new-delhi", "slug": SLUG, "source_locale": rng.choice(_TAGS)},
                {"kind": "page", "site": f"nowhere-{rng.randint(0, 99)}", "slug": "x", "source_locale": "fr"},
                {"kind": "page", "site": "np-kathmandu", "slug": "fuzz", "source_locale": rng.choice(_TAGS[3:])},
                {"kind": "fragment", "key": FRAGMENT, "source_locale": rng.choice(_TAGS)},
                {"kind": "fragment", "key": "fuzz-fragment", "site": "in-new-delhi", "source_locale": "fr"},
                {"kind": "page", "key": "fuzz-page", "source_locale": "fr"},
            ]
        )
        return "POST", "/v1/documents", body, headers
    if route == "fact":
        body = rng.choice(
            [
                {"key": rng.choice(_FACT_KEYS[:1]), "value": _fact_value(rng)},
                {"key": "fuzz.fact", "scope": f"nowhere-{rng.randint(0, 99)}", "value": _fact_value(rng)},
                {"key": "fuzz.fact", "value": {"type": "territories", "value": ["IN", "XX"]}},
                {"key": "fuzz.fact", "value": {"type": "text", "value": {"fr": "x", "zz": "y"}}},
            ]
        )
        return "POST", "/v1/facts", body, headers
    if route == "fact-update":
        if rng.random() < 0.5:
            body = {"value": _fact_value(rng, "integer")}
            base = rng.choice([None, *_NUMBERS])
            if base is not None and rng.random() < 0.3:
                headers["If-Match"] = f'"v{base}"'
            elif base is not None:
                body["base_version"] = base
        else:
            body = {"value": _fact_value(rng, rng.choice(["date", "text", "year", "territories"])), "base_version": 1}
        return "PUT", "/v1/facts/global/network.embassy_count", body, headers
    locales = rng.sample(_TAGS, rng.randint(1, 3))
    body = rng.choice(
        [
            {"key": rng.choice(["in-new-delhi", "global"]), "name": "x", "locales": locales, "default_locale": "fr"},
            {"key": "fuzz-site", "name": "x", "locales": ["fr", "en"], "default_locale": rng.choice(["de", "zz"])},
            {"key": "fuzz-site", "name": "x", "locales": ["fr", "FR"], "default_locale": "fr"},
            {"key": "fuzz-site", "name": "x", "locales": ["fr"], "default_locale": "fr", "fallback": ["en"]},
        ]
    )
    return "POST", "/v1/sites", body, headers


async def test_fuzz_write_routes_never_answer_500(
    client: AsyncTestClient[Litestar], seeded: Database, admin: dict[str, str]
) -> None:
    """Random JSON, broken copies of valid bodies, raw garbage, and well-formed bodies that break a rule.

    None of them may be accepted, none may answer 500, and the database must not change.
    """
    rng = random.Random(1234)
    page = await page_id(seeded, "in-new-delhi")
    fragment = await fragment_id(seeded)
    valid_revision = revision(
        {"type": "heading", "level": 2, "content": [text("H")]},
        paragraph(text("n = "), fact("network.embassy_count")),
        {"type": "list", "items": [[text("a")], [text("b")]]},
        include(FRAGMENT),
        base_revision=1,
    )
    routes: list[tuple[str, str, str, Json]] = [
        ("page", "POST", revisions_url(page, "fr"), valid_revision),
        ("translation", "POST", revisions_url(page, "en"), {**valid_revision, "source_revision": 1}),
        ("fragment", "POST", revisions_url(fragment, "fr"), valid_revision),
        ("publish", "POST", f"/v1/documents/{page}/variants/fr/publish", {"revision": 1}),
        ("revert", "POST", f"/v1/documents/{page}/variants/fr/revert", {"revision": 1, "base_revision": 1}),
        (
            "document",
            "POST",
            "/v1/documents",
            {"kind": "page", "site": "in-new-delhi", "slug": "new", "source_locale": "fr"},
        ),
        ("fact", "POST", "/v1/facts", {"key": "fuzz.fact", "value": {"type": "integer", "value": 1}}),
        (
            "fact-update",
            "PUT",
            "/v1/facts/global/network.embassy_count",
            {"value": {"type": "integer", "value": 1}, "base_version": 1},
        ),
        ("site", "POST", "/v1/sites", {"key": "fuzz-site", "name": "Fuzz", "locales": ["fr"], "default_locale": "fr"}),
    ]
    requests: list[tuple[str, str, bytes, dict[str, str]]] = []
    for i in range(252):
        route, method, url, valid = routes[i % len(routes)]
        kind = i // len(routes) % 4
        if kind == 0:
            requests.append((method, url, json.dumps(_random_value(rng)).encode(), {}))
        elif kind == 1:
            requests.append((method, url, json.dumps(_mutated(rng, valid)).encode(), {}))
        elif kind == 2:
            requests.append((method, url, _raw_garbage(rng), {}))
        else:
            method, url, body, extra = _semantic(rng, route, page, fragment)
            requests.append((method, url, json.dumps(body).encode(), extra))
    # Boundary values, deterministically: every number that names nothing, in every numeric field.
    publish, revert = routes[3][2], routes[4][2]
    for number in _NUMBERS:
        for method, url, body in (
            ("POST", publish, {"revision": number}),
            ("POST", revert, {"revision": number, "base_revision": 1}),
            ("POST", revert, {"revision": 1, "base_revision": number}),
            ("POST", revisions_url(page, "fr"), {**valid_revision, "base_revision": number}),
            ("POST", revisions_url(page, "en"), {**valid_revision, "source_revision": number}),
            ("PUT", routes[7][2], {"value": {"type": "integer", "value": 1}, "base_version": number}),
        ):
            requests.append((method, url, json.dumps(body).encode(), {}))

    before = await dump(seeded)
    failures: list[str] = []
    for method, url, raw, extra in requests:
        headers = {**admin, "content-type": "application/json", **extra}
        response = await client.request(method, url, content=raw, headers=headers)
        content_type = response.headers.get("content-type", "")
        problem: Any = response.json() if content_type.startswith(PROBLEM_MEDIA_TYPE) else None
        if not (
            400 <= response.status_code < 500
            and isinstance(problem, dict)
            and problem.get("status") == response.status_code
            and str(problem.get("type", "")).startswith(PROBLEM_PREFIX)
            and problem.get("detail")
        ):
            failures.append(f"{method} {url} {raw[:150]!r} -> {response.status_code} {response.text[:160]}")
    assert not failures, f"{len(failures)} of {len(requests)} fuzzed requests were not a 4xx problem:\n" + "\n".join(
        failures
    )
    assert await dump(seeded) == before
