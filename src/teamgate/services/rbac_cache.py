"""Each user's effective RBAC rules, compiled once and kept until RBAC data changes.

Changes made through this process invalidate at once; changes made by another process
sharing the database are noticed through `rbac_state.version` within `recheck_secs`.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection

from teamgate.domain.policy import Grant, RuleSet
from teamgate.domain.rules import parse_rule
from teamgate.storage.db import rbac as store


class RbacCache:
    def __init__(self, *, recheck_secs: float = 1.0) -> None:
        self.recheck_secs = recheck_secs
        self._rules: dict[str, RuleSet] = {}
        self._version = -1
        self._checked_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._rules.clear()
            self._generation += 1
            self._checked_at = float("-inf")

    def _refresh(self, conn: Connection) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_secs:
            return
        current = store.version(conn)
        with self._lock:
            if current != self._version:
                self._rules.clear()
                self._generation += 1
                self._version = current
            self._checked_at = now

    def rules_for(self, conn: Connection, user: str) -> RuleSet:
        self._refresh(conn)
        cached = self._rules.get(user)
        if cached is not None:
            return cached
        generation = self._generation
        rules = RuleSet(
            Grant(parse_rule(row.rule), permission=row.permission, role=row.role)
            for row in store.grants_of(conn, user)
        )
        with self._lock:
            if generation == self._generation:
                self._rules[user] = rules
        return rules
