"""Resource requirement values as the claim compares them: memory in bytes, runtime in seconds.

`resource_requirements.memory_bytes` and `runtime_s` are stored beside the text a user wrote
(`8g`, `PT30M`) so that a claim filters in SQL; every insert and update fills them from here,
read as a spec reads them (`domain/spec_values.py`).
"""

from __future__ import annotations

from typing import Any

from teamgate.domain.spec_values import memory_bytes, runtime_seconds


def parsed_columns(memory: str, runtime: str) -> dict[str, Any]:
    """The `memory_bytes` and `runtime_s` columns for a requirement's `memory` and `runtime`."""
    return {"memory_bytes": memory_bytes(memory), "runtime_s": runtime_seconds(runtime)}
