"""What the policy needs to know about each caller, kept until access data changes.

For each user the cache holds their groups, the groups they administer and their compiled
RBAC rules (`Facts`): those of their own roles and of the roles of the groups they are in.
Every change to RBAC data (group roles included), group membership or group deletion bumps
one version row (`rbac_state.version`) in its transaction. Changes made through this
process drop the cache once they commit; changes made by another process sharing the
database are noticed by comparing that version at most every `recheck_secs` (half a
second, so that a revoke takes effect everywhere within one second).

A caller signed in through the identity provider is also a member (role member) of the access
groups named by their IdP groups, for that request only (no membership rows), with those
groups' roles: their facts are kept per (user, IdP groups), so that a token with other groups
(someone removed from a team at the IdP) gets other facts at once. Creating a group bumps the
version too, so that a group created for an IdP group takes effect for its members.
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


def load_facts(conn: Connection, user: str, idp_groups: frozenset[str] = frozenset()) -> Facts:
    """Read a user's facts from the database (no caching). Whether RBAC is initialised is
    among them: `rbac init` bumps the access version too, so it drops cached facts.

    `idp_groups`: the caller's groups at the identity provider; the access groups of those
    names count as groups they are a member of (unless they are one by a row already)."""
    memberships = group_store.user_memberships(conn, user)
    member_of = {gid for gid, _name, _role in memberships}
    through_idp = [
        (gid, name)
        for gid, name in group_store.groups_named(conn, sorted(idp_groups))
        if gid not in member_of
    ]
    # The user's own roles first, then those of their groups (`describe()` names the group).
    rows = rbac_store.grants_of(conn, user)
    if memberships:  # most users are in no group: spare them the query
        rows += rbac_store.group_grants_of(conn, user)
    if through_idp:
        rows += rbac_store.grants_of_groups(conn, [gid for gid, _name in through_idp])
    rules = RuleSet(
        Grant(parse_rule(row.rule), permission=row.permission, role=row.role, group=row.group)
        for row in rows
    )
    groups = {gid: name for gid, name, _role in memberships}
    groups.update(through_idp)
    return Facts(
        groups=groups,
        admin_of=frozenset(gid for gid, _name, role in memberships if role == "admin"),
        rules=rules,
        rbac_initialized=rbac_store.state(conn)[0],
    )


class AccessCache:
    def __init__(self, *, recheck_secs: float = 0.5) -> None:
        self.recheck_secs = recheck_secs
        self._facts: dict[tuple[str, frozenset[str]], Facts] = {}
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

    def facts_for(
        self, conn: Connection, user: str, idp_groups: frozenset[str] = frozenset()
    ) -> Facts:
        """`user`'s facts, with `idp_groups` (an IdP sign-in's groups) as groups they are in."""
        self._refresh(conn)
        key = (user, idp_groups)
        cached = self._facts.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        generation = self._generation
        facts = load_facts(conn, user, idp_groups)
        with self._lock:
            # A change committed while we were reading would leave these facts stale.
            if generation == self._generation:
                if len(self._facts) >= MAX_USERS:
                    self._facts.clear()
                self._facts[key] = facts
        return facts
