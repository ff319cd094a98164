"""What every use case needs: the database and the access-control switch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.policy import NO_FACTS, Decision, Facts
from teamgate.domain.rules import Effect
from teamgate.errors import Forbidden, Invalid
from teamgate.services import observers
from teamgate.services.access_cache import AccessCache
from teamgate.storage.blobs import BlobStore
from teamgate.storage.db import rbac as access_version
from teamgate.storage.db.counts import CountCache
from teamgate.storage.db.engine import Database
from teamgate.storage.db.listing import Visibility, readable_by

MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ServiceContext:
    db: Database
    enforce: bool
    access: AccessCache = field(default_factory=lambda: AccessCache())
    counts: CountCache = field(default_factory=lambda: CountCache())
    admin_users: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset()  # --oidc-admin-group
    blobs: BlobStore | None = None
    max_versions: int = 10

    @property
    def has_admins(self) -> bool:
        """Whether administrators are configured, by name or by IdP group: if not, the first
        caller may initialise RBAC (and becomes its administrator)."""
        return bool(self.admin_users or self.admin_groups)


def facts_for(ctx: ServiceContext, conn: Connection, principal: Principal) -> Facts:
    """What the policy needs to know about the caller (cached until access data changes)."""
    if not ctx.enforce or principal.name is None:
        return NO_FACTS
    return ctx.access.facts_for(conn, principal.name, principal.idp_groups)


def visible_to(
    ctx: ServiceContext, conn: Connection, principal: Principal, action: Action
) -> Visibility | None:
    """The list filter for what the caller may `action` (a `*.read`): owned, shared with their
    groups (the access groups named by their IdP groups included) or allowed by their RBAC
    rules, and not denied; None (no filter) when access control is off."""
    if not ctx.enforce or principal.name is None:
        return None
    facts = facts_for(ctx, conn, principal)
    rules = facts.rules
    return readable_by(
        principal.name,
        allow=rules.patterns(Effect.ALLOW, action),
        deny=rules.patterns(Effect.DENY, action),
        groups=[gid for gid, name in facts.groups.items() if name in principal.idp_groups],
    )


@contextmanager
def access_change(ctx: ServiceContext) -> Iterator[Connection]:
    """A write that changes what callers may do (RBAC data, group membership).

    Bumps the shared access version first, which serialises such changes (a row lock on
    PostgreSQL) and tells other processes to refresh; drops this process's cached facts
    once the transaction has committed.
    """
    with ctx.db.write() as conn:
        access_version.bump(conn)
        yield conn
    ctx.access.invalidate()


@contextmanager
def workflows_change(ctx: ServiceContext) -> Iterator[Connection]:
    """A write that can change what workflow lists count (workflows created or deleted,
    shares added or removed): bumps the shared workflows version first, so that no process
    reuses a count made before it (see storage.db.counts)."""
    with ctx.db.write() as conn:
        access_version.bump_workflows(conn)
        yield conn


def require(decision: Decision) -> Decision:
    """Raise Forbidden with the decision's message when it denies; the decision otherwise."""
    observers.decision(decision)
    if not decision.allowed:
        raise Forbidden(
            decision.message,
            reason=decision.reason,
            action=decision.action or None,
            resource=decision.resource,
        )
    return decision


def check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise Invalid(f"offset must be 0 or more, got {offset}")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
