"""Unit paths and lock rules (pure)."""

from __future__ import annotations

import re
import unicodedata

from teamgate.domain.text import first_invisible
from teamgate.errors import Invalid

MAX_PATH_BYTES = 1024
_SLASHES = re.compile(r"/+")


def normalize_path(raw: str) -> str:
    """The path as stored: NFC, repeated `/` collapsed, no leading/trailing ones; refuses
    unsafe, invisible or empty paths.

    NFC makes the composed and decomposed spellings of a name (`café` typed on Linux and on
    macOS) one unit; characters that cannot be seen are refused instead of removed, so that
    a path never silently becomes another one.
    """
    _refuse_invisible(raw)
    path = _SLASHES.sub("/", unicodedata.normalize("NFC", raw)).strip("/")
    if not path:
        raise Invalid("unit path must not be empty (e.g. 'myapp/prod')")
    segments = path.split("/")
    if any(s in (".", "..") for s in segments):
        raise Invalid(f"unit path '{raw}' must not contain '.' or '..' segments")
    if any(s != s.strip() for s in segments):
        raise Invalid(f"unit path '{raw}' must not have segments with leading or trailing spaces")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise Invalid(f"unit path is longer than {MAX_PATH_BYTES} bytes")
    return path


def _refuse_invisible(raw: str) -> None:
    """Two paths that look alike could otherwise name different units."""
    found = first_invisible(raw)
    if found is not None:
        char, kind = found
        name = unicodedata.name(char, "")
        named = f" {name}" if name else ""
        raise Invalid(
            f"unit path must not contain U+{ord(char):04X}{named}: it is {kind}; "
            "use visible characters only"
        )


def like_escape(text: str) -> str:
    """Escape `\\`, `%` and `_` for a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pattern_to_like(pattern: str) -> str:
    """An RBAC resource pattern (`*` = any run) as an escaped LIKE pattern."""
    return "%".join(like_escape(piece) for piece in pattern.split("*"))
