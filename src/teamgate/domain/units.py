"""Unit paths and lock rules (pure)."""

from __future__ import annotations

import re

from teamgate.errors import Invalid

MAX_PATH_BYTES = 1024
_SLASHES = re.compile(r"/+")


def normalize_path(raw: str) -> str:
    """Collapse repeated `/`, strip leading/trailing ones; refuse unsafe or empty paths."""
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in raw):
        raise Invalid("unit path must not contain control characters")
    path = _SLASHES.sub("/", raw).strip("/")
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


def like_escape(text: str) -> str:
    """Escape `\\`, `%` and `_` for a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pattern_to_like(pattern: str) -> str:
    """An RBAC resource pattern (`*` = any run) as an escaped LIKE pattern."""
    return "%".join(like_escape(piece) for piece in pattern.split("*"))
