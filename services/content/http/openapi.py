"""OpenAPI pieces shared by the routes, and the finishing of the document the service serves.

Litestar builds the document from the routes; `finish_document` then makes it say exactly what
the service does, in one place rather than route by route: the body and response schemas are
msgspec's own (the ones it validates with, ``additionalProperties: false`` included), locales are
the ones Babel knows, every error is an ``application/problem+json`` problem, and responses carry
links to the operations that take the ids they return.
"""

from __future__ import annotations

import copy
import html
import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import msgspec
from babel import localedata
from litestar import Request
from litestar.exceptions import NotFoundException
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.params import HeaderParameter, PathParameter

import schemas
from schemas.blocks import FactKey
from schemas.documents import MAX_NUMBER, RevisionOut, Slug
from schemas.facts import FactScope, LocaleTag
from schemas.problems import Problem
from schemas.sites import SiteKey
from services.content.domain.errors import InvalidLocale
from services.content.domain.locales import normalize_locale

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""Security requirement of routes that need a token."""

PROBLEM_MEDIA_TYPE = "application/problem+json"
_COMPONENTS = "#/components/schemas/"
_PROBLEM_REF = _COMPONENTS + "Problem"

_PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON, a body, path or query parameter that does not match the schema, or an invalid locale",
    401: "No token, or an unknown or revoked one",
    403: "The token's role or scope does not allow this",
    404: "Not found",
    409: "Conflict: stale base revision (the body names the current head), key taken, or still referenced",
    410: "The cursor is older than the retained changes: resynchronise from the page list",
    413: "The body is over the size limit",
    422: "The content breaks a rule (unknown fact or fragment, include cycle, locale not on the site)",
    428: "The base revision is required (body field or If-Match)",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can give."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=_PROBLEM_DESCRIPTIONS[status], media_type=PROBLEM_MEDIA_TYPE
        )
        for status in statuses
    }


def unchanged_head(what: str) -> dict[int, ResponseSpec]:
    """The 200 answer of a revision write that repeats the head: nothing written, the head returned."""
    return {
        200: ResponseSpec(
            data_container=RevisionOut,
            description=f"Unchanged: {what} the head's title, blocks and source revision, so no revision is "
            "written (no event either); the body and ETag are the existing head's",
        )
    }


def pattern_of(annotated: Any) -> str:
    """The regular expression of a msgspec-constrained string type."""
    meta: msgspec.Meta = annotated.__metadata__[0]
    assert meta.pattern is not None  # noqa: S101 - a programming error, caught at import
    return meta.pattern


def integer_pattern(maximum: int) -> str:
    """A regular expression (unanchored) for the decimal integers 1 to ``maximum``, without leading zeros."""
    digits = str(maximum)
    choices = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for at, digit in enumerate(digits):
        low = 1 if at == 0 else 0
        if int(digit) > low:
            rest = len(digits) - at - 1
            below = f"[{low}-{int(digit) - 1}]" if int(digit) - 1 > low else str(low)
            choices.append(digits[:at] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


LOCALE_SHAPE = pattern_of(LocaleTag)
"""The shape of a language tag the schemas check; the document names the exact locales instead."""

POSITIVE_NUMBER = "^" + integer_pattern(MAX_NUMBER) + "$"
"""A revision, version or cursor number written as text (1 to 2^31 - 1)."""


def _path_string(annotated: Any, description: str) -> Any:
    # Documented, not enforced here: the use cases answer an unknown key 404 and a bad locale 400
    # with their own problem, as they always have.
    return Annotated[str, PathParameter(description=description, schema_extra={"pattern": pattern_of(annotated)})]


def _if_match(prefix: str, base: str, example: int) -> Any:
    """The ``If-Match`` parameter of a write: a strong ETag ``"<prefix>N"`` naming its base."""
    return HeaderParameter(
        name="If-Match",
        required=False,
        description=f'ETag of the {base} the write is based on, e.g. "{prefix}{example}"',
        schema_extra={"pattern": f'^"{prefix}{integer_pattern(MAX_NUMBER)}"$', "examples": [f'"{prefix}1"']},
    )


RevisionIfMatch = Annotated[str | None, _if_match("r", "head", 3)]
"""The optional ``If-Match`` of a revision write (``"r3"``)."""
FactIfMatch = Annotated[str | None, _if_match("v", "version", 2)]
"""The optional ``If-Match`` of a fact write (``"v2"``)."""


SiteKeyPath = _path_string(SiteKey, "Site key")
"""A site key in a path."""
LocalePath = _path_string(LocaleTag, "Locale of the variant: one the site offers")
"""A locale in a path."""
SlugPath = _path_string(Slug, "Slug of a published page")
"""A page slug in a path."""
FactScopePath = _path_string(FactScope, "'global' or a site key")
"""A fact scope in a path."""
FactKeyPath = _path_string(FactKey, "Fact key")
"""A fact key in a path."""


@cache
def known_locales() -> tuple[str, ...]:
    """Every locale the service accepts, in its canonical BCP 47 spelling (Babel's locales)."""
    accepted = set()
    for name in localedata.locale_identifiers():
        tag = name.replace("_", "-")
        try:
            if normalize_locale(tag) == tag:
                accepted.add(tag)
        except InvalidLocale:  # a locale Babel has data for, which the service's rules refuse
            continue
    return tuple(sorted(accepted))


def body_structs() -> list[type[msgspec.Struct]]:
    """Every msgspec Struct of the ``schemas`` package (the API's bodies)."""
    found: list[type[msgspec.Struct]] = []
    for module_info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"schemas.{module_info.name}")
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, msgspec.Struct) and value.__module__ == module.__name__:
                found.append(value)
    return found


def _walk(node: Any) -> Any:
    """Every dict inside ``node``, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _operations(document: dict[str, Any]) -> Any:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _use_msgspec_schemas(document: dict[str, Any]) -> None:
    """Replace the component schemas of bodies by msgspec's, the ones requests are validated with.

    Litestar's own rendering of a Struct drops constraints inside lists and unions and never says
    ``additionalProperties: false`` for ``forbid_unknown_fields``; msgspec's says exactly what it checks.
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    structs = [struct for struct in body_structs() if struct.__name__ in components]
    _, exact = msgspec.json.schema_components(structs, ref_template=_COMPONENTS + "{name}")
    components.update(exact)


def _name_the_locales(document: dict[str, Any]) -> None:
    """Make every locale in the document the ``Locale`` component: exactly the locales Babel knows."""
    for node in _walk(document):
        if node.get("pattern") == LOCALE_SHAPE:
            node.clear()
            node["$ref"] = _COMPONENTS + "Locale"
    document["components"]["schemas"]["Locale"] = {
        "type": "string",
        # One pattern rather than an enum of some thousand values: the same set, which tools that
        # try every value of an enum (Schemathesis' coverage phase) can still afford.
        "pattern": "^(?:" + "|".join(re.escape(tag) for tag in known_locales()) + ")$",
        "description": (
            "A locale as a BCP 47 language tag (`fr`, `fr-CA`). Other spellings of these are accepted "
            "and normalised (`FR-ca` is `fr-CA`); an unknown tag is a 400 `invalid-locale` problem."
        ),
        "examples": ["fr", "en"],
    }


def _is_problem(content: dict[str, Any]) -> bool:
    for media in content.values():
        schema = media.get("schema", {})
        # Litestar's automatic 400 (its ValidationException) is rendered by the service as a problem.
        if schema.get("$ref") == _PROBLEM_REF or "status_code" in schema.get("properties", {}):
            return True
    return False


@cache
def _python_space_class() -> str:
    r"""The characters Python's ``\s`` matches, as the inside of an ECMA-262 character class."""
    spaces = [code for code in range(0x110000) if re.match(r"\s", chr(code))]
    ranges: list[list[int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])

    def escaped(code: int) -> str:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return "".join(escaped(low) if low == high else f"{escaped(low)}-{escaped(high)}" for low, high in ranges)


def ecma_pattern(pattern: str) -> str:
    r"""``pattern`` (a Python regular expression, as msgspec checks it) with the meaning it has in JSON Schema.

    JSON Schema reads patterns as ECMA-262, where ``\s`` is another set of characters than Python's
    (Python's takes in U+001C to U+001F and U+0085, for one): ``\s`` is written out as Python's set.
    """
    out: list[str] = []
    in_class = False
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\" and at + 1 < len(pattern):
            pair = pattern[at : at + 2]
            if pair == "\\s":
                out.append(_python_space_class() if in_class else f"[{_python_space_class()}]")
            elif pair in ("\\S", "\\d", "\\D", "\\w", "\\W", "\\b", "\\B"):
                raise ValueError(f"{pattern!r}: {pair} means something else in JSON Schema; write the characters out")
            else:
                out.append(pair)
            at += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        at += 1
    return "".join(out)


def _ecma_patterns(document: dict[str, Any]) -> None:
    for node in _walk(document):
        if isinstance(node.get("pattern"), str):
            node["pattern"] = ecma_pattern(node["pattern"])


def _headers_are_never_null(document: dict[str, Any]) -> None:
    """An optional header is absent or a string, never null: ``str | None`` documents a string.

    (An optional query parameter stays nullable: Litestar reads ``?cursor=null`` as no cursor.)
    """
    for _, _, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "header":
                continue
            schema = parameter.get("schema", {})
            choices = schema.get("oneOf", [])
            kept = [choice for choice in choices if choice != {"type": "null"}]
            if len(choices) == 2 and len(kept) == 1:
                del schema["oneOf"]
                schema.update({**kept[0], **schema})


def _problem_responses(document: dict[str, Any]) -> None:
    """Document every error as the problem it is (``application/problem+json``), 5xx included."""
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}
    for _, _, operation in _operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if status[0] in "45" and _is_problem(response.get("content", {})):
                response["content"] = copy.deepcopy(problem)
                if status.isdigit() and int(status) in _PROBLEM_DESCRIPTIONS:
                    response["description"] = _PROBLEM_DESCRIPTIONS[int(status)]
        responses["5XX"] = {
            "description": (
                "500 `internal-error`: the service failed (logged with the request id); 503 "
                "`database-unavailable`: the database is busy or unreachable, nothing was changed, "
                "retry after `Retry-After` seconds"
            ),
            "content": copy.deepcopy(problem),
        }


_PAGE = "/v1/sites/{site}/pages/{slug}"


def _html_page_route(document: dict[str, Any]) -> None:
    """Document ``{slug}.html``, the page read that always answers the HTML fragment."""
    read = document["paths"].get(_PAGE, {}).get("get")
    if read is None:
        return
    as_html = copy.deepcopy(read)
    as_html["operationId"] = read["operationId"] + "Html"
    as_html["summary"] = "Read a published page as HTML"
    as_html["description"] = (
        "The same page read as without `.html`, answered as the HTML fragment whatever the `Accept` header says."
    )
    as_html["responses"]["200"]["content"] = {"text/html": {"schema": {"type": "string"}}}
    document["paths"][_PAGE + ".html"] = {"get": as_html}


_REVISION = "/v1/documents/{document_id}/variants/{locale}"
_FACT = "/v1/facts/{fact_scope}/{key}"
_OF_REVISION = {"document_id": "$response.body#/document_id", "locale": "$response.body#/locale"}
_REVISION_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetRevision": ("get", _REVISION + "/revisions/{number}", {**_OF_REVISION, "number": "$response.body#/number"}),
    "History": ("get", _REVISION + "/revisions", _OF_REVISION),
    "NextRevision": ("post", _REVISION + "/revisions", {**_OF_REVISION, "header.If-Match": "$response.header.ETag"}),
    "Publish": ("post", _REVISION + "/publish", {**_OF_REVISION, "$body": {"revision": "$response.body#/number"}}),
    "Unpublish": ("post", _REVISION + "/unpublish", _OF_REVISION),
    "Revert": (
        "post",
        _REVISION + "/revert",
        {**_OF_REVISION, "$body": {"revision": "$response.body#/number", "base_revision": "$response.body#/number"}},
    ),
    "Diff": (
        "get",
        _REVISION + "/diff",
        {**_OF_REVISION, "query.from": "$response.body#/number", "query.to": "$response.body#/number"},
    ),
    "GetDocument": ("get", "/v1/documents/{document_id}", {"document_id": "$response.body#/document_id"}),
    "Preview": (
        "get",
        _REVISION + "/revisions/{number}/preview",
        {**_OF_REVISION, "number": "$response.body#/number"},
    ),
    "Activity": ("get", "/v1/documents/{document_id}/activity", {"document_id": "$response.body#/document_id"}),
}
_OF_DOCUMENT = {"document_id": "$response.body#/id"}
_DOCUMENT_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetDocument": ("get", "/v1/documents/{document_id}", _OF_DOCUMENT),
    "DeleteDocument": ("delete", "/v1/documents/{document_id}", _OF_DOCUMENT),
    "Translations": ("get", "/v1/documents/{document_id}/translations", _OF_DOCUMENT),
    "Activity": ("get", "/v1/documents/{document_id}/activity", _OF_DOCUMENT),
    "Usage": ("get", "/v1/documents/{document_id}/usage", _OF_DOCUMENT),
    "WriteSourceRevision": (
        "post",
        _REVISION + "/revisions",
        {**_OF_DOCUMENT, "locale": "$response.body#/source_locale"},
    ),
    "SourceHistory": ("get", _REVISION + "/revisions", {**_OF_DOCUMENT, "locale": "$response.body#/source_locale"}),
}
_OF_SITE = {"site": "$response.body#/key"}
_SITE_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetSite": ("get", "/v1/sites/{key}", {"key": "$response.body#/key"}),
    "ListPages": ("get", "/v1/sites/{site}/pages", _OF_SITE),
    "Changes": ("get", "/v1/changes", {"query.site": "$response.body#/key"}),
    "SiteFacts": ("get", "/v1/facts", {"query.scope": "$response.body#/key"}),
}
_OF_FACT = {"fact_scope": "$response.body#/scope", "key": "$response.body#/key"}
_FACT_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetFact": ("get", _FACT, _OF_FACT),
    "UpdateFact": ("put", _FACT, {**_OF_FACT, "header.If-Match": "$response.body#/etag"}),
    "FactHistory": ("get", _FACT + "/versions", _OF_FACT),
    "Usage": ("get", _FACT + "/usage", _OF_FACT),
    "DeleteFact": ("delete", _FACT, _OF_FACT),
}
_PUBLICATION_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetDocument": _REVISION_LINKS["GetDocument"],
    "Activity": _REVISION_LINKS["Activity"],
    "Unpublish": _REVISION_LINKS["Unpublish"],
    "History": _REVISION_LINKS["History"],
}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, Any]]]] = {
    ("post", "/v1/sites", "201"): _SITE_LINKS,
    ("get", "/v1/sites/{key}", "200"): {name: link for name, link in _SITE_LINKS.items() if name != "GetSite"},
    ("post", "/v1/documents", "201"): _DOCUMENT_LINKS,
    ("get", "/v1/documents/{document_id}", "200"): {
        name: link for name, link in _DOCUMENT_LINKS.items() if name != "GetDocument"
    },
    ("post", _REVISION + "/revisions", "201"): _REVISION_LINKS,
    ("get", _REVISION + "/revisions/{number}", "200"): {
        name: link for name, link in _REVISION_LINKS.items() if name != "GetRevision"
    },
    ("post", _REVISION + "/revert", "201"): _REVISION_LINKS,
    ("post", _REVISION + "/import", "201"): _REVISION_LINKS,
    ("post", _REVISION + "/publish", "200"): _PUBLICATION_LINKS,
    ("post", _REVISION + "/unpublish", "200"): _PUBLICATION_LINKS,
    ("post", "/v1/facts", "201"): _FACT_LINKS,
    ("get", _FACT, "200"): {name: link for name, link in _FACT_LINKS.items() if name != "GetFact"},
    ("put", _FACT, "200"): _FACT_LINKS,
}
"""OpenAPI links: (method, path, status) of a response to the operations that take the ids it returns."""


def _links(document: dict[str, Any]) -> None:
    """Add the `LINKS` to their responses (targets named by operationId); an unknown one is an error."""
    paths = document["paths"]
    for (method, path, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        rendered = {}
        for name, (target_method, target_path, parameters) in links.items():
            link: dict[str, Any] = {"operationId": paths[target_path][target_method]["operationId"]}
            plain = {key: value for key, value in parameters.items() if key != "$body"}
            if plain:
                link["parameters"] = plain
            if "$body" in parameters:
                link["requestBody"] = parameters["$body"]
            rendered[name] = link
        response["links"] = rendered


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document Litestar built, made exact (a new dict; ``document`` is left as it is)."""
    finished = copy.deepcopy(document)
    _use_msgspec_schemas(finished)
    _headers_are_never_null(finished)
    _name_the_locales(finished)
    _ecma_patterns(finished)
    _problem_responses(finished)
    _html_page_route(finished)
    _links(finished)
    return finished


class ExactJsonRenderPlugin(JsonRenderPlugin):
    """Serves ``/schema/openapi.json``: the document as `finish_document` makes it (built once)."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The finished document as JSON."""
        if self._rendered is None:
            self._rendered = self.render_json(request, finish_document(openapi_schema))
        return self._rendered


ASSETS_PATH = "/schema/assets"
"""Where the API reference's scripts and styles are served from (the service itself, no CDN)."""
STATIC_DIRECTORY = Path(__file__).parent / "static"
"""The service's own files for the API reference (the Swagger UI start-up script)."""

SCHEMA_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of the /schema pages: nothing from another host, no inline script or style."""


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI from the files the service serves itself, started by a script rather than inline code.

    The page works without internet and under `SCHEMA_PAGE_POLICY`: Swagger UI's files come from
    the ``swagger-ui-bundle-v2`` package, and ``liaison-swagger.js`` reads the document's URL
    from the page.
    """

    def __init__(self, path: str | list[str] = "/swagger") -> None:
        super().__init__(
            path=path,
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png" sizes="32x32">',
            style=f'<link rel="stylesheet" href="{ASSETS_PATH}/index.css">',
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The Swagger UI page: local scripts and styles only, the document loaded from ``openapi.json``."""
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        page = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    {self.favicon}
    <link rel="stylesheet" href="{self.css_url}">
    {self.style}
  </head>
  <body>
    <div id="swagger-ui" data-spec-url="{spec_url}"></div>
    <script src="{self.js_url}"></script>
    <script src="{self.standalone_preset_js_url}"></script>
    <script src="{ASSETS_PATH}/liaison-swagger.js"></script>
  </body>
</html>
"""
        return page.encode()


def refuse_unknown_schema_paths(request: Request[Any, Any, Any]) -> None:
    """Before-request hook of the /schema router: an unknown page is a 404 problem, not Litestar's HTML page."""
    if request.route_handler.handler_name == "handle_schema_path_not_found":
        raise NotFoundException()
