"""The OpenAPI document describes the service exactly: Schemathesis against a real server, and the rules behind it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.domain.locales import normalize_locale
from services.content.http.openapi import body_structs, ecma_pattern, integer_pattern, known_locales
from services.content.storage.database import Database
from services.content.usecases.tokens import create_token
from tests.sync_support import Process, free_port, sync_env, test_redis_url, wait_http

CONFIG = Path(__file__).parent / "data" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "st"


def _admin_secret(database_url: str) -> str:
    async def issue() -> str:
        db = Database.from_url(database_url, pooled=False)
        try:
            return (await create_token(db, "contract", "admin", None, None)).secret
        finally:
            await db.close()

    return asyncio.run(issue())


@pytest.mark.slow
def test_schemathesis_finds_nothing_the_document_does_not_say(
    database_url: str, seeded: Database, tmp_path: Path
) -> None:
    """Every check of Schemathesis, deterministic and bounded, on the demo content behind a real server.

    It fails on a server error, a response that breaks its schema, an undocumented status or
    content type, a refused schema-valid request, an accepted schema-invalid one, a wrong
    ``Allow``, and a broken link between operations (the stateful phase follows the links).
    """
    secret = _admin_secret(database_url)
    port = free_port()
    server = Process(["serve", "--port", str(port)], sync_env(database_url, test_redis_url(), port), tmp_path / "log")
    try:
        api = f"http://127.0.0.1:{port}"
        wait_http(api + "/health/live")
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{api}/schema/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {secret}",
                "--max-examples",
                "10",
                # The same cases every run (this also turns off Schemathesis' example database).
                "--generation-deterministic",
                "--workers",
                "1",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
            cwd=tmp_path,
        )
    finally:
        server.close()
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:] + "\nserver log:\n" + server.output()[-5000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in run.stdout, phase


@pytest.fixture
async def document(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        assert op.get("summary"), (method, path)
        assert op.get("description"), (method, path)
        assert op["summary"] != op["operationId"], (method, path)


def test_bodies_that_refuse_unknown_fields_say_so(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    checked = 0
    for struct in body_structs():
        if struct.__name__ in components and struct.__struct_config__.forbid_unknown_fields:
            assert components[struct.__name__].get("additionalProperties") is False, struct.__name__
            checked += 1
    assert checked >= 10
    body = document["paths"]["/v1/sites"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    site = _resolve(document, body)
    # Constraints inside lists are kept (Litestar's own rendering dropped them).
    assert site["properties"]["locales"]["items"] == {"$ref": "#/components/schemas/Locale"}


def test_locales_are_the_ones_the_service_accepts(document: dict[str, Any]) -> None:
    locale = document["components"]["schemas"]["Locale"]
    pattern = re.compile(locale["pattern"])
    for tag in known_locales():
        assert pattern.match(tag)
        assert normalize_locale(tag) == tag
    for refused in ("0", "zz", "und", "fr-", "FR_ca", "root"):
        assert not pattern.match(refused), refused
    for path, _, op in _operations(document):
        for parameter in op.get("parameters", []):
            if parameter["name"] == "locale":
                assert parameter["schema"] == {"$ref": "#/components/schemas/Locale"}, path


def test_every_path_parameter_is_constrained(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        for parameter in op.get("parameters", []):
            if parameter["in"] != "path":
                continue
            schema = parameter["schema"]
            constrained = "$ref" in schema or "pattern" in schema or "maximum" in schema
            assert constrained, (method, path, parameter["name"])


def test_every_error_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        assert "5XX" in op["responses"], (method, path)
        for status, response in op["responses"].items():
            if status[0] not in "45" or (path, status) == ("/health/ready", "503"):
                continue
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (method, path, status)


def test_the_metrics_and_the_html_page_are_documented_as_what_they_are(document: dict[str, Any]) -> None:
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    html = document["paths"]["/v1/sites/{site}/pages/{slug}.html"]["get"]
    assert list(html["responses"]["200"]["content"]) == ["text/html"]
    page = document["paths"]["/v1/sites/{site}/pages/{slug}"]["get"]
    assert set(page["responses"]["200"]["content"]) == {"application/json", "text/html"}
    export = document["paths"]["/v1/documents/{document_id}/variants/{locale}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/x-gettext-translation", "application/xliff+xml"}


def test_links_name_operations_and_parameters_that_exist(document: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in _operations(document)}
    count = 0
    for path, method, op in _operations(document):
        for status, response in op["responses"].items():
            for name, link in response.get("links", {}).items():
                target = by_id[link["operationId"]]
                names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
                names |= {p["name"] for p in target.get("parameters", [])}
                for parameter in link.get("parameters", {}):
                    assert parameter in names, (method, path, status, name, parameter)
                count += 1
    assert count >= 40
    created = document["paths"]["/v1/documents"]["post"]["responses"]["201"]["links"]
    assert created["GetDocument"]["parameters"] == {"document_id": "$response.body#/id"}


def test_patterns_mean_in_json_schema_what_they_mean_to_msgspec() -> None:
    python = r"^(?:https?://[^\s<>\"']+|mailto:[^\s<>\"']+)$"
    ecma = ecma_pattern(python)
    assert r"\s" not in ecma
    for code in range(0x110000):
        text = "https://" + chr(code)
        assert bool(re.match(python, text)) == bool(re.match(ecma, text)), hex(code)
    with pytest.raises(ValueError, match=r"\\d"):
        ecma_pattern(r"^\d+$")


def test_the_number_pattern_is_exactly_one_to_the_maximum() -> None:
    for maximum in (1, 9, 10, 19, 20, 99, 100, 101, 555, 1000, 2047):
        pattern = re.compile("^" + integer_pattern(maximum) + "$")
        assert [n for n in range(3000) if pattern.match(str(n))] == list(range(1, maximum + 1)), maximum
    big = re.compile("^" + integer_pattern(2**31 - 1) + "$")
    assert big.match("2147483647")
    assert not big.match("2147483648")
    assert not big.match("01")


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/sites", "GET, OPTIONS, POST"),
        ("/v1/facts", "GET, OPTIONS, POST"),
        ("/v1/documents/1", "DELETE, GET, OPTIONS"),
        ("/v1/facts/global/embassy-count", "DELETE, GET, OPTIONS, PUT"),
        ("/v1/documents/1/variants/fr/revisions", "GET, OPTIONS, POST"),
    ],
)
async def test_options_lists_every_method_of_the_route(
    client: AsyncTestClient[Litestar], path: str, methods: str
) -> None:
    response = await client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == methods


def test_body_structs_have_one_name_each() -> None:
    # Components are named after their Struct: two Structs of one name would share a schema.
    names = [struct.__name__ for struct in body_structs()]
    assert len(names) == len(set(names))
    assert {"SiteCreate", "RevisionCreate", "FactCreate", "Problem", "PageRender"} <= set(names)


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(("script", str(values["src"])))
            else:
                self._in_script = True
        elif tag == "link" and values.get("href"):
            self.urls.append((str(values.get("rel")), str(values["href"])))
        elif tag == "style":
            self.inline_styles += 1
        if "style" in values:
            self.inline_styles += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_the_api_reference_loads_everything_from_the_service(
    client: AsyncTestClient[Litestar], page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    for loophole in ("http", "*", "unsafe"):
        assert loophole not in policy, loophole
    assert "script-src 'self'" in policy
    parser = _Resources()
    parser.feed(response.text)
    # Nothing inline, so the policy needs no 'unsafe-inline'.
    assert parser.inline_scripts == 0
    assert parser.inline_styles == 0
    kinds = {kind for kind, _ in parser.urls}
    assert {"script", "stylesheet", "icon"} <= kinds
    expected = {"script": "text/javascript", "stylesheet": "text/css", "icon": "image/png"}
    for kind, url in parser.urls:
        absolute = urljoin(str(response.url), url)
        assert urlsplit(absolute).netloc == urlsplit(str(response.url)).netloc, url
        asset = await client.get(urlsplit(absolute).path)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(expected[kind]), (url, asset.headers["content-type"])
        assert len(asset.content) > 100, url


@pytest.mark.parametrize("path", ["/schema/nope", "/schema/redoc", "/schema/openapi.yaml", "/schema/assets/nope.js"])
async def test_unknown_schema_pages_are_problems(client: AsyncTestClient[Litestar], path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:liaison:problem:not-found"
