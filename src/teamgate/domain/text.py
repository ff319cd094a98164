"""Checks on text that callers send as names, paths and values. Each returns what is wrong (or
nothing), so that every caller keeps a message that names its own field."""

from __future__ import annotations

import re
import unicodedata

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL text holds neither

# Characters that are invisible or render as something else, so two names that look alike
# could be different. By Unicode general category.
INVISIBLE = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width, bidirectional override, BOM, …)",
    "Cs": "a lone UTF-16 surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than ' '",
}


def unstorable(text: str) -> bool:
    """True when `text` holds a NUL character or a lone UTF-16 surrogate (from a JSON escape),
    which no database column can store."""
    return _UNSTORABLE.search(text) is not None


def has_control(text: str) -> bool:
    """True when `text` holds a control character (C0, DEL or C1: line breaks, escapes)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def padded(text: str) -> bool:
    """True when `text` starts or ends with whitespace."""
    return text != text.strip()


def first_invisible(text: str) -> tuple[str, str] | None:
    """The first character of `text` that cannot be seen (see INVISIBLE; a plain space is
    fine) and what kind it is, or None."""
    for char in text:
        kind = unicodedata.category(char)
        if kind in INVISIBLE and char != " ":
            return char, INVISIBLE[kind]
    return None
