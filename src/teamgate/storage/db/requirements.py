"""Resource requirement values as the claim compares them: memory in bytes, runtime in seconds.

`resource_requirements.memory_bytes` and `runtime_s` are stored beside the text a user wrote
(`8g`, `PT30M`) so that a claim filters in SQL; every insert and update fills them from here.
"""

from __future__ import annotations

import re
from typing import Any

from teamgate.errors import Invalid

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_MEMORY = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtKMGT]?)\s*")
_DURATION = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)
# Torc's year and month lengths (its iso8601 crate): 365.25 days and a twelfth of that
_DURATION_UNITS = (31_557_600, 2_629_800, 604_800, 86_400, 3_600, 60, 1)
MAX_BYTES = 2**62


def parse_memory(text: str) -> int:
    """`8g` → 8 GiB in bytes (k, m, g, t are powers of 1024; no suffix: bytes)."""
    match = _MEMORY.fullmatch(text)
    if not match:
        raise Invalid(f"invalid memory {text!r}: use e.g. '1g', '512m', '100k'")
    value = int(float(match[1]) * _UNITS[match[2].lower()])
    if value > MAX_BYTES:
        raise Invalid(f"invalid memory {text!r}: too large")
    return value


def parse_runtime(text: str) -> int:
    """`PT30M` → 1800 seconds (ISO 8601 duration; fractional seconds are truncated)."""
    match = _DURATION.fullmatch(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise Invalid(f"invalid runtime {text!r}: use an ISO 8601 duration such as 'PT30M'")
    seconds = int(
        sum(float(v) * u for v, u in zip(match.groups(), _DURATION_UNITS, strict=True) if v)
    )
    if seconds > 2**62:
        raise Invalid(f"invalid runtime {text!r}: too large")
    return seconds


def parsed_columns(memory: str, runtime: str) -> dict[str, Any]:
    """The `memory_bytes` and `runtime_s` columns for a requirement's `memory` and `runtime`."""
    return {"memory_bytes": parse_memory(memory), "runtime_s": parse_runtime(runtime)}
