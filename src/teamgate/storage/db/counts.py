"""Counts of list queries, reused until something they depend on changes.

A workflow list reports `total_count`, every visible workflow matching its filters: on a
large database that count costs more than the page itself. The count depends only on the
request (who may see what, and the filters) and on two shared versions in the database: the
access version (memberships, RBAC) and the workflows version (workflows created or deleted,
shares added or removed), both bumped in the transaction of each such write. A count is
kept under the request and the versions read just before it was made, so it is reused
only while both versions are unchanged, in this process or after a write by another one.

Reading the versions first matters: a count made after them sees at least their state, so
if a write commits in between, its newer count is filed under the old versions, which no
later request reads again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Connection, Select

from teamgate.storage.db import rbac


class CountCache:
    """The latest `size` counts, each under its request and the versions it was made at."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._counts: OrderedDict[tuple[Hashable, tuple[int, int]], int] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, conn: Connection, request: Hashable, query: Select[Any]) -> int:
        """The value of `query` (a `SELECT count(*) …` of `request`), from the cache if an
        identical request was counted at the current versions."""
        key = (request, rbac.versions(conn))
        with self._lock:
            found = self._counts.get(key)
            if found is not None:
                self._counts.move_to_end(key)
                return found
        value = int(conn.execute(query).scalar_one())
        with self._lock:
            self._counts[key] = value
            while len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return value
