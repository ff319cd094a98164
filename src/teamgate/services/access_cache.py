"""What the policy needs to know about each caller, kept until access data changes.

For each user the cache holds their groups, the groups they administer and their compiled
RBAC rules (`Facts`): those of their own roles and of the roles of the groups they are in.
Every change to RBAC data (group roles included), group membership or group deletion bumps
one version row (`rbac_state.version`) in its transaction. Changes made through this
process drop the cache once they commit; changes made by another process sharing the
database are noticed by comparing that version at most every `recheck_secs` (half a
second, so that a revoke takes effect everywhere within one second).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection

from teamgate.domain.policy import Facts, Grant, RuleSet
from teamgate.domain.rules import parse_rule
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import rbac as rbac_store

MAX_USERS = 50_000  # beyond this many cached users, start again rather than grow


def load_facts(conn: Connection, user: str) -> Facts:
    """Read a user's facts from the database (no caching). Whether RBAC is initialised is
    among them: `rbac init` bumps the access version too, so it drops cached facts."""
    memberships = group_store.user_memberships(conn, user)
    # The user's own roles first, then those of their groups (`describe()` names the group).
    rows = rbac_store.grants_of(conn, user)
    if memberships:  # most users are in no group: spare them the query
        rows += rbac_store.group_grants_of(conn, user)
    rules = RuleSet(
        Grant(parse_rule(row.rule), permission=row.permission, role=row.role, group=row.group)
        for row in rows
    )
    return Facts(
        groups={gid: name for gid, name, _role in memberships},
        admin_of=frozenset(gid for gid, _name, role in memberships if role == "admin"),
        rules=rules,
        rbac_initialized=rbac_store.state(conn)[0],
    )


class AccessCache:
    def __init__(self, *, recheck_secs: float = 0.5) -> None:
        self.recheck_secs = recheck_secs
        self._facts: dict[str, Facts] = {}
        self._version = -1
        self._checked_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def invalidate(self) -> None:
        """Forget everything (after this process committed a change)."""
        with self._lock:
            self._facts.clear()
            self._generation += 1
            self._checked_at = float("-inf")

    def _refresh(self, conn: Connection) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_secs:
            return
        current = rbac_store.version(conn)
        with self._lock:
            if current != self._version:
                self._facts.clear()
                self._generation += 1
                self._version = current
            self._checked_at = now

    def facts_for(self, conn: Connection, user: str) -> Facts:
        self._refresh(conn)
        cached = self._facts.get(user)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        generation = self._generation
        facts = load_facts(conn, user)
        with self._lock:
            # A change committed while we were reading would leave these facts stale.
            if generation == self._generation:
                if len(self._facts) >= MAX_USERS:
                    self._facts.clear()
                self._facts[user] = facts
        return facts
