"""Choosing the locale to serve: query parameter, Accept-Language, fallback chain, default."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from babel import negotiate_locale

from services.content.domain.errors import InvalidLocale
from services.content.domain.locales import normalize_locale


@lru_cache(maxsize=4096)
def parse_accept_language(header: str) -> tuple[str, ...]:
    """Locales of an ``Accept-Language`` header, best first (q-values honoured, ``*`` and junk skipped)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:40]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if not tag or tag == "*" or quality <= 0:
            continue
        try:
            weighted.append((-quality, position, normalize_locale(tag.strip())))
        except InvalidLocale:
            continue
    return tuple(dict.fromkeys(tag for _, _, tag in sorted(weighted)))


def choose_locale(
    requested: Sequence[str], available: Sequence[str], fallback_chain: Sequence[str], default: str
) -> tuple[str, bool] | None:
    """Pick the locale to serve among ``available`` (published) ones.

    Returns (locale, fell_back) or None when nothing is available. A request
    for 'fr-CA' is served 'fr' when only 'fr' exists (Babel's negotiation);
    it counts as a fallback, since the visitor did not get exactly what they asked.
    """
    if not available:
        return None
    for tag in requested:
        if tag in available:
            return tag, tag != requested[0]
        match = negotiate_locale([tag], list(available), sep="-")
        if match is not None:
            return match, True
    for tag in (*fallback_chain, default, *sorted(available)):
        if tag in available:
            return tag, bool(requested)
    return None  # pragma: no cover - available is not empty
