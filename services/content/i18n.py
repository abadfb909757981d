"""The service's own words in the reader's language: gettext catalogs, loaded once, and negotiation.

The catalogs are ``translations/<locale>/LC_MESSAGES/liaison.po`` (domain ``liaison``), managed
with Babel (``make i18n``). The compiled ``.mo`` files are not in git: ``make install`` and the
Docker build compile them, and when one is missing (a fresh clone) or older than its ``.po``,
the ``.po`` is compiled in memory here, so the service never answers with untranslated text.

Looked up, in order: ``translations/`` at the root of a source checkout (editable installs),
then ``<sys.prefix>/share/liaison/translations`` (where the Docker image puts them). Nothing
is read at import time; the first call loads every catalog and keeps them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from services.content.domain.messages import Catalog
from services.content.domain.negotiation import parse_accept_language

DOMAIN = "liaison"
DEFAULT_LOCALE = "en"
"""The language of the templates in the code, and the answer when nothing else matches."""

logger = logging.getLogger("liaison.i18n")


def catalog_dirs() -> list[Path]:
    """Folders that may hold the catalogs, in the order they are tried."""
    return [
        Path(__file__).resolve().parents[2] / "translations",
        Path(sys.prefix) / "share" / "liaison" / "translations",
    ]


def _load(po: Path, locale: str) -> NullTranslations:
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=DOMAIN)
    with po.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def catalogs() -> Mapping[str, NullTranslations]:
    """Locale ('fr', 'en'...) -> its catalog, from the first folder that has any (loaded once)."""
    for folder in catalog_dirs():
        found: dict[str, NullTranslations] = {}
        for path in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")) + sorted(
            folder.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")
        ):
            locale = path.parts[-3].replace("_", "-")
            if locale in found:
                continue
            try:
                found[locale] = _load(path.with_suffix(".po"), locale)
            except Exception:  # a broken catalog must not break the service: that language falls back
                logger.exception("cannot load the %s catalog from %s", locale, path.parent)
        if found:
            return found
    logger.warning("no gettext catalogs found in %s; answering in English", ", ".join(map(str, catalog_dirs())))
    return {DEFAULT_LOCALE: NullTranslations()}


def available() -> tuple[str, ...]:
    """Locales the service can speak."""
    return tuple(catalogs())


def _find(tag: str) -> str | None:
    offered = list(catalogs())
    exact = next((locale for locale in offered if locale.lower() == tag.lower()), None)
    return exact or negotiate_locale([tag], offered, sep="-")


def _match(tags: tuple[str, ...]) -> str:
    for tag in tags:
        match = _find(tag)
        if match is not None:
            return match
    return DEFAULT_LOCALE


@lru_cache(maxsize=1024)
def negotiate(accept_language: str | None) -> str:
    """The catalog locale for an ``Accept-Language`` header (q-values honoured; English by default)."""
    return _match(parse_accept_language(accept_language)) if accept_language else DEFAULT_LOCALE


@lru_cache(maxsize=256)
def ui_locale(locale: str) -> str:
    """The catalog locale to write the service's words around content in ``locale`` ('fr-CA' -> 'fr')."""
    return _match((locale,))


def translations(locale: str) -> Catalog:
    """The catalog of ``locale`` (one of `available`); English for any other."""
    found = catalogs()
    catalog = found.get(locale)
    if catalog is None:
        catalog = found.get(DEFAULT_LOCALE)
    return catalog if catalog is not None else NullTranslations()


def translator(locale: str) -> Callable[[str], str]:
    """``gettext`` of ``locale``'s catalog."""
    return translations(locale).gettext


def language_name(locale: str, in_locale: str) -> str:
    """The name of ``locale`` in ``in_locale``'s language ('fr' in 'en' -> 'French'), from Babel's data."""
    try:
        name = Locale.parse(locale, sep="-").get_display_name(Locale.parse(in_locale, sep="-"))
    except (UnknownLocaleError, ValueError):
        return locale
    return name or locale


def system_locale(environ: Mapping[str, str] | None = None) -> str:
    """The catalog locale of the user's environment, for the CLI, chosen the way gettext does.

    The locale is the first of LC_ALL, LC_MESSAGES and LANG that is set. Unless it is unset,
    "C" or "POSIX", LANGUAGE (a colon-separated list, like "fr_CA:fr") comes first, and its first
    entry with a catalog wins. "C", "C.UTF-8" and "POSIX" mean English. Only the variables are read:
    the system locale need not be installed (slim images have none, and Python then sets
    LC_CTYPE to C.UTF-8, which is why LC_CTYPE is not consulted).
    """
    env = os.environ if environ is None else environ
    locale = next((env[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(name)), "")
    candidates = [locale]
    if locale not in ("", "C", "POSIX") and env.get("LANGUAGE"):
        candidates = env["LANGUAGE"].split(":")
    for candidate in candidates:
        tag = candidate.split(".")[0].split("@")[0].replace("_", "-")
        if tag in ("C", "POSIX"):
            return DEFAULT_LOCALE
        match = _find(tag) if tag else None
        if match is not None:
            return match
    return DEFAULT_LOCALE


@cache
def cli_catalog() -> Catalog:
    """The catalog for messages the command line prints (chosen at run time, never at import)."""
    return translations(system_locale())


def cli_gettext(message: str) -> str:
    """``gettext`` in the user's language, for the command line (``from ... import cli_gettext as _``)."""
    return cli_catalog().gettext(message)


def cli_ngettext(singular: str, plural: str, n: int) -> str:
    """``ngettext`` in the user's language, for the command line."""
    return cli_catalog().ngettext(singular, plural, n)
