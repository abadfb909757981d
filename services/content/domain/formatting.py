"""Formatting fact values for a locale with Babel (numbers, dates, territory lists)."""

from __future__ import annotations

import copy
import decimal
import re
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from schemas.blocks import FactFormat
from schemas.facts import (
    DateValue,
    DecimalValue,
    EmailValue,
    FactValue,
    IntegerValue,
    TerritoriesValue,
    TextValue,
    UrlValue,
    YearValue,
)

_BEFORE_MONTH_NAME = re.compile(r"(?<![d'])d(?= MMM)")
"""A day of the month written as one number, then a space and the month's name, in a CLDR date pattern."""


def localized_text(values: dict[str, str], locale: Locale, fallback: list[str]) -> str:
    """Pick the text for ``locale``: exact tag, its language, then the fallback chain."""
    tag = str(locale).replace("_", "-")
    for candidate in (tag, locale.language, *fallback):
        if candidate in values:
            return values[candidate]
    for candidate, text in values.items():
        if candidate.split("-")[0] == locale.language:
            return text
    return next(iter(values.values()))


def _format_exact_decimal(number: Decimal, locale: Locale) -> str:
    # Keep the digits the editor typed ("12.50" stays two decimals), grouped the locale's way.
    exponent = number.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    pattern = copy.copy(locale.decimal_formats[None])
    pattern.frac_prec = (digits, digits)
    # The schema allows 30 significant digits; the default context keeps 28.
    with decimal.localcontext(prec=64):
        formatted: str = pattern.apply(number, locale)
    return formatted


def format_fact(
    value: FactValue, locale: Locale, style: FactFormat | None = None, fallback: list[str] | None = None
) -> str:
    """The text of a fact value as written in ``locale``.

    ``style`` picks a date length (default ``long``); numbers are grouped the
    locale's way; years never are; territories use the locale's names joined
    with its list pattern ("India, Nepal and Sri Lanka" / "Inde, Népal et Sri Lanka").
    """
    match value:
        case IntegerValue(value=number):
            return format_decimal(number, locale=locale)
        case DecimalValue(value=number):
            return _format_exact_decimal(Decimal(number), locale)
        case DateValue(value=day):
            pattern = locale.date_formats[style or "long"].pattern
            if locale.language == "fr" and day.day == 1:
                # French writes the first day of a month as an ordinal before a month name, in every style:
                # "1er septembre 2010", "jeudi 1er janvier 2026", "1er janv. 2026"; never in "01/01/2026".
                pattern = _BEFORE_MONTH_NAME.sub("d'er'", pattern)
            return format_date(day, format=pattern, locale=locale)
        case YearValue(value=year):
            return str(year)
        case TerritoriesValue(value=codes):
            names = locale.territories
            return format_list([names.get(code, code) for code in codes], locale=locale)
        case TextValue(value=texts):
            return localized_text(texts, locale, fallback or [])
        case UrlValue(value=url) | EmailValue(value=url):
            return url
    raise TypeError(f"unknown fact value {value!r}")  # pragma: no cover - the union is closed
