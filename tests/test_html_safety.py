"""HTML is safe by construction: no input makes a published page carry markup or a script."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.storage.database import Database
from tests.conftest import dump
from tests.helpers import fact, paragraph, revision, text

Client = AsyncTestClient[Litestar]

INJECTIONS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</p><script>alert(1)</script><p>",
    "' onmouseover='alert(1)",
    '" onmouseover="alert(1)',
    "<svg onload=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">click</a>',
    "<a href=https://example.org onclick=alert(1)>click</a>",
    "<body onload=alert(1)>",
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "</article><script>alert(1)</script>",
    "</h1><h1 onclick=alert(1)>",
    '<div style="width:expression(alert(1))">',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "`\"'><script>alert(1)</script>",
    '<base href="javascript:/">',
    "<template><script>alert(1)</script></template>",
    "{{constructor.constructor('alert(1)')()}}",
]

ALLOWED_TAGS = {"article", "h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "em", "strong", "a"}
ALLOWED_TAGS |= {"section", "data", "time", "nav"}
ALLOWED_ATTRIBUTES = {"lang", "id", "href", "value", "datetime", "data-fragment"}
# The service's own words around the content: language switcher, link to the top, fallback notice.
ALLOWED_ATTRIBUTES |= {"class", "hreflang", "aria-current", "aria-label"}
TOP = "#top"
SAFE_SCHEMES = ("http://", "https://", "mailto:")

BAD_SCHEME_LINKS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "javascript://example.org/%0aalert(1)",
    "java\tscript:alert(1)",
    "&#106;avascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://example.org/",
    "//evil.example/",
    "/relative/path",
    "",
]
ODD_HTTPS_LINKS = [
    'https://example.org/"><script>alert(1)</script>',
    "https://example.org/<script>alert(1)</script>",
    "https://example.org/' onmouseover='alert(1)",
    'https://example.org/" onmouseover="alert(1)',
    "https://example.org/ onmouseover=alert(1)",
    "https://example.org/`onmouseover=alert(1)`",
    'mailto:someone@example.org"onmouseover="alert(1)',
]


class Inspector(HTMLParser):
    """Everything an HTML parser sees in a render."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.other: list[str] = []
        self.open: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(tag)
        if not self.open or self.open.pop() != tag:
            self.unbalanced.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append("comment " + data)

    def handle_decl(self, decl: str) -> None:
        self.other.append("decl " + decl)

    def handle_pi(self, data: str) -> None:
        self.other.append("pi " + data)

    def unknown_decl(self, data: str) -> None:
        self.other.append("unknown " + data)


def assert_safe(html: str) -> str:
    """Check a render's HTML and return its text as a browser would show it."""
    assert "<script" not in html.lower()
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    assert set(inspector.tags) <= ALLOWED_TAGS, set(inspector.tags) - ALLOWED_TAGS
    for name, value in inspector.attributes:
        assert not name.lower().startswith("on"), (name, value)
        assert name in ALLOWED_ATTRIBUTES, name
        if name == "href":
            assert value is not None
            assert value == TOP or value.startswith(SAFE_SCHEMES), value
    assert inspector.other == []
    assert inspector.unbalanced == []
    assert inspector.open == []
    return "".join(inspector.text)


async def create_page(client: Client, admin: dict[str, str], slug: str) -> int:
    response = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": "in-new-delhi", "slug": slug, "source_locale": "fr"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    document_id: int = response.json()["id"]
    return document_id


def link(label: str, target: str) -> dict[str, Any]:
    return text(label, link=target)


async def test_injections_in_every_text_field_come_out_as_text(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    for i, injection in enumerate(INJECTIONS):
        key = f"inject.t{i}"
        created = await client.post(
            "/v1/facts",
            json={"key": key, "value": {"type": "text", "value": {"fr": injection, "en": injection}}},
            headers=admin,
        )
        assert created.status_code == 201, (injection, created.text)
        slug = f"inject-{i}"
        doc = await create_page(client, admin, slug)
        body = revision(
            injection,
            {"type": "heading", "level": 2, "content": [text(injection, marks=["em", "strong"])]},
            paragraph(text(injection), fact(key), fact("network.embassy_count"), fact("dci.established_on")),
            paragraph(link(injection, "https://example.org/page?a=1&b=2"), fact(key, link="mailto:asi@example.org")),
            {"type": "list", "ordered": True, "items": [[text(injection)], [fact(key, marks=["strong"])]]},
        )
        written = await client.post(f"/v1/documents/{doc}/variants/fr/revisions", json=body, headers=admin)
        assert written.status_code == 201, (injection, written.text)
        published = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
        assert published.status_code == 200, published.text

        page = await client.get(f"/v1/sites/in-new-delhi/pages/{slug}", params={"locale": "fr"})
        assert page.status_code == 200, (injection, page.text)
        as_html = await client.get(f"/v1/sites/in-new-delhi/pages/{slug}.html", params={"locale": "fr"})
        assert as_html.status_code == 200
        assert as_html.headers["content-type"].startswith("text/html")
        assert as_html.text == page.json()["html"]
        assert page.json()["title"] == injection, "JSON keeps the text as written"

        shown = assert_safe(as_html.text)
        # Escaped, not dropped: the visitor reads the text exactly as the editor typed it.
        assert shown.count(injection) >= 7, (injection, shown)
        assert "https://example.org/page?a=1&b=2" in {
            value for name, value in _attributes(as_html.text) if name == "href"
        }


def _attributes(html: str) -> list[tuple[str, str | None]]:
    inspector = Inspector()
    inspector.feed(html)
    return inspector.attributes


async def test_links_with_a_bad_scheme_are_refused_at_save(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    doc = await create_page(client, admin, "links")
    before = await dump(seeded)
    for target in BAD_SCHEME_LINKS:
        for span in (link("click", target), fact("network.embassy_count", link=target)):
            response = await client.post(
                f"/v1/documents/{doc}/variants/fr/revisions",
                json=revision("Liens", paragraph(span)),
                headers=admin,
            )
            assert response.status_code == 400, (target, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        bad_fact = await client.post(
            "/v1/facts", json={"key": "inject.url", "value": {"type": "url", "value": target}}, headers=admin
        )
        assert bad_fact.status_code == 400, (target, bad_fact.text)
    assert await dump(seeded) == before


async def test_odd_characters_in_https_links_are_refused_or_escaped(
    client: Client, admin: dict[str, str], seeded: Database
) -> None:
    for i, target in enumerate(ODD_HTTPS_LINKS):
        doc = await create_page(client, admin, f"odd-{i}")
        written = await client.post(
            f"/v1/documents/{doc}/variants/fr/revisions",
            json=revision("Lien", paragraph(link("click", target), text(" then "), fact("network.staff_count"))),
            headers=admin,
        )
        if written.status_code != 201:
            assert written.status_code == 400, (target, written.text)
            continue
        published = await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
        assert published.status_code == 200
        page = await client.get(f"/v1/sites/in-new-delhi/pages/odd-{i}.html")
        assert page.status_code == 200
        assert_safe(page.text)
        hrefs = [value for name, value in _attributes(page.text) if name == "href" and value != TOP]
        assert hrefs in ([], [target]), (target, hrefs)


async def test_url_and_email_facts_render_safe_links(client: Client, admin: dict[str, str], seeded: Database) -> None:
    values: list[dict[str, Any]] = [
        {"type": "url", "value": "https://example.org/`onmouseover=alert(1)`"},
        {"type": "url", "value": "https://example.org/?q=<script>"},
        {"type": "url", "value": "https://example.org/a&b=c"},
        {"type": "email", "value": "asi.delhi@example.org"},
        {"type": "email", "value": "x@example.org<script>"},
        {"type": "email", "value": 'x"onmouseover="alert(1)@example.org'},
        {"type": "url", "value": "javascript:alert(1)//https://example.org"},
    ]
    keys: list[str] = []
    for i, value in enumerate(values):
        created = await client.post("/v1/facts", json={"key": f"inject.l{i}", "value": value}, headers=admin)
        if created.status_code == 201:
            keys.append(f"inject.l{i}")
        else:
            assert created.status_code == 400, (value, created.text)
    assert keys, "the well-formed values are accepted"
    doc = await create_page(client, admin, "contacts")
    written = await client.post(
        f"/v1/documents/{doc}/variants/fr/revisions",
        json=revision("Contacts", paragraph(*(fact(key) for key in keys))),
        headers=admin,
    )
    assert written.status_code == 201, written.text
    await client.post(f"/v1/documents/{doc}/variants/fr/publish", json={"revision": 1}, headers=admin)
    page = await client.get("/v1/sites/in-new-delhi/pages/contacts", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert_safe(page.text)
    assert "https://example.org/a&b=c" in [value for name, value in _attributes(page.text) if name == "href"]
    assert "mailto:asi.delhi@example.org" in [value for name, value in _attributes(page.text) if name == "href"]


async def test_control_characters_are_refused_at_save(
    client: AsyncTestClient[Litestar], admin: dict[str, str], seeded: Database
) -> None:
    # NUL and other C0 controls have no place in page text (and PostgreSQL cannot store NUL).
    response = await client.post(
        "/v1/documents",
        json={"kind": "page", "site": "in-new-delhi", "slug": "control-chars", "source_locale": "fr"},
        headers=admin,
    )
    document_id = response.json()["id"]
    for bad in ("\x00<script>alert(1)</script>", "a\x07b", "\x1b[31m"):
        refused = await client.post(
            f"/v1/documents/{document_id}/variants/fr/revisions",
            json={"title": bad, "blocks": [{"type": "paragraph", "content": [{"type": "text", "text": bad}]}]},
            headers=admin,
        )
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "$.title" in refused.json()["detail"]
