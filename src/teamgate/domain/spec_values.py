"""The checks every workflow-spec field goes through, and the error that names the field.

A spec arrives as plain data (parsed from YAML, JSON or JSON5) from an untrusted caller, so
every reader here checks the type, the size and the range of what it is given, and a problem is
a `SpecError` carrying the path of the offending field (`("jobs", 3, "depends_on", 0)`), which a
caller that knows the source text turns into a line number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from teamgate.errors import Invalid

Path = tuple[str | int, ...]

NAME_MAX = 255
TEXT_MAX = 65536  # commands, data strings
INT_MAX = 2**31 - 1
LIST_MAX = 100_000  # entries in any one list as written
MEMORY_MAX = 2**62
MEMORY_RE = re.compile(r"([0-9]{1,20})([kmgtKMGT]?)")
RUNTIME_RE = re.compile(
    r"P(?!$)([0-9]{1,9}Y)?([0-9]{1,9}M)?([0-9]{1,9}W)?([0-9]{1,9}D)?"
    r"(T(?=[0-9])([0-9]{1,9}H)?([0-9]{1,9}M)?([0-9]{1,9}(\.[0-9]{1,9})?S)?)?"
)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# Torc's year and month lengths (its iso8601 crate): 365.25 days and a twelfth of that
_DURATION_UNITS = {"Y": 31_557_600, "M": 2_629_800, "W": 604_800, "D": 86_400}
_TIME_UNITS = {"H": 3_600, "M": 60, "S": 1}


def memory_bytes(text: str) -> int:
    """`8g` → 8 GiB in bytes: an integer with one k/m/g/t suffix (powers of 1024), or bytes;
    the one reading of a memory amount, for specs, the API, claims and the runner."""
    found = MEMORY_RE.fullmatch(text.strip())
    if not found:
        raise Invalid(
            f"invalid memory amount {text[:40]!r}: use an integer with k, m, g or t, "
            "e.g. '8g', '512m'"
        )
    value = int(found[1]) * _MEMORY_UNITS[found[2].lower()]
    if value > MEMORY_MAX:
        raise Invalid(f"invalid memory amount {text[:40]!r}: too large")
    return value


def runtime_seconds(text: str) -> int:
    """`PT30M` → 1800: an ISO 8601 duration in whole seconds (fractions truncated)."""
    upper = text.strip().upper()
    if not RUNTIME_RE.fullmatch(upper):
        raise Invalid(f"invalid runtime {text[:40]!r}: use an ISO 8601 duration such as 'PT30M'")
    date, _, time = upper[1:].partition("T")
    seconds = 0.0
    for part, units in ((date, _DURATION_UNITS), (time, _TIME_UNITS)):
        for amount, unit in re.findall(r"([0-9.]+)([A-Z])", part):
            seconds += float(amount) * units[unit]
    return int(seconds)


class SpecError(Invalid):
    """A spec problem at `path` (e.g. ("jobs", 0, "command"))."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{format_path(path)}: {problem}" if path else problem)


def format_path(path: Path) -> str:
    """`("jobs", 3, "depends_on", 0)` → `jobs[3].depends_on[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def kind(value: Any) -> str:
    """How an unexpected value is described in an error."""
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def mapping(
    value: Any, path: Path, allowed: set[str], required: Sequence[str]
) -> Mapping[str, Any]:
    """A mapping with only `allowed` keys and every `required` one."""
    if not isinstance(value, Mapping):
        raise SpecError(path, f"expected a mapping, got {kind(value)}")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise SpecError(
                (*path, str(key)[:NAME_MAX]),
                f"unknown field (allowed: {', '.join(sorted(allowed))})",
            )
    for key in required:
        if key not in value:
            raise SpecError((*path, key), "required field is missing")
    return value


def string(value: Any, path: Path, *, max_len: int = NAME_MAX) -> str:
    """A non-blank string of at most `max_len` characters."""
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {kind(value)}")
    if not value.strip():
        raise SpecError(path, "must not be empty")
    if len(value) > max_len:
        raise SpecError(path, f"is longer than {max_len} characters")
    return value


def optional_string(value: Any, path: Path, *, max_len: int = NAME_MAX) -> str | None:
    """None, or a string of at most `max_len` characters (may be blank)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {kind(value)}")
    if len(value) > max_len:
        raise SpecError(path, f"is longer than {max_len} characters")
    return value


def integer(value: Any, path: Path, *, minimum: int, maximum: int = INT_MAX) -> int:
    """An integer (not a boolean) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"expected an integer, got {kind(value)}")
    if value < minimum:
        raise SpecError(path, f"must be at least {minimum}")
    if value > maximum:
        raise SpecError(path, f"must be at most {maximum}")
    return value


def boolean(value: Any, path: Path) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {kind(value)}")
    return value


def sequence(value: Any, path: Path, *, max_len: int = LIST_MAX) -> list[Any]:
    """A list of at most `max_len` entries (null counts as empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(path, f"expected a list, got {kind(value)}")
    if len(value) > max_len:
        raise SpecError(path, f"has more than {max_len} entries")
    return value


def names(value: Any, path: Path) -> tuple[str, ...]:
    """A list of names (null or missing: none)."""
    return tuple(string(v, (*path, i)) for i, v in enumerate(sequence(value, path)))


def memory(value: Any, path: Path) -> str:
    """A memory amount as Torc writes it: an integer with one k/m/g/t suffix, or bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SpecError(path, f"expected a size like '1g' or '512m', got {kind(value)}")
    text = str(value).strip()
    if not MEMORY_RE.fullmatch(text):
        raise SpecError(
            path,
            f"invalid size {str(value)[:40]!r} (an integer with k, m, g or t, e.g. '8g', '512m')",
        )
    try:
        memory_bytes(text)
    except Invalid:
        raise SpecError(path, f"size {text!r} is too large") from None
    return text


def runtime(value: Any, path: Path) -> str:
    """An ISO 8601 duration such as `PT30M` or `P1DT2H`."""
    if not isinstance(value, str) or not RUNTIME_RE.fullmatch(value.strip().upper()):
        shown = value[:40] if isinstance(value, str) else value
        raise SpecError(path, f"invalid ISO-8601 duration {shown!r} (use e.g. 'PT10M', 'P1DT2H')")
    return value.strip()


def json_value(value: Any, path: Path, depth: int = 0) -> None:
    """Refuse what JSON cannot hold (dates from YAML, NaN) and nesting deeper than 32."""
    if depth > 32:
        raise SpecError(path, "is nested more than 32 levels deep")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(path, "is not a JSON number")
        return
    if isinstance(value, list):
        for k, x in enumerate(value):
            json_value(x, (*path, k), depth + 1)
        return
    if isinstance(value, dict):
        for k, x in value.items():
            if not isinstance(k, str):
                raise SpecError(path, f"a key is {kind(k)}, JSON keys are strings")
            json_value(x, (*path, k), depth + 1)
        return
    raise SpecError(path, f"expected a JSON value, got {kind(value)}")
