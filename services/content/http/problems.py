"""RFC 9457 problem responses for every error, so no client input yields a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ExceptionHandlersMap

from schemas.problems import Problem
from services.content.domain import errors

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
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
}


def problem_response(
    status: int,
    name: str,
    title: str,
    detail: str,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    """Build an ``application/problem+json`` response; extension members go at top level."""
    body: dict[str, Any] = msgspec.to_builtins(
        Problem(type=PROBLEM_PREFIX + name, title=title, status=status, detail=detail, instance=instance)
    )
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _status_of(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def _domain_error(request: Request[Any, Any, Any], exc: errors.DomainError) -> Response[bytes]:
    status = _status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="liaison"'} if status == 401 else None
    return problem_response(status, exc.name, exc.title, exc.detail, request.url.path, exc.context, headers)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    problems = exc.extra if isinstance(exc.extra, list) else []
    messages = []
    for item in problems:
        if isinstance(item, dict):
            key, source = item.get("key"), item.get("source")
            source = getattr(source, "value", source)  # Litestar passes a ParamType enum
            if source == "body":
                # Litestar names the whole body 'data'; the client knows it as the JSON root.
                where = "$" if key in (None, "", "data") else "$." + str(key).removeprefix("data.")
            else:
                where = f"{source} parameter '{key}'" if key else ""
            message = str(item.get("message", ""))
            if source == "body" and message.strip("'") == "data":
                message = "a JSON body is required"
            messages.append(f"{where}: {message}" if where else message)
    detail = "; ".join(messages) or str(exc.detail)
    return problem_response(
        400, "invalid-body", "The request does not match the schema", detail, request.url.path, {"errors": problems}
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    name, title = _HTTP_NAMES.get(status, ("http-error", "HTTP error"))
    if status == 404 and isinstance(exc, NotFoundException) and exc.detail == "Not Found":
        return problem_response(404, name, title, f"no route for {request.method} {request.url.path}", request.url.path)
    if status >= 500:
        return _internal_error(request, exc)
    if status == 400 and _is_malformed_body(exc):
        return problem_response(400, "malformed-json", "The body is not valid JSON", str(exc.detail), request.url.path)
    return problem_response(status, name, title, str(exc.detail), request.url.path, headers=exc.headers)


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
        400, "malformed-json", "The body is not valid JSON", "the body is nested too deeply", request.url.path
    )


def _out_of_range(request: Request[Any, Any, Any], exc: OverflowError) -> Response[bytes]:
    return problem_response(
        400,
        "number-out-of-range",
        "A number is out of range",
        f"a number in the request is too large: {exc}",
        request.url.path,
    )


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
    return problem_response(
        503,
        "database-unavailable",
        "The database is unavailable",
        "the database is busy or unreachable; nothing was changed, retry shortly",
        request.url.path,
        headers={"Retry-After": "2"},
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "internal-error", "Internal error", "the server failed; the error is logged", request.url.path
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
