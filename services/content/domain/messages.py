"""Sentences the service writes, marked for translation and put into words late.

The domain marks a sentence with `N_` (or `NN_` when it counts something) and carries it as
a `Message`: the English template with named ``{placeholders}`` and the values for them.
Whoever shows the message picks the language: ``str(message)`` is English (logs, tests);
``message.format(catalog)`` translates it with any gettext catalog, which the HTTP layer and
the CLI get from `services.content.i18n`. The domain itself never loads a catalog.

``pybabel extract`` finds the templates through the ``N_`` and ``NN_`` keywords (see
``[tool.babel.extract_messages]`` in pyproject.toml).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from typing import Protocol


class Catalog(Protocol):
    """What a message needs of a gettext catalog (`gettext.NullTranslations` and Babel's both fit)."""

    def gettext(self, message: str, /) -> str:
        """The translation of ``message``, or ``message`` itself."""
        ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str:
        """The translation of the form of ``singular``/``plural`` that fits ``n``."""
        ...


ENGLISH: Catalog = gettext.NullTranslations()
"""No catalog: the templates as written, in English."""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extraction looks for
    """Mark ``message`` for extraction; it is translated later, where the reader's language is known."""
    return message


def NN_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_
    """Mark a sentence with a singular and a plural form; the ``count`` parameter picks one."""
    return singular, plural


class Message:
    """A template (or a singular/plural pair) and its parameters, put into words on demand.

    A parameter may itself be a `Message` (a phrase inside a sentence); it is translated
    with the same catalog. A template without parameters is used as it is (no ``str.format``),
    so a literal text with braces is safe.
    """

    __slots__ = ("params", "template")

    def __init__(self, template: str | tuple[str, str], /, **params: object) -> None:
        self.template = template
        self.params: Mapping[str, object] = params

    def format(self, catalog: Catalog = ENGLISH) -> str:
        """The message in ``catalog``'s language (English when it has no translation)."""
        values = {
            key: value.format(catalog) if isinstance(value, Message) else value for key, value in self.params.items()
        }
        if isinstance(self.template, tuple):
            singular, plural = self.template
            count = values.get("count", 1)
            text = catalog.ngettext(singular, plural, count if isinstance(count, int) else 1)
        else:
            # gettext("") is the catalog's header, never a message.
            text = catalog.gettext(self.template) if self.template else ""
        if not values:
            return text
        try:
            return text.format_map(values)
        except (KeyError, IndexError, ValueError, AttributeError):
            # A translation that breaks its placeholders (CI refuses those) falls back to English.
            english = self.template if isinstance(self.template, str) else self.template[values.get("count") != 1]
            try:
                return english.format_map(values)
            except (KeyError, IndexError, ValueError, AttributeError):
                return english

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"Message({self.template!r}, {dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.template, dict(self.params)) == (other.template, dict(other.params))

    def __hash__(self) -> int:
        return hash(self.template)
