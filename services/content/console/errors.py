"""Errors as pages: a refusal or a mistake reads as a sentence that says what to do, never a trace.

The status of a domain error is the API's (``http/problems.py``); the page adds what the reader
can do about it. These handlers are the console router's, so the API keeps its problem responses.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from services.content.console.security import add_headers
from services.content.console.session import SIGN_IN_PATH, SignInRequired, clear_session_cookie
from services.content.console.templating import page
from services.content.domain import errors
from services.content.domain.messages import N_, Message
from services.content.http.problems import status_of

logger = logging.getLogger("liaison.console")

WHAT_TO_DO = {
    400: N_("Check what you entered and send the form again."),
    401: N_("Sign in again with your token."),
    403: N_("Your token does not allow this. Ask an administrator for a token with the role or sites you need."),
    404: N_("Check the address, or go back to the list of sites."),
    409: N_("Someone changed this in the meantime. Reload the page to see the latest version, then try again."),
    410: N_("This is no longer available. Reload the page."),
    413: N_("What you sent is too large. Send less at once."),
    422: N_("Correct what the message names and send the form again."),
    428: N_("Reload the page and try again: the change must name the version it is based on."),
    500: N_("Something went wrong on our side. Try again; if it happens again, tell the administrator."),
}

TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    413: N_("Request body too large"),
    503: N_("Service unavailable"),
    500: N_("Something went wrong"),
}

CSRF_REFUSED = N_(
    "This form was refused because it did not carry this page's security token (it may have come from "
    "another site, or the page is too old)."
)
CSRF_WHAT_TO_DO = N_("Reload the page and send the form again.")


def error_page(
    request: Request[Any, Any, Any], status: int, title: str, sentence: Message, what_to_do: str | None = None
) -> Response[Any]:
    """A page saying what went wrong and what to do, with the console's headers."""
    todo = what_to_do or WHAT_TO_DO.get(status) or WHAT_TO_DO[400 if status < 500 else 500]
    template: Template = page(
        request, "error.html", {"status": status, "title": title, "sentence": sentence, "what_to_do": todo}, status
    )
    return add_headers(template)


def _domain_error(request: Request[Any, Any, Any], exc: errors.DomainError) -> Response[Any]:
    return error_page(request, status_of(exc), exc.title, exc.message)


def _sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = f"{SIGN_IN_PATH}?next={quote(target, safe='/')}"
    if exc.ended:
        location += "&ended=1"
    response: Response[Any] = Redirect(location, status_code=303)
    if request.headers.get("hx-request"):
        response.headers["HX-Redirect"] = location  # an htmx swap would put the sign-in page inside the page
    if exc.ended:
        clear_session_cookie(response, request)
    return add_headers(response)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, PermissionDeniedException) and exc.detail == "CSRF token verification failed":
        return error_page(request, 403, N_("Not allowed"), Message(CSRF_REFUSED), CSRF_WHAT_TO_DO)
    if isinstance(exc, NotAuthorizedException):
        status = 401
    if status >= 500:
        logger.error("console error %s on %s", status, request.url.path)
    title = TITLES.get(status, TITLES[400] if status < 500 else TITLES[500])
    return error_page(request, status, title, Message(_sentence(status)))


def _sentence(status: int) -> str:
    if status == 404:
        return N_("There is no such page in the console.")
    if status == 405:
        return N_("This address does not accept that kind of request.")
    if status == 413:
        return N_("The form sent more than the service accepts.")
    if status >= 500:
        return N_("The service could not show this page.")
    return N_("The service could not read what the form sent.")


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error("console: the database is unavailable on %s: %s", request.url.path, type(exc).__name__)
    return error_page(
        request,
        503,
        N_("Service unavailable"),
        Message(N_("The database is not answering.")),
        N_("Try again in a moment; nothing was changed."),
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("console error on %s", request.url.path, exc_info=exc)
    return error_page(request, 500, TITLES[500], Message(_sentence(500)))


def exception_handlers() -> ExceptionHandlersMap:
    """The console router's handlers: pages instead of problem documents, a redirect to sign in."""
    # The app's own handlers are looked up too (by the exception's classes, most specific first): name
    # every class they name, so no console response is a problem document.
    return {
        SignInRequired: _sign_in_required,
        errors.DomainError: _domain_error,
        HTTPException: _http_error,
        ValidationException: _http_error,
        NotFoundException: _http_error,
        PermissionDeniedException: _http_error,
        NotAuthorizedException: _http_error,
        MethodNotAllowedException: _http_error,
        RequestEntityTooLarge: _http_error,
        RecursionError: _bad_input,
        OverflowError: _bad_input,
        sa.exc.OperationalError: _database_unavailable,
        sa.exc.InterfaceError: _database_unavailable,
        Exception: _unexpected,
    }


def _bad_input(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return error_page(request, 400, TITLES[400], Message(_sentence(400)))
