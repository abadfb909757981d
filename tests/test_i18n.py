"""The service answers in the reader's language: problem details, and the words around a page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.domain.errors import UnknownFact
from services.content.domain.messages import ENGLISH, N_, NN_, Message
from services.content.domain.rendering import LanguageLink, PageWords, body_html
from services.content.i18n import translations
from services.content.storage.database import Database
from tests.helpers import fact, page_id, paragraph, revision, text

Client = AsyncTestClient[Litestar]

DELHI = "/v1/sites/in-new-delhi/pages/internal-security-section"
NBSP = "\u00a0"
NNBSP = "\u202f"
APOSTROPHE = "\u2019"  # the French elision mark, kept out of literals for ruff (RUF001)


async def unknown_fact(client: Client, db: Database, admin: dict[str, str], **headers: str) -> Any:
    url = f"/v1/documents/{await page_id(db, 'in-new-delhi')}/variants/fr/revisions"
    body = revision("Titre", paragraph(text("Voir "), fact("no.such_fact")), base_revision=1)
    return await client.post(url, json=body, headers={**admin, **headers})


# -- problem details ---------------------------------------------------------------------


async def test_a_french_accept_language_gets_a_french_problem(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    french = await unknown_fact(client, seeded, admin, **{"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    english = await unknown_fact(client, seeded, admin)
    assert french.status_code == english.status_code == 422
    assert french.headers["content-language"] == "fr"
    assert english.headers["content-language"] == "en"
    assert french.headers["content-type"].startswith("application/problem+json")

    fr, en = french.json(), english.json()
    assert en["title"] == "Unknown fact"
    assert en["detail"] == "$.blocks[0].content[1].key: no fact 'no.such_fact' in site 'in-new-delhi' or global"
    assert fr["title"] == "Fait inconnu"
    assert fr["detail"] == (
        f"$.blocks[0].content[1].key{NBSP}: aucun fait 'no.such_fact' dans la portée du site 'in-new-delhi' "
        "ni dans la portée globale"
    )
    # Only the words change: the type, the status and the extension members are the same.
    assert {k: v for k, v in fr.items() if k not in ("title", "detail")} == {
        k: v for k, v in en.items() if k not in ("title", "detail")
    }
    assert fr["key"] == "no.such_fact"


async def test_the_language_follows_q_values_and_defaults_to_english(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    for header, language in (
        ("en;q=0.4, fr;q=0.9", "fr"),
        ("fr;q=0.1, en", "en"),
        ("de", "en"),
        ("de, fr-CA;q=0.5", "fr"),
        ("*", "en"),
        ("!!, ,;q=x", "en"),
    ):
        response = await unknown_fact(client, seeded, admin, **{"Accept-Language": header})
        assert response.status_code == 422
        assert response.headers["content-language"] == language, header
        assert response.json()["title"] == {"fr": "Fait inconnu", "en": "Unknown fact"}[language]


async def test_problems_built_by_the_http_layer_are_translated(client: Client, seeded: Database) -> None:
    french = {"Accept-Language": "fr"}
    route = await client.get("/v2/nowhere", headers=french)
    assert route.status_code == 404
    assert route.json()["title"] == "Introuvable"
    assert route.json()["detail"] == "aucune route pour GET /v2/nowhere"
    assert route.headers["content-language"] == "fr"

    unauthenticated = await client.post("/v1/documents", json={}, headers=french)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["title"] == "Authentification requise"
    assert unauthenticated.json()["detail"] == f"il faut l{APOSTROPHE}en-tête 'Authorization: Bearer <jeton>'"

    # msgspec's own words stay in English; the frame around them is translated.
    schema = await client.get("/v1/sites/in-new-delhi/pages", params={"limit": "0"}, headers=french)
    assert schema.status_code == 400
    assert schema.json()["title"] == "La requête ne correspond pas au schéma"
    assert schema.json()["detail"].startswith(f"paramètre de requête 'limit'{NBSP}: ")
    english = await client.get("/v1/sites/in-new-delhi/pages", params={"limit": "0"})
    assert english.json()["detail"].startswith("query parameter 'limit': ")
    assert schema.json()["detail"].split(f"{NBSP}: ", 1)[1] == english.json()["detail"].split(": ", 1)[1]

    bad_locale = await client.get(DELHI, params={"locale": "!!"}, headers=french)
    assert bad_locale.status_code == 400
    assert bad_locale.json()["title"] == "Langue invalide"
    assert bad_locale.json()["detail"] == (
        f"paramètre de requête 'locale'{NBSP}: '!!' n{APOSTROPHE}est pas une étiquette de langue BCP 47"
    )
    assert bad_locale.json()["locale"] == "!!"


async def test_body_too_large_and_malformed_json_in_french(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    url = f"/v1/documents/{await page_id(seeded, 'in-new-delhi')}/variants/fr/revisions"
    headers = {**admin, "Accept-Language": "fr", "Content-Type": "application/json"}
    malformed = await client.post(url, content=b'{"title": ', headers=headers)
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "urn:liaison:problem:malformed-json"
    assert malformed.json()["title"] == f"Le corps n{APOSTROPHE}est pas du JSON valide"

    huge = await client.post(url, content=b'{"title": "' + b"x" * 300_000 + b'"}', headers=headers)
    assert huge.status_code == 413
    assert huge.json()["title"] == "Corps de requête trop volumineux"
    assert huge.json()["detail"] == "le corps de la requête dépasse 262144 octets"


async def test_forbidden_names_the_action_in_the_readers_language(
    client: Client, seeded: Database, make_token: Any
) -> None:
    translator = await make_token("translator", sites=["in-new-delhi"], locales=["en"], name="priya")
    url = f"/v1/documents/{await page_id(seeded, 'in-new-delhi')}/variants/en/publish"
    response = await client.post(url, json={"revision": 1}, headers={**translator, "Accept-Language": "fr"})
    assert response.status_code == 403
    assert response.json()["action"] == "publish", "the machine-readable member stays as it is"
    assert (
        response.json()["detail"] == "le jeton 'priya' (rôle translator) ne peut pas publier sur le site 'in-new-delhi'"
    )


def test_domain_errors_keep_an_english_detail_and_translate_late() -> None:
    error = UnknownFact(
        Message(N_("{path}: no fact '{key}' in {where}"), path="$.x", key="k", where=Message(N_("any scope"))), key="k"
    )
    assert error.detail == str(error) == "$.x: no fact 'k' in any scope"
    assert error.context == {"key": "k"}
    assert error.translated(translations("fr")) == (
        "Fait inconnu",
        f"$.x{NBSP}: aucun fait 'k' dans l{APOSTROPHE}ensemble des portées",
    )
    assert error.translated(ENGLISH) == ("Unknown fact", "$.x: no fact 'k' in any scope")
    plural = Message(NN_("{count} site", "{count} sites"), count=1)
    assert plural.format() == "1 site"
    assert Message(NN_("{count} site", "{count} sites"), count=3).format(translations("fr")) == "3 sites"
    literal = UnknownFact("a text with {braces} is shown as it is")
    assert literal.translated(translations("fr"))[1] == "a text with {braces} is shown as it is"


# -- the words around a page -------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []
        self.texts: list[str] = []
        self.inside: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.inside = dict(attrs)
            self.links.append(self.inside)

    def handle_data(self, data: str) -> None:
        if self.inside is not None:
            self.inside["text"] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.inside = None


def links_of(html: str) -> list[dict[str, str | None]]:
    parser = Links()
    parser.feed(html)
    return parser.links


async def test_a_page_has_a_language_switcher_and_a_link_to_the_top(client: Client, seeded: Database) -> None:
    for locale, top, label in (("fr", "Haut de page", "Langues"), ("en", "Top of the page", "Languages")):
        html = (await client.get(DELHI + ".html", params={"locale": locale})).text
        assert html.startswith(
            f'<article lang="{locale}" id="top">\n<nav class="liaison-languages" aria-label="{label}">'
        )
        links = links_of(html)
        switcher = [link for link in links if link.get("hreflang")]
        assert [(link["hreflang"], link["lang"], link["text"]) for link in switcher] == [
            ("fr", "fr", "français"),
            ("en", "en", "English"),
        ]
        assert [link["hreflang"] for link in switcher if link.get("aria-current") == "true"] == [locale]
        for link in switcher:
            # The demo site has a page URL pattern: the switcher links to the website's pages.
            assert link["href"] == f"http://127.0.0.1:8080/{link['hreflang']}/{DELHI.rsplit('/', 1)[-1]}.html"
        assert links[-1] == {"href": "#top", "text": top}
        assert html.endswith(f'<p class="liaison-top"><a href="#top">{top}</a></p>\n</article>')


async def test_a_page_in_one_locale_has_no_switcher(client: Client, seeded: Database, admin: dict[str, str]) -> None:
    created = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": "in-new-delhi", "slug": "seule", "source_locale": "fr"},
        headers=admin,
    )
    doc = created.json()["id"]
    written = await client.post(
        f"/v1/documents/{doc}/variants/fr/revisions", json=revision("Seule", paragraph(text("Une."))), headers=admin
    )
    assert written.status_code == 201, written.text
    await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
    html = (await client.get("/v1/sites/in-new-delhi/pages/seule.html")).text
    assert "<nav" not in html
    assert '<a href="#top">Haut de page</a>' in html


async def test_a_fallback_says_so_in_the_html_in_the_served_language(client: Client, seeded: Database) -> None:
    exact = await client.get(DELHI, params={"locale": "fr"})
    german = await client.get(DELHI + ".html", headers={"Accept-Language": "de"})
    assert german.headers["content-language"] == "fr"
    assert german.headers["liaison-locale-fallback"] == "true"
    notice = (
        f'<p class="liaison-notice">Cette page n{APOSTROPHE}est pas disponible en allemand{NNBSP}; '
        "elle est affichée en français.</p>"
    )
    assert german.text.startswith(f'<article lang="fr" id="top">\n{notice}\n<nav ')
    assert german.text.replace(notice + "\n", "") == exact.json()["html"]
    assert german.headers["etag"] != (await client.get(DELHI + ".html", params={"locale": "fr"})).headers["etag"]

    # The JSON says it with `fallback`; its `html` is the page's own body.
    as_json = (await client.get(DELHI, headers={"Accept-Language": "de"})).json()
    assert as_json["fallback"] is True
    assert as_json["html"] == exact.json()["html"]
    assert "liaison-notice" not in as_json["html"]

    # A fallback within the language (fr-CA served fr) is not worth a notice.
    regional = await client.get(DELHI + ".html", headers={"Accept-Language": "fr-CA"})
    assert regional.headers["liaison-locale-fallback"] == "true"
    assert regional.text == exact.json()["html"]


async def test_the_notice_is_written_in_the_served_locale(
    client: Client, seeded: Database, admin: dict[str, str]
) -> None:
    doc = await page_id(seeded, "in-new-delhi")
    unpublished = await client.post(f"/v1/documents/{doc}/variants/fr/unpublish", headers=admin)
    assert unpublished.status_code == 200, unpublished.text
    html = await client.get(DELHI + ".html", headers={"Accept-Language": "fr"})
    assert html.headers["content-language"] == "en"
    assert (
        '<p class="liaison-notice">This page is not available in French; here is the English version.</p>' in html.text
    )
    assert "<nav" not in html.text, "one published locale left: no switcher"
    assert '<a href="#top">Top of the page</a>' in html.text


def test_the_body_escapes_the_words_it_is_given() -> None:
    words = PageWords(lang="en", top='<script>"top"</script>', languages='"><img src=x>')
    links = (LanguageLink("fr", "https://example.org/?a=1&b=2"), LanguageLink("en", "javascript:alert(1)"))
    html = body_html("T", [], {}, "fr", words, links)
    assert "<script" not in html
    assert "<img" not in html
    assert 'aria-label="&quot;&gt;&lt;img src=x&gt;"' in html
    assert 'href="https://example.org/?a=1&amp;b=2"' in html
    assert "javascript:" not in html, "an unsafe link target is not written"
    assert '<p class="liaison-top" lang="en">' in html, "words in another language than the page say so"
    assert msgspec.json.encode(words)
