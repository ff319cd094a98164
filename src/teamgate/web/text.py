"""Text that cannot be stored: NUL characters and lone UTF-16 surrogates from JSON escapes."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from teamgate.domain.text import unstorable
from teamgate.errors import Invalid

MAX_DEPTH = 64


def check_text(value: Any, *, _depth: int = 0) -> None:
    """Raise Invalid if any string (key or value) in a JSON value cannot be stored."""
    if _depth > MAX_DEPTH:
        raise Invalid(f"JSON nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if unstorable(value):
            raise Invalid("text contains a NUL character or a lone UTF-16 surrogate")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, _depth=_depth + 1)
            check_text(item, _depth=_depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_text(item, _depth=_depth + 1)


async def check_parameters(request: Request) -> None:
    """Refuse path and query parameters with a NUL character (PostgreSQL cannot store one, so
    a lookup by such a name failed with a 500 there). Async, as it never blocks: FastAPI
    would run a plain function in the thread pool, a hop on every request."""
    params = (("path", request.path_params.items()), ("query", request.query_params.multi_items()))
    for where, items in params:
        for name, value in items:
            if isinstance(value, str) and unstorable(value):
                raise Invalid(
                    f"{where} parameter '{name}' must not contain a NUL character or a lone "
                    "UTF-16 surrogate"
                )
