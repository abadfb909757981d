"""History and review over HTTP: timeline, diffs, revert (and its 409), publish and unpublish, their confirmations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory, dump
from tests.console.support import csrf_of, secret_of, sign_in
from tests.helpers import fragment_id, page_id

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
SLUG = "internal-security-section"


async def signed_in(client: Client, make_token: TokenFactory, role: str, **scope: Any) -> dict[str, str]:
    header = await make_token(role, name=f"{role} Ana", **scope)
    assert (await sign_in(client, secret_of(header))).status_code == 303
    return header


async def write_second_revision(client: Client, admin: dict[str, str], document: int, locale: str = "fr") -> None:
    """Revision 2 of the variant: its first text block edited and the title changed, through the API."""
    first = await client.get(f"/v1/documents/{document}/variants/{locale}/revisions/1", headers=admin)
    assert first.status_code == 200, first.text
    body = first.json()
    for block in body["blocks"]:
        if block["type"] == "heading":
            block["content"] = [{"type": "text", "text": "Un titre tout neuf pour la section"}]
            break
    created = await client.post(
        f"/v1/documents/{document}/variants/{locale}/revisions",
        json={"title": body["title"] + " (2026)", "blocks": body["blocks"], "base_revision": 1, "message": "Cap"},
        headers=admin,
    )
    assert created.status_code == 201, created.text


async def public_revision(client: Client, site: str, locale: str) -> tuple[str, int]:
    response = await client.get(f"/v1/sites/{site}/pages/{SLUG}", params={"locale": locale})
    assert response.status_code == 200, response.text
    return response.json()["locale"], response.json()["revision"]


def rows(html: str, kind: str) -> list[str]:
    return re.findall(rf'<tr class="entry-{kind}" data-kind="{kind}" data-revision="(\d*)"', html)


async def test_the_timeline_merges_revisions_and_activity_and_compares_two_revisions(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    document = await page_id(seeded, DELHI)
    await write_second_revision(client, admin, document)
    await signed_in(client, make_token, "editor")

    page = await client.get(f"/console/documents/{document}/fr/history")
    assert page.status_code == 200, page.text
    assert rows(page.text, "revision") == ["2", "1"]
    assert rows(page.text, "publish") == ["1"]  # the seed's publication, from the activity list
    assert 'data-testid="variant-state"' in page.text
    assert "Head: revision 2." in page.text
    assert "Live: revision 1." in page.text
    assert "Cap" in page.text  # the revision's message
    assert f'href="/console/documents/{document}/fr/publish?revision=2"' in page.text

    compared = await client.get(f"/console/documents/{document}/fr/history", params={"from": 1, "to": 2})
    assert compared.status_code == 200
    diff = compared.text.split('data-testid="diff"', 1)[1]
    assert "Changes from revision 1 to revision 2" in diff
    assert "Title changed" in diff
    assert re.search(r"<ins><span class=\"visually-hidden\">\[added:\] </span>[^<]*2026", diff)
    assert "Changed heading at position" in diff
    assert re.search(r"<ins><span class=\"visually-hidden\">\[added:\] </span>[^<]*neuf", diff)
    assert "<del>" in diff  # the old heading's words, struck through and labelled

    missing = await client.get(f"/console/documents/{document}/fr/history", params={"from": 1, "to": 9})
    assert missing.status_code == 404
    assert "no revision 9" in missing.text


async def test_a_revert_sends_its_base_and_a_stale_one_shows_what_changed(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    document = await page_id(seeded, DELHI)
    await write_second_revision(client, admin, document)
    await signed_in(client, make_token, "editor")
    page = await client.get(f"/console/documents/{document}/fr/history")
    token = csrf_of(page.text)

    reverted = await client.post(
        f"/console/documents/{document}/fr/revert",
        data={"revision": "1", "base_revision": "2", "_csrf_token": token},
    )
    assert reverted.status_code == 303
    assert reverted.headers["location"].endswith(f"/documents/{document}/fr/history?done=reverted")
    after = await client.get(reverted.headers["location"])
    assert rows(after.text, "revert") == ["3"]
    assert "Reverted: revision 3 holds the older content" in after.text
    head = await client.get(f"/v1/documents/{document}/variants/fr/revisions/3", headers=admin)
    first = await client.get(f"/v1/documents/{document}/variants/fr/revisions/1", headers=admin)
    assert head.json()["blocks"] == first.json()["blocks"]

    before = await dump(seeded)
    stale = await client.post(  # the same form again: its base (2) is no longer the head (3)
        f"/console/documents/{document}/fr/revert",
        data={"revision": "1", "base_revision": "2", "_csrf_token": token},
    )
    assert stale.status_code == 409
    assert "Someone changed this page in the meantime" in stale.text
    assert "the head is now revision 3" in stale.text
    assert "Changes from revision 2 to revision 3" in stale.text
    assert '<input type="hidden" name="base_revision" value="3">' in stale.text  # the offer again, on the head
    assert await dump(seeded) == before


async def test_publishing_a_page_confirms_which_addresses_change_then_goes_live(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    document = await page_id(seeded, DELHI)
    await write_second_revision(client, admin, document)
    await signed_in(client, make_token, "editor", sites=[DELHI])

    confirm = await client.get(f"/console/documents/{document}/fr/publish", params={"revision": 2})
    assert confirm.status_code == 200, confirm.text
    urls = confirm.text.split('data-testid="urls"', 1)[1]
    assert "Publish revision 2 in French?" in confirm.text
    assert "2 public addresses will change." in urls  # ?locale=fr and the address with no locale asked
    assert f"/v1/sites/{DELHI}/pages/{SLUG}?locale=fr" in urls
    assert re.search(r'<tr class="url-changed" data-requested="fr">', urls)
    assert re.search(r'<tr class="url-same" data-requested="en">', urls)
    assert await public_revision(client, DELHI, "fr") == ("fr", 1)  # a confirmation changes nothing

    published = await client.post(
        f"/console/documents/{document}/fr/publish", data={"revision": "2", "_csrf_token": csrf_of(confirm.text)}
    )
    assert published.status_code == 303
    assert await public_revision(client, DELHI, "fr") == ("fr", 2)
    history = await client.get(published.headers["location"])
    assert "Revision 2 is live." in history.text
    assert rows(history.text, "publish") == ["2", "1"]


async def test_unpublishing_a_locale_confirms_its_fallback_then_readers_get_it(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    document = await page_id(seeded, DELHI)
    await signed_in(client, make_token, "editor")
    confirm = await client.get(f"/console/documents/{document}/en/unpublish")
    assert confirm.status_code == 200, confirm.text
    assert "Take the English version offline?" in confirm.text
    changed = confirm.text.split('<tr class="url-changed" data-requested="en">', 1)[1].split("</tr>", 1)[0]
    assert "English, revision 1" in changed  # now
    assert "French, revision 1" in changed
    assert "fallback" in changed
    assert "1 public address will change." in confirm.text

    done = await client.post(f"/console/documents/{document}/en/unpublish", data={"_csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303
    assert await public_revision(client, DELHI, "en") == ("fr", 1)
    history = await client.get(done.headers["location"])
    assert rows(history.text, "unpublish") == ["1"]
    assert "Not live in this language." in history.text


async def test_publishing_the_shared_fragment_counts_the_pages_of_both_sites(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    fragment = await fragment_id(seeded)
    await signed_in(client, make_token, "editor")
    confirm = await client.get(f"/console/documents/{fragment}/fr/publish")
    assert confirm.status_code == 200, confirm.text
    fanout = confirm.text.split('data-testid="fanout"', 1)[1]
    assert "2 live pages on 2 sites include this fragment: 4 renders will be made again." in fanout
    assert f"<code>{DELHI}</code>" in fanout
    assert f"<code>{KATHMANDU}</code>" in fanout
    unpublish = await client.get(f"/console/documents/{fragment}/en/unpublish")
    assert "2 live pages on 2 sites include this fragment" in unpublish.text


@pytest.mark.parametrize("role", ["reader", "translator"])
async def test_readers_and_translators_see_no_controls_and_their_posts_change_nothing(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database, role: str
) -> None:
    document = await page_id(seeded, DELHI)
    await write_second_revision(client, admin, document)
    await signed_in(client, make_token, role)
    page = await client.get(f"/console/documents/{document}/fr/history")
    assert page.status_code == 200
    assert "edit-control" not in page.text
    assert "/revert" not in page.text
    assert "/publish" not in page.text
    assert "/unpublish" not in page.text
    token = csrf_of(page.text)

    before = await dump(seeded)
    for path, form in [
        ("publish", {"revision": "2"}),
        ("unpublish", {}),
        ("revert", {"revision": "1", "base_revision": "2"}),
    ]:
        refused = await client.post(f"/console/documents/{document}/fr/{path}", data={**form, "_csrf_token": token})
        assert refused.status_code == 403, (path, refused.text)
        assert "may not" in refused.text
    confirm = await client.get(f"/console/documents/{document}/fr/publish")
    assert confirm.status_code == 403
    assert await dump(seeded) == before


async def test_a_publish_without_its_csrf_token_or_with_a_bad_revision_is_refused(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    document = await page_id(seeded, DELHI)
    await signed_in(client, make_token, "editor")
    page = await client.get(f"/console/documents/{document}/fr/history")
    before = await dump(seeded)
    forged = await client.post(f"/console/documents/{document}/fr/publish", data={"revision": "1"})
    assert forged.status_code == 403
    assert "security token" in forged.text
    for bad in ["x", "0", "99999999999"]:
        refused = await client.post(
            f"/console/documents/{document}/fr/publish", data={"revision": bad, "_csrf_token": csrf_of(page.text)}
        )
        assert refused.status_code == 400, (bad, refused.status_code)
    unknown = await client.post(
        f"/console/documents/{document}/fr/publish", data={"revision": "7", "_csrf_token": csrf_of(page.text)}
    )
    assert unknown.status_code == 404
    assert await dump(seeded) == before
