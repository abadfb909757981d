"""RFC 9457 problem responses for every error, so no client input yields a bare 500.

``title`` and ``detail`` are written in the language negotiated from the request's
``Accept-Language`` (French or English; English by default), and ``Content-Language`` says
which. ``type`` and the extension members never change with the language.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from schemas.problems import Problem
from services.content import i18n
from services.content.domain import errors
from services.content.domain.messages import N_, Catalog, Message

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_PREFIX = "urn:liaison:problem:"

logger = logging.getLogger("liaison.http")

_STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.StaleBase: 409,
    errors.StillReferenced: 409,
    errors.RevisionNotServed: 409,
    errors.CursorExpired: 410,
    errors.BaseRequired: 428,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.InvalidLocale: 400,
    errors.InvalidContent: 422,
    errors.DomainError: 400,
}

_HTTP_NAMES = {
    400: ("bad-request", N_("Bad request")),
    404: ("not-found", N_("Not found")),
    405: ("method-not-allowed", N_("Method not allowed")),
    406: ("not-acceptable", N_("Not acceptable")),
    413: ("body-too-large", N_("Request body too large")),
    415: ("unsupported-media-type", N_("Unsupported media type")),
    429: ("too-many-requests", N_("Too many requests")),
}

_PARAMETERS = {
    "query": N_("query parameter '{key}'"),
    "path": N_("path parameter '{key}'"),
    "header": N_("header parameter '{key}'"),
    "cookie": N_("cookie parameter '{key}'"),
}

MALFORMED_JSON = N_("The body is not valid JSON")


def parameter(source: str, key: str) -> Message:
    """How a detail names a request parameter ("query parameter 'locale'")."""
    template = _PARAMETERS.get(source)
    if template is None:
        return Message(N_("{source} parameter '{key}'"), source=source, key=key)
    return Message(template, key=key)


def language_of(request: Request[Any, Any, Any]) -> str:
    """The language of the problem details for ``request`` (from its ``Accept-Language``)."""
    return i18n.negotiate(request.headers.get("accept-language"))


def problem_response(
    status: int,
    name: str,
    title: str,
    detail: str | Message,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    language: str = i18n.DEFAULT_LOCALE,
) -> Response[bytes]:
    """Build an ``application/problem+json`` response; extension members go at top level.

    ``title`` is an English title marked with ``N_`` and ``detail`` a `Message` (or a text
    shown as it is); both are translated into ``language``, which ``Content-Language`` names.
    """
    catalog: Catalog = i18n.translations(language)
    text = detail.format(catalog) if isinstance(detail, Message) else detail
    body: dict[str, Any] = msgspec.to_builtins(
        Problem(type=PROBLEM_PREFIX + name, title=catalog.gettext(title), status=status, detail=text, instance=instance)
    )
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(headers or {}), "Content-Language": language},
    )


def status_of(exc: errors.DomainError) -> int:
    """The HTTP status of a domain error (the console's error pages use the same)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def _domain_error(request: Request[Any, Any, Any], exc: errors.DomainError) -> Response[bytes]:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="liaison"'} if status == 401 else None
    return problem_response(
        status, exc.name, exc.title, exc.message, request.url.path, exc.context, headers, language_of(request)
    )


def _validation_failure(item: dict[str, Any]) -> tuple[str, str, str | Message]:
    """``(source, field, reason)`` of one of Litestar's validation errors, in the API's own terms.

    Litestar names the whole body ``data`` (the handler's parameter); the client knows it as the
    JSON root ``$``. A value missing from the handler's arguments reaches here as the repr of
    a ``KeyError`` (``'data'``); it is said in words instead.
    """
    key, source = item.get("key"), item.get("source")
    source = str(getattr(source, "value", source) or "")  # Litestar passes a ParamType enum
    reason: str | Message = str(item.get("message", ""))
    missing = key is not None and reason == repr(str(key))
    if source == "body":
        field = "$" if key in (None, "", "data") else "$." + str(key).removeprefix("data.")
        if missing:
            reason = Message(N_("a JSON body is required") if field == "$" else N_("this field is required"))
    else:
        field = str(key or "")
        if missing:
            reason = Message(N_("this parameter is required"))
    return source, field, reason


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    catalog = i18n.translations(language := language_of(request))
    messages: list[str] = []
    failures: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        source, field, reason = _validation_failure(item)
        where: str | Message = field if source == "body" else (parameter(source, field) if field else "")
        # msgspec's own words stay as msgspec writes them (English); the frame is translated.
        framed = Message(N_("{field}: {reason}"), field=where, reason=reason) if where else reason
        messages.append(framed.format(catalog) if isinstance(framed, Message) else framed)
        # Extension members never change with the language: `errors` is in English.
        english = framed.format() if isinstance(framed, Message) else framed
        failures.append({"key": field, "source": source, "message": english})
    detail = "; ".join(messages) or str(exc.detail)
    return problem_response(
        400,
        "invalid-body",
        N_("The request does not match the schema"),
        detail,
        request.url.path,
        {"errors": failures},
        language=language,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    name, title = _HTTP_NAMES.get(status, ("http-error", N_("HTTP error")))
    language = language_of(request)
    path = request.url.path
    if status == 404 and isinstance(exc, NotFoundException) and exc.detail == "Not Found":
        detail = Message(N_("no route for {method} {path}"), method=request.method, path=path)
        return problem_response(404, name, title, detail, path, language=language)
    if status >= 500:
        return _internal_error(request, exc)
    if status == 400 and _is_malformed_body(exc):
        # The parser's own words (position, expected token) stay in English.
        return problem_response(400, "malformed-json", MALFORMED_JSON, str(exc.detail), path, language=language)
    if status == 413 and isinstance(exc, RequestEntityTooLarge):
        limit = _body_limit(request)
        detail = (
            Message(N_("the request body is larger than {limit} bytes"), limit=limit)
            if limit is not None
            else Message(N_("the request body is too large"))
        )
        return problem_response(status, name, title, detail, path, headers=exc.headers, language=language)
    if status == 405:
        detail = Message(N_("{method} is not allowed on {path}"), method=request.method, path=path)
        return problem_response(status, name, title, detail, path, headers=exc.headers, language=language)
    return problem_response(status, name, title, str(exc.detail), path, headers=exc.headers, language=language)


def _body_limit(request: Request[Any, Any, Any]) -> int | None:
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except (AttributeError, KeyError):  # pragma: no cover - every body is read by a routed handler
        return None
    return limit if isinstance(limit, int) else None


def _is_malformed_body(exc: BaseException) -> bool:
    """Whether a 400 came from JSON that does not parse (not from a schema mismatch)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, msgspec.DecodeError) and not isinstance(cause, msgspec.ValidationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "JSON is malformed" in str(getattr(exc, "detail", ""))


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    return problem_response(
        400,
        "malformed-json",
        MALFORMED_JSON,
        Message(N_("the body is nested too deeply")),
        request.url.path,
        language=language_of(request),
    )


def _out_of_range(request: Request[Any, Any, Any], exc: OverflowError) -> Response[bytes]:
    return problem_response(
        400,
        "number-out-of-range",
        N_("A number is out of range"),
        Message(N_("a number in the request is too large: {error}"), error=str(exc)),
        request.url.path,
        language=language_of(request),
    )


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
    return problem_response(
        503,
        "database-unavailable",
        N_("The database is unavailable"),
        Message(N_("the database is busy or unreachable; nothing was changed, retry shortly")),
        request.url.path,
        headers={"Retry-After": "2"},
        language=language_of(request),
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        "internal-error",
        N_("Internal error"),
        Message(N_("the server failed; the error is logged")),
        request.url.path,
        language=language_of(request),
    )


def exception_handlers() -> ExceptionHandlersMap:
    """Handlers mapping every exception to a problem response."""
    return {
        errors.DomainError: _domain_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        RecursionError: _too_deep,
        sa.exc.OperationalError: _database_unavailable,
        sa.exc.InterfaceError: _database_unavailable,
        OverflowError: _out_of_range,
        Exception: _internal_error,
    }
