"""The gettext catalogs in translations/ are current, complete, and usable by standard tools.

Fails when the code has a message the template lacks (or the reverse), when a catalog was not
updated from the template, when a fr or en message is untranslated or fuzzy, when a translation
does not keep exactly the ``{placeholders}`` of its message, or when ``msgfmt --check`` (when
installed) or Babel's own reader refuses a catalog. Run ``make i18n`` to bring them up to date.
"""

from __future__ import annotations

import shutil
import string
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from services.content import i18n

ROOT = Path(__file__).parents[1]
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
LOCALES = ("fr", "en")

MessageId = str | tuple[str, ...]


def po_file(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale, domain=i18n.DOMAIN, abort_invalid=True)


def placeholders(text: str) -> frozenset[str]:
    """The names of the ``{fields}`` of a str.format template (raises ValueError on stray braces)."""
    names = set()
    for _literal, field, _spec, _conversion in string.Formatter().parse(text):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return frozenset(names)


def shape(catalog: Catalog) -> dict[MessageId, tuple[frozenset[str], ...]]:
    """Each message id and the placeholders of each of its forms."""
    result: dict[MessageId, tuple[frozenset[str], ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        result[message.id if isinstance(message.id, str) else tuple(message.id)] = tuple(map(placeholders, ids))
    return result


def test_the_template_lists_exactly_the_messages_in_the_code(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    # The project's own rules: babel.cfg and [tool.babel.extract_messages] in pyproject.toml (read from cwd).
    extract = "import sys; from babel.messages.frontend import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", extract, "-q", "extract", "--output-file", str(fresh)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    in_code, committed = shape(read(fresh)), shape(read(TEMPLATE))
    missing = sorted(map(str, in_code.keys() - committed.keys()))
    gone = sorted(map(str, committed.keys() - in_code.keys()))
    assert not missing, f"translations/messages.pot is stale (run `make i18n`): new messages {missing}"
    assert not gone, f"translations/messages.pot is stale (run `make i18n`): messages gone {gone}"
    assert in_code == committed
    assert len(in_code) > 100, "extraction found the service's messages"


@pytest.mark.parametrize("locale", LOCALES)
def test_each_catalog_is_complete_and_keeps_every_placeholder(locale: str) -> None:
    template = shape(read(TEMPLATE))
    catalog = read(po_file(locale), locale)
    assert not catalog.fuzzy, f"{locale}: the catalog's header is marked fuzzy"
    assert str(catalog.locale) == locale
    assert shape(catalog) == template, f"{locale}: not updated from the template (run `make i18n`)"
    assert not catalog.obsolete, f"{locale}: obsolete entries {list(catalog.obsolete)}"
    faults: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            faults.append(f"fuzzy: {message.id!r}")
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            faults.append(f"{len(strings)} plural forms instead of {catalog.num_plurals}: {message.id!r}")
        allowed = {placeholders(text) for text in ids}
        for text in strings:
            if not text:
                faults.append(f"untranslated: {message.id!r}")
            elif placeholders(text) not in allowed:
                faults.append(f"placeholders {sorted(placeholders(text))} differ from {message.id!r}")
        if locale == "en" and strings != ids:
            faults.append(f"the English catalog says something else than the code: {message.id!r}")
    assert not faults, f"{locale}:\n" + "\n".join(faults)


@pytest.mark.parametrize("locale", LOCALES)
def test_msgfmt_accepts_each_catalog(locale: str, tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt is not installed (Debian: apt-get install gettext)")
    result = subprocess.run(
        [msgfmt, "--check", "--output-file", str(tmp_path / "liaison.mo"), str(po_file(locale))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("locale", LOCALES)
def test_babel_reads_back_and_compiles_each_catalog(locale: str) -> None:
    catalog = read(po_file(locale), locale)
    assert not list(catalog.check()), list(catalog.check())
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    translations = Translations(compiled, domain=i18n.DOMAIN)
    expected = {"fr": "Fait inconnu", "en": "Unknown fact"}[locale]
    assert translations.gettext("Unknown fact") == expected


def test_the_service_loads_both_catalogs() -> None:
    assert set(i18n.available()) >= set(LOCALES)
    assert i18n.translator("fr")("Top of the page") == "Haut de page"
    assert i18n.translator("en")("Top of the page") == "Top of the page"
    assert i18n.negotiate("fr-CA, en;q=0.5") == "fr"
    assert i18n.negotiate("de, en;q=0.1") == "en"
    assert i18n.negotiate("de") == "en"
    assert i18n.negotiate(None) == "en"


def test_a_missing_mo_is_compiled_from_the_po_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "translations"
    for locale in LOCALES:
        target = folder / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(po_file(locale), target)  # the .po only, as in a fresh clone
    monkeypatch.setattr(i18n, "catalog_dirs", lambda: [folder])
    i18n.catalogs.cache_clear()
    try:
        assert i18n.translator("fr")("Unknown fact") == "Fait inconnu"
        assert not list(folder.rglob("*.mo")), "compiled in memory, nothing written"
    finally:
        i18n.catalogs.cache_clear()
