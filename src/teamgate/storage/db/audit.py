"""The audit log: append events, list them newest first (keyset pages), prune old ones."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, or_, select

from teamgate.errors import Invalid
from teamgate.storage.db.tables import audit_event

PRUNE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    time: str
    user_name: str | None
    client: str | None
    request_id: str | None
    action: str
    resource: str
    decision: str
    reason: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to list. Times are in the stored form (`YYYY-MM-DDTHH:MM:SS.mmmZ`)."""

    user: str | None = None
    anonymous: bool = False  # only events without a user (takes precedence over `user`)
    action: str | None = None  # prefix (an exact name is its own prefix)
    resource: str | None = None  # prefix of whole segments: `group/1` is not `group/12`
    since: str | None = None  # inclusive
    until: str | None = None  # exclusive
    decision: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEvent]
    next_cursor: int | None  # pass as `after` for the next page; None on the last page


def insert_event(
    conn: Connection,
    *,
    time: str,
    user: str | None,
    client: str | None,
    request_id: str | None,
    action: str,
    resource: str,
    decision: str,
    reason: str | None,
    detail: str | None,
) -> int:
    statement = insert(audit_event).values(
        time=time,
        user_name=user,
        client=client,
        request_id=request_id,
        action=action,
        resource=resource,
        decision=decision,
        reason=reason,
        detail=detail,
    )
    return int(conn.execute(statement.returning(audit_event.c.id)).scalar_one())


def _conditions(filters: AuditFilter) -> list[ColumnElement[bool]]:
    c = audit_event.c
    found: list[ColumnElement[bool]] = []
    if filters.anonymous:
        found.append(c.user_name.is_(None))
    elif filters.user is not None:
        found.append(c.user_name == filters.user)
    if filters.action:
        found.append(c.action.startswith(filters.action, autoescape=True))
    if filters.resource:
        found.append(_resource_prefix(filters.resource))
    if filters.since is not None:
        found.append(c.time >= filters.since)
    if filters.until is not None:
        found.append(c.time < filters.until)
    if filters.decision is not None:
        found.append(c.decision == filters.decision)
    return found


def _resource_prefix(prefix: str) -> ColumnElement[bool]:
    column = audit_event.c.resource
    if prefix.endswith("/"):
        return column.startswith(prefix, autoescape=True)
    return or_(column == prefix, column.startswith(prefix + "/", autoescape=True))


def _after(conn: Connection, cursor: int) -> ColumnElement[bool]:
    """Events older than the one with id `cursor` in (time, id) order."""
    c = audit_event.c
    time = conn.execute(select(c.time).where(c.id == cursor)).scalar_one_or_none()
    if time is None:
        raise Invalid(
            f"cursor {cursor} names no audit event (it may have been pruned); "
            "list again without 'after'"
        )
    return or_(c.time < time, and_(c.time == time, c.id < cursor))


def list_events(
    conn: Connection, filters: AuditFilter, *, limit: int, after: int | None = None
) -> AuditPage:
    """Up to `limit` events matching `filters`, newest first, after the cursor `after`."""
    c = audit_event.c
    conditions = _conditions(filters)
    if after is not None:
        conditions.append(_after(conn, after))
    query = (
        select(audit_event).where(*conditions).order_by(c.time.desc(), c.id.desc()).limit(limit + 1)
    )
    rows = conn.execute(query).all()
    items = [AuditEvent(**row._mapping) for row in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(items, items[-1].id if more and items else None)


def prune_before(conn: Connection, cutoff: str, *, batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` of the events older than `cutoff`; how many were deleted."""
    c = audit_event.c
    oldest = select(c.id).where(c.time < cutoff).order_by(c.time).limit(batch)
    result = conn.execute(delete(audit_event).where(c.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount)
