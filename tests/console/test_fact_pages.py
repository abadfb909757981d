"""The facts pages over HTTP: renderings per locale, the edit flow with its fan-out, conflicts, and who may edit."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import TokenFactory
from tests.console.support import csrf_of, secret_of, sign_in

Client = AsyncTestClient[Litestar]
DELHI = "in-new-delhi"
KATHMANDU = "np-kathmandu"
EDIT = "/console/facts/global/network.embassy_count/edit"


def row_of(html: str, key: str) -> str:
    found = re.search(rf'<tr data-fact="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {key}"
    return found.group(1)


def rendered(row: str, locale: str) -> str:
    found = re.search(rf'<td lang="{locale}" data-locale="{locale}">(.*?)</td>', row, re.S)
    assert found, f"no {locale} cell"
    return found.group(1)


async def signed_in(client: Client, make_token: TokenFactory, role: str, sites: list[str] | None = None) -> None:
    response = await sign_in(client, secret_of(await make_token(role, sites=sites)))
    assert response.status_code == 303


async def fact_of(client: Client, scope: str, key: str) -> dict[str, Any]:
    response = await client.get(f"/v1/facts/{scope}/{key}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def post_edit(client: Client, path: str, **fields: str) -> Any:
    form = await client.get("/console")  # any page carries the session's CSRF token
    return await client.post(path, data={"_csrf_token": csrf_of(form.text), **fields})


async def test_the_tables_render_each_value_in_each_locale_with_the_renderers_formatting(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor")
    html = (await client.get("/console/facts")).text
    date = row_of(html, "dci.established_on")
    assert rendered(date, "fr") == "1er septembre 2010"
    assert rendered(date, "en") == "September 1, 2010"
    assert rendered(row_of(html, "network.embassy_count"), "en") == "78"
    assert f'href="{EDIT}"' in html

    site = (await client.get(f"/console/sites/{DELHI}/facts")).text
    territories = row_of(site, "iss.jurisdiction")
    assert rendered(territories, "fr") == "Inde, Népal, Sri Lanka et Maldives"
    assert rendered(territories, "en") == "India, Nepal, Sri Lanka, and Maldives"
    assert rendered(row_of(site, "post.in_country"), "fr") == "en Inde"
    assert "network.embassy_count" not in site  # global facts are on their own page


async def test_review_shows_the_new_value_and_the_fan_out_then_save_reaches_both_sites(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor")
    form = await client.get(EDIT)
    assert form.status_code == 200
    assert 'name="base_version" value="1"' in form.text
    assert 'value="78"' in form.text

    review = await post_edit(client, EDIT, base_version="1", value="1234", step="review")
    assert review.status_code == 200, review.text
    assert 'data-testid="new-fr">1\u202f234<' in review.text
    assert 'data-testid="new-en">1,234<' in review.text
    summary = re.search(r'data-testid="fanout-summary">(.*?)</p>', review.text, re.S)
    assert summary
    assert " ".join(summary.group(1).split()) == "This will re-render 2 pages (4 renders) on 2 sites:"
    assert f'data-site="{DELHI}"' in review.text
    assert f'data-site="{KATHMANDU}"' in review.text
    assert (await fact_of(client, "global", "network.embassy_count"))["version"] == 1  # nothing saved yet

    saved = await post_edit(client, EDIT, base_version="1", value="1234", step="save", message="new count")
    assert saved.status_code == 303
    assert saved.headers["location"] == "/console/facts?saved=network.embassy_count"
    fact = await fact_of(client, "global", "network.embassy_count")
    assert (fact["version"], fact["value"]) == (2, {"type": "integer", "value": 1234})
    listing = (await client.get(saved.headers["location"])).text
    assert "now at version 2" in listing
    for site in (DELHI, KATHMANDU):
        public = await client.get(f"/v1/sites/{site}/pages/internal-security-section", params={"locale": "en"})
        assert "1,234" in public.text


async def test_a_conflict_shows_the_heads_value_and_keeps_what_was_typed(
    client: Client, make_token: TokenFactory, admin: dict[str, str], seeded: Database
) -> None:
    await signed_in(client, make_token, "editor")
    other = await client.put(
        "/v1/facts/in-new-delhi/post.in_country",
        json={"value": {"type": "text", "value": {"fr": "en Inde (New Delhi)", "en": "in India"}}, "base_version": 1},
        headers=admin,
    )
    assert other.status_code == 200, other.text
    path = "/console/facts/in-new-delhi/post.in_country/edit"
    typed = {"text-fr": "en République indienne", "text-en": "in the Republic of India"}
    conflict = await post_edit(client, path, base_version="1", step="save", **typed)
    assert conflict.status_code == 409
    assert "Someone saved version 2" in conflict.text
    assert "en Inde (New Delhi)" in conflict.text  # the head's value
    assert 'value="en République indienne"' in conflict.text  # what was typed, kept
    assert 'name="base_version" value="2"' in conflict.text  # re-based on the head
    assert (await fact_of(client, DELHI, "post.in_country"))["version"] == 2

    again = await post_edit(client, path, base_version="2", step="save", **typed)
    assert again.status_code == 303
    fact = await fact_of(client, DELHI, "post.in_country")
    assert (fact["version"], fact["value"]["value"]["fr"]) == (3, "en République indienne")


async def test_a_value_of_the_wrong_shape_gets_the_form_back_with_what_to_type(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor")
    cases = [
        (EDIT, "seventy", "Enter a whole number"),
        ("/console/facts/global/dci.established_on/edit", "2010-13-45", "Enter a date as year-month-day"),
        (f"/console/facts/{DELHI}/iss.jurisdiction/edit", "India, XX1", "country codes of two capital letters"),
    ]
    for path, value, hint in cases:
        response = await post_edit(client, path, base_version="1", value=value, step="save")
        assert response.status_code == 400, path
        assert hint in response.text
        assert f'value="{value}"' in response.text
    assert (await fact_of(client, "global", "network.embassy_count"))["version"] == 1
    no_base = await post_edit(client, EDIT, value="5", step="save")
    assert no_base.status_code == 400
    assert "which version of the fact it was opened on" in no_base.text.replace("\n", " ")
    unknown_territory = await post_edit(
        client, f"/console/facts/{DELHI}/iss.jurisdiction/edit", base_version="1", value="IN, QQ", step="save"
    )
    assert unknown_territory.status_code in (400, 422)
    assert (await fact_of(client, DELHI, "iss.jurisdiction"))["version"] == 1


async def test_a_reader_sees_the_table_without_edit_controls_and_its_post_is_refused(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "reader")
    html = (await client.get("/console/facts")).text
    assert "1er septembre 2010" in html
    assert "/edit" not in html
    assert '<form method="post" action="/console/facts' not in html
    assert (await client.get(EDIT)).status_code == 403
    refused = await post_edit(client, EDIT, base_version="1", value="5", step="save")
    assert refused.status_code == 403
    assert "Ask an administrator" in refused.text
    assert (await fact_of(client, "global", "network.embassy_count"))["version"] == 1


async def test_a_site_editor_edits_its_sites_facts_only(
    client: Client, make_token: TokenFactory, seeded: Database
) -> None:
    await signed_in(client, make_token, "editor", sites=[DELHI])
    assert "/edit" in (await client.get(f"/console/sites/{DELHI}/facts")).text
    assert "/edit" not in (await client.get("/console/facts")).text
    assert (await client.get(f"/console/sites/{KATHMANDU}/facts")).status_code == 403
    refused = await post_edit(
        client, f"/console/facts/{KATHMANDU}/post.in_country/edit", base_version="1", step="save", **{"text-fr": "x"}
    )
    assert refused.status_code == 403
    assert (await fact_of(client, KATHMANDU, "post.in_country"))["version"] == 1
