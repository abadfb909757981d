"""The console's Jinja2 environment, the language of a request, and `page`, which renders a template.

Autoescape is on for every template: a value is HTML-escaped unless it is `markupsafe.Markup`.
Words are gettext calls in the templates (``{{ _("Sites") }}``, ``{% trans %}``), looked up in
the catalog of the page's language (``lang`` in the context) when the page renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.response import Template
from markupsafe import Markup

from services.content import i18n
from services.content.console.assets import Assets
from services.content.domain.access import Action, Principal
from services.content.domain.messages import Message

TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "liaison_lang"
"""The language the user chose with the switch (a catalog locale), when they did."""


def ui_language(request: Request[Any, Any, Any]) -> str:
    """The language of the pages for ``request``: the user's choice, else ``Accept-Language``."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen and chosen in i18n.available():
        return chosen
    return i18n.negotiate(request.headers.get("accept-language"))


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(context["lang"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(context["lang"]).ngettext(singular, plural, n)


@pass_context
def _message(context: Context, message: Message) -> str:
    """A domain `Message` in the page's language."""
    return message.format(i18n.translations(context["lang"]))


@pass_context
def _can(context: Context, action: str, site: str | None = None, locale: str | None = None) -> bool:
    """Whether the signed-in token may do ``action`` (an `Action` value) there: hide what it may not."""
    principal: Principal | None = context.get("principal")
    return principal is not None and principal.allows(Action(action), site=site, locale=locale)


@pass_context
def _language_name(context: Context, locale: str) -> str:
    return i18n.language_name(locale, context["lang"])


def _own_language_name(locale: str) -> str:
    """The name of ``locale`` in itself ('fr' -> 'français'), as a language switch shows it."""
    return i18n.language_name(locale, locale)


@pass_context
def _csrf_field(context: Context) -> Markup:
    """The hidden field that carries the CSRF token in a form that changes state."""
    token = context.call(context["csrf_token"])
    return Markup('<input type="hidden" name="_csrf_token" value="{}">').format(token)


def environment(assets: Assets) -> Environment:
    """The Jinja2 environment of the console's templates (autoescape, gettext, helpers)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIRECTORY),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        asset=assets.url,
        message=_message,
        can=_can,
        language_name=_language_name,
        own_language_name=_own_language_name,
        csrf_field=_csrf_field,
        languages=i18n.available,
    )
    return env


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Template:
    """Render ``template`` for ``request`` with what ``base.html`` needs (language, who is signed in)."""
    lang = ui_language(request)
    principal = getattr(request.state, "console_principal", None)
    return Template(
        template_name=template,
        context={"lang": lang, "principal": principal, "path": request.url.path, **(context or {})},
        status_code=status,
        headers={"Content-Language": lang, **(headers or {})},
    )
