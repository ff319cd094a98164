"""The audit log: administrative changes, denied requests and failed logins.

A change is recorded with `record()` on the connection of the transaction that makes it, so a
rolled-back change leaves no record and a committed one always has its record. Refusals (403,
and 401 for offered credentials) are recorded by the web layer with `record_refusal()` in a
short transaction of their own (401s in bounded numbers per client: see services.refusals),
and so is each lock the login throttle starts (`record_lockout()`). Only system
administrators may list the log.

Passwords and tokens are never recorded: for a failed login the record holds the user name
that was tried, or the lookup part of a token (`tg_<lookup>_…`), never its secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from teamgate.auth.throttle import Lockout
from teamgate.domain.actions import Action
from teamgate.domain.identity import ANONYMOUS, Principal
from teamgate.domain.policy import Decision, decide
from teamgate.errors import Invalid
from teamgate.services import request_info
from teamgate.services.context import MAX_LIMIT, ServiceContext, require
from teamgate.services.periodic import Periodic
from teamgate.storage.db import audit as store
from teamgate.storage.db.audit import AuditFilter, AuditPage
from teamgate.storage.db.engine import Database
from teamgate.storage.db.util import now_text, utc_text

log = logging.getLogger("teamgate.audit")

ALLOWED, DENIED, FAILED_LOGIN = "allowed", "denied", "failed-login"
THROTTLED = "login.throttled"
DECISIONS = (ALLOWED, DENIED, FAILED_LOGIN)
DEFAULT_LIMIT = 100
PRUNE_INTERVAL_SECS = 3600.0
# longest text kept per field; longer values are cut (a path may be long, a reason is not)
LIMITS = {"user": 255, "client": 64, "action": 255, "resource": 4096, "text": 4096}


def clean(value: str | None, limit: int) -> str | None:
    """`value` as safe, printable text of at most `limit` characters (None stays None).

    Control characters and undecodable bytes (a Basic header may carry any) are escaped, so a
    crafted user name can neither break a terminal nor the database's text encoding.
    """
    if value is None:
        return None
    text = "".join(ch if ch.isprintable() else _escape(ch) for ch in value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to record (who, what, on which resource, with which outcome, and why)."""

    user: str | None
    action: str
    resource: str
    decision: str
    reason: str | None
    detail: str | None = None


def _insert(conn: Connection, event: Event) -> None:
    info = request_info.current()
    store.insert_event(
        conn,
        time=now_text(),
        user=clean(event.user, LIMITS["user"]),
        client=clean(info.client if info else None, LIMITS["client"]),
        request_id=info.id if info else None,
        action=clean(event.action, LIMITS["action"]) or "",
        resource=clean(event.resource, LIMITS["resource"]) or "",
        decision=event.decision,
        reason=clean(event.reason, LIMITS["text"]),
        detail=clean(event.detail, LIMITS["text"]),
    )


def record(
    conn: Connection,
    principal: Principal,
    action: str,
    resource: str,
    decision: Decision,
    detail: str | None = None,
) -> None:
    """Record an administrative change in the transaction that makes it (`conn`).

    `decision` is what allowed it (its reason is recorded); `detail` says what changed.
    """
    _insert(conn, Event(principal.name, action, resource, ALLOWED, decision.reason, detail))


def record_refusal(db: Database, event: Event) -> bool:
    """Record a denied request or a failed login in a short transaction of its own.

    Never raises: the caller is answering a 401 or 403 and must go on doing so; a failure is
    logged and reported as False.
    """
    try:
        with db.write() as conn:
            _insert(conn, event)
    except Exception:
        log.exception("Could not record %s %s in the audit log", event.decision, event.action)
        return False
    return True


def record_lockout(db: Database, lockout: Lockout) -> None:
    """Record that the login throttle has started refusing sign-ins for a user name, or
    (user None) from a client address.

    The throttle reports a lock once, as it starts (see auth.throttle), never each attempt it
    then refuses: a flood of refused attempts adds nothing here.
    """
    target = f"user/{lockout.user}" if lockout.user is not None else f"client/{lockout.address}"
    reason = f"{lockout.failures} failed sign-in attempts; Retry-After {lockout.retry_after} s"
    record_refusal(db, Event(lockout.user, THROTTLED, target, DENIED, reason))


# -- listing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """The filters of a listing as the caller gave them (checked by `list_events`)."""

    user: str | None = None
    action: str | None = None
    resource: str | None = None
    since: str | None = None
    until: str | None = None
    decision: str | None = None


def parse_time(name: str, value: str) -> str:
    """An ISO 8601 time or date from a filter, in the stored form; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return utc_text(moment)
    except (ValueError, OverflowError):
        raise Invalid(
            f"{name} must be an ISO 8601 time such as 2024-05-01T12:00:00Z or a date such as "
            f"2024-05-01, got {value!r}"
        ) from None


def _filter(query: Query) -> AuditFilter:
    if query.decision is not None and query.decision not in DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(DECISIONS)}, got {query.decision!r}")
    since = parse_time("since", query.since) if query.since else None
    until = parse_time("until", query.until) if query.until else None
    if since is not None and until is not None and since >= until:
        raise Invalid(f"since ({since}) must be before until ({until})")
    return AuditFilter(
        user=query.user if query.user != ANONYMOUS else None,
        anonymous=query.user == ANONYMOUS,
        action=query.action or None,
        resource=query.resource or None,
        since=since,
        until=until,
        decision=query.decision,
    )


def list_events(
    ctx: ServiceContext,
    principal: Principal,
    query: Query,
    *,
    limit: int = DEFAULT_LIMIT,
    after: int | None = None,
) -> AuditPage:
    """A page of events, newest first (system administrators only).

    `user` "anonymous" selects events without a user; `action` is a prefix; `resource` a prefix
    of whole segments; `since` is inclusive, `until` exclusive.
    """
    require(decide(principal, Action.AUDIT_READ, enforce=ctx.enforce))
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    filters = _filter(query)
    with ctx.db.read() as conn:
        return store.list_events(conn, filters, limit=limit, after=after)


# -- retention -----------------------------------------------------------------------------


class Pruner:
    """Deletes events older than `retention_days` (0: keep forever): once when started, then
    every `interval_secs` in a daemon thread."""

    def __init__(
        self, db: Database, *, retention_days: int, interval_secs: float = PRUNE_INTERVAL_SECS
    ) -> None:
        self.db = db
        self.retention_days = retention_days
        self.interval_secs = interval_secs
        self._periodic = Periodic(
            self._prune_logged, name="audit-prune", interval_secs=interval_secs
        )

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete what is past retention now; how many events were deleted."""
        if self.retention_days <= 0:
            return 0
        cutoff = utc_text((now or datetime.now(UTC)) - timedelta(days=self.retention_days))
        total = 0
        while True:
            with self.db.write() as conn:
                deleted = store.prune_before(conn, cutoff)
            total += deleted
            if deleted < store.PRUNE_BATCH:
                break
        if total:
            log.info("Pruned %d audit events older than %d days", total, self.retention_days)
        return total

    def _prune_logged(self) -> None:
        try:
            self.prune()
        except Exception:
            log.exception("Pruning the audit log failed; will try again later")

    def start(self) -> None:
        """Prune now (before the server answers), then periodically."""
        if self.retention_days > 0:
            self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
