"""Reading the audit log (both APIs serve it): follow the server's cursors up to a limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from teamgate.client.http import JsonClient

PAGE = 10_000  # the server's largest page


def iter_events(client: JsonClient, path: str, *, limit: int, **filters: Any) -> Iterator[Any]:
    """Up to `limit` events matching `filters` (user, action, resource, since, until,
    decision), newest first, one page in memory at a time."""
    after = None
    remaining = limit
    while remaining > 0:
        page = client.get(path, limit=min(remaining, PAGE), after=after, **filters)
        yield from page["items"]
        remaining -= len(page["items"])
        after = page.get("next_cursor")
        if after is None or not page["items"]:
            return
