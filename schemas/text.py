r"""Which characters a string field may hold: the rules shared by every contract.

- Free text (titles, inline text, names, messages, localized fact text) holds any character
  but the C0 controls other than tab, line feed and carriage return, DEL, and the Unicode
  noncharacters (U+FDD0-U+FDEF and the last two code points of every plane). None of them
  is ever meant to be shown, and XML (XLIFF) cannot carry the C0 controls, U+FFFE or U+FFFF.
  Bidirectional controls are allowed: right-to-left text needs them.
- Machine strings (URLs, e-mail addresses) also refuse every control (C0, DEL, C1) and every
  bidirectional control (Unicode's Bidi_Control characters): in a link they only hide where
  it goes.
- Keys, slugs, codes and tags are ASCII patterns, which refuse all of these.

Every pattern is written with `whole`: msgspec matches with Python's ``re.search``, whose
``$`` also matches before a final line feed, so ``^[a-z]+$`` would take ``"key\n"``.
"""

from __future__ import annotations

# Python and ECMA-262 (the JSON Schema dialect) read these escapes alike. The supplementary
# noncharacters have no escape common to both, so they are the characters themselves, one by
# one: a range of them would be a syntax error to ECMA-262 without its "u" flag.
_NONCHARACTERS = r"\ufdd0-\ufdef\ufffe\uffff" + "".join(
    chr(plane << 16 | last) for plane in range(1, 17) for last in (0xFFFE, 0xFFFF)
)
_TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_BIDI_CONTROLS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

NOT_IN_TEXT = _TEXT_CONTROLS + _NONCHARACTERS
"""Character class body (for ``[^...]``) of what free text refuses."""

NOT_IN_MACHINE_STRINGS = _CONTROLS + _BIDI_CONTROLS + _NONCHARACTERS
"""Character class body (for ``[^...]``) of what URLs and e-mail addresses refuse, besides white space."""


def whole(body: str) -> str:
    r"""A pattern matching a string made of ``body`` from its first character to its last.

    ``(?!\n)`` after ``$`` closes the gap Python's ``$`` leaves before a final line feed, and
    stays valid ECMA-262 for the JSON Schema.
    """
    return f"^(?:{body})$(?!\\n)"


NO_CONTROL_CHARACTERS = whole(f"[^{NOT_IN_TEXT}]*")
"""Pattern of free-text fields (see the module's docstring)."""

# The quote is not escaped: ECMA-262 with its "u" flag refuses needless escapes.
_URL_CHARACTER = "[^\\s<>\"'" + NOT_IN_MACHINE_STRINGS + "]"
_ADDRESS_CHARACTER = "[^\\s@<>\"'" + NOT_IN_MACHINE_STRINGS + "]"

HTTP_URL = whole(rf"https?://{_URL_CHARACTER}+")
"""Pattern of an http(s) URL (a URL fact)."""

LINK_TARGET = whole(rf"https?://{_URL_CHARACTER}+|mailto:{_URL_CHARACTER}+")
"""Pattern of a link target: an http(s) URL or a ``mailto:`` address."""

EMAIL_ADDRESS = whole(rf"{_ADDRESS_CHARACTER}+@{_ADDRESS_CHARACTER}+\.{_ADDRESS_CHARACTER}+")
"""Pattern of an e-mail address (an e-mail fact)."""
