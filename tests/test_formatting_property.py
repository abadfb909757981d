"""Every valid fact value formats to text in every locale Babel knows, in every style."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from babel import Locale
from babel.localedata import locale_identifiers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas.blocks import FactFormat
from schemas.facts import (
    DecimalValue,
    EmailValue,
    FactValue,
    IntegerValue,
    TerritoriesValue,
    TextValue,
    UrlValue,
)
from services.content.domain.facts import checked_value, known_territories
from services.content.domain.formatting import format_fact

LOCALES = sorted(locale_identifiers())
STYLES: list[FactFormat | None] = [None, "short", "medium", "long", "full"]
TERRITORIES = sorted(known_territories())
LOCALE_TAGS = sorted({identifier.replace("_", "-") for identifier in LOCALES if len(identifier.split("_")[0]) <= 3})


def _pattern(struct: type[msgspec.Struct]) -> str:
    """The regular expression the schema puts on a value struct's ``value`` field."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    field_type = info.fields[0].type
    if isinstance(field_type, msgspec.inspect.Metadata):
        field_type = field_type.type
    assert isinstance(field_type, msgspec.inspect.StrType)
    assert field_type.pattern is not None
    return field_type.pattern


def _digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=low, max_size=high)


decimal_strings = st.one_of(
    st.from_regex(_pattern(DecimalValue), fullmatch=True),
    st.builds(
        lambda sign, whole, fraction: f"{sign}{whole}{'.' + fraction if fraction else ''}",
        st.sampled_from(["", "-"]),
        _digits(1, 18),
        st.one_of(st.just(""), _digits(1, 12)),
    ),
)

raw_values: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(lambda n: {"type": "integer", "value": n}, st.integers(-(10**15), 10**15)),
    st.builds(lambda s: {"type": "decimal", "value": s}, decimal_strings),
    st.builds(lambda d: {"type": "date", "value": d.isoformat()}, st.dates()),
    st.builds(lambda y: {"type": "year", "value": y}, st.integers(1, 9999)),
    st.builds(
        lambda codes: {"type": "territories", "value": codes},
        st.lists(st.sampled_from(TERRITORIES), min_size=1, max_size=30, unique=True),
    ),
    st.builds(
        lambda texts: {"type": "text", "value": texts},
        st.dictionaries(
            st.sampled_from(LOCALE_TAGS),
            st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60),
            min_size=1,
            max_size=5,
        ),
    ),
    st.builds(
        lambda url: {"type": "url", "value": url},
        st.from_regex(_pattern(UrlValue), fullmatch=True).filter(lambda s: len(s) <= 2000),
    ),
    st.builds(
        lambda email: {"type": "email", "value": email},
        st.from_regex(_pattern(EmailValue), fullmatch=True).filter(lambda s: len(s) <= 320),
    ),
)


def _valid(raw: dict[str, Any]) -> FactValue:
    """The value as the API would store it: decoded by the schema, then checked and normalised."""
    value: FactValue = msgspec.convert(raw, type=FactValue)
    return checked_value(value)


fact_values = raw_values.map(_valid)


def test_the_strategies_produce_values_the_api_accepts() -> None:
    assert "fr" in LOCALES
    assert "en" in LOCALES
    assert len(TERRITORIES) > 200
    assert msgspec.convert({"type": "decimal", "value": "1234.50"}, type=FactValue) == DecimalValue("1234.50")


@settings(max_examples=300, deadline=None)
@given(value=fact_values, identifier=st.sampled_from(LOCALES), style=st.sampled_from(STYLES))
# The extremes the schema allows, pinned so they are always tried.
@example(value=DecimalValue("-999999999999999999.999999999999"), identifier="en", style=None)
@example(value=DecimalValue("123456789012345678.123456789012"), identifier="fr", style="long")
@example(value=IntegerValue(-(10**15)), identifier="ar", style=None)
@example(value=_valid({"type": "date", "value": "0001-01-01"}), identifier="th", style="full")
@example(value=_valid({"type": "date", "value": "9999-12-31"}), identifier="fa", style="short")
@example(value=TerritoriesValue(TERRITORIES[:300]), identifier="zh_Hant", style=None)
@example(value=TextValue({"de": "Hallo"}), identifier="fr", style=None)
@example(value=UrlValue("https://example.org/"), identifier="ja", style="medium")
@example(value=EmailValue("a@b.c"), identifier="ru", style="long")
def test_every_value_formats_in_every_locale(value: FactValue, identifier: str, style: FactFormat | None) -> None:
    locale = Locale.parse(identifier)
    formatted = format_fact(value, locale, style)
    assert isinstance(formatted, str)
    assert formatted, (value, identifier, style)


def test_examples_from_the_seed_page() -> None:
    en, fr = Locale.parse("en"), Locale.parse("fr")
    established = _valid({"type": "date", "value": dt.date(2010, 9, 1).isoformat()})
    assert format_fact(established, en, "long") == "September 1, 2010"
    assert format_fact(established, fr, "long") == "1er septembre 2010"
    jurisdiction = TerritoriesValue(["IN", "NP", "LK", "MV"])
    assert format_fact(jurisdiction, en) == "India, Nepal, Sri Lanka, and Maldives"
    assert format_fact(jurisdiction, fr) == "Inde, Népal, Sri Lanka et Maldives"
    assert format_fact(_valid({"type": "year", "value": 2001}), en) == "2001"


def test_french_writes_the_first_of_the_month_as_an_ordinal_before_a_month_name_in_every_style() -> None:
    new_year = _valid({"type": "date", "value": "2026-01-01"})
    second = _valid({"type": "date", "value": "2026-01-02"})
    fr, swiss = Locale.parse("fr"), Locale.parse("fr_CH")
    assert format_fact(new_year, fr, "full") == "jeudi 1er janvier 2026"
    assert format_fact(new_year, swiss, "full") == "jeudi, 1er janvier 2026"
    assert format_fact(new_year, fr, "long") == "1er janvier 2026"
    assert format_fact(new_year, fr, "medium") == "1er janv. 2026"
    assert format_fact(new_year, fr, "short") == "01/01/2026", "a numeric date has no ordinal"
    assert format_fact(second, fr, "full") == "vendredi 2 janvier 2026"
    assert format_fact(new_year, Locale.parse("en"), "full") == "Thursday, January 1, 2026"
