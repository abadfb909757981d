"""A fact's value as the fields of the console's edit form, and back (one form per fact type).

A number, year, date, URL or e-mail is one ``value`` field; a list of countries is one field of
ISO codes separated by commas or spaces; a text has a ``text-<locale>`` field per locale. The
parsed value is then checked by the schema (`schemas.facts.FactValue`) exactly as the API's JSON
is; a value the schema refuses is answered by the type's hint, which says what to type.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

import msgspec

from schemas.facts import (
    DateValue,
    DecimalValue,
    EmailValue,
    FactType,
    FactValue,
    IntegerValue,
    TerritoriesValue,
    TextValue,
    UrlValue,
    YearValue,
)
from services.content.domain.messages import N_

TEXT_FIELD = "text-"
"""Prefix of the per-locale fields of a text fact (``text-fr``)."""

TYPE_NAMES: dict[str, str] = {
    "integer": N_("whole number"),
    "decimal": N_("decimal number"),
    "date": N_("date"),
    "year": N_("year"),
    "territories": N_("list of countries"),
    "text": N_("text per locale"),
    "url": N_("web address"),
    "email": N_("e-mail address"),
}
"""Each fact type in words (translated where shown)."""

HINTS: dict[str, str] = {
    "integer": N_("Enter a whole number, such as 78 (no spaces or separators)."),
    "decimal": N_("Enter a number with a point before its decimals, such as 12.5."),
    "date": N_("Enter a date as year-month-day, such as 2010-09-01."),
    "year": N_("Enter a year between 1 and 9999, such as 2001."),
    "territories": N_("Enter country codes of two capital letters separated by commas, such as IN, NP, LK."),
    "text": N_("Enter the text of at least one locale, on one line."),
    "url": N_("Enter an address starting with http:// or https://."),
    "email": N_("Enter an e-mail address, such as consulat@example.org."),
}
"""What to type, for each type: shown beside the field and as the error when the value is refused."""


class UnreadableValue(ValueError):
    """The form's fields are not a value of the fact's type; ``hint`` says what to type."""

    def __init__(self, fact_type: str) -> None:
        super().__init__(fact_type)
        self.hint = HINTS[fact_type]


def form_fields(value: FactValue) -> dict[str, str]:
    """The form's fields showing ``value`` (what the editor sees before typing)."""
    match value:
        case TerritoriesValue(value=codes):
            return {"value": ", ".join(codes)}
        case TextValue(value=texts):
            return {f"{TEXT_FIELD}{tag}": text for tag, text in texts.items()}
        case DateValue(value=day):
            return {"value": day.isoformat()}
        case IntegerValue(value=number) | YearValue(value=number):
            return {"value": str(number)}
        case DecimalValue(value=text) | UrlValue(value=text) | EmailValue(value=text):
            return {"value": text}
    raise TypeError(f"unknown fact value {value!r}")  # pragma: no cover - the union is closed


def typed_fields(form: Mapping[str, str]) -> dict[str, str]:
    """The value fields of a posted form (``value`` and ``text-*``), as typed, to show again."""
    return {name: text for name, text in form.items() if name == "value" or name.startswith(TEXT_FIELD)}


def text_locales(value: FactValue, locales: Iterable[str]) -> list[str]:
    """The locales a text fact's form has a field for: those of its value, then those of the sites."""
    present = list(value.value) if isinstance(value, TextValue) else []
    return list(dict.fromkeys([*present, *locales]))


def parsed_value(fact_type: FactType, fields: Mapping[str, str]) -> FactValue:
    """The value the form's ``fields`` say, for a fact of ``fact_type``; `UnreadableValue` when they do not."""
    typed = fields.get("value", "").strip()
    raw: object
    if fact_type == "territories":
        raw = [code for code in re.split(r"[\s,;]+", typed.upper()) if code]
    elif fact_type == "text":
        raw = {
            name.removeprefix(TEXT_FIELD): text.strip()
            for name, text in fields.items()
            if name.startswith(TEXT_FIELD) and text.strip()
        }
    elif fact_type in ("integer", "year"):
        if not re.fullmatch(r"-?[0-9]{1,16}", typed):
            raise UnreadableValue(fact_type)
        raw = int(typed)
    elif fact_type == "date":
        try:
            raw = dt.date.fromisoformat(typed).isoformat() if len(typed) == 10 else None
        except ValueError:
            raw = None
    else:
        raw = typed
    try:
        value: FactValue = msgspec.convert({"type": fact_type, "value": raw}, FactValue)
    except msgspec.ValidationError as refused:
        raise UnreadableValue(fact_type) from refused
    return value
