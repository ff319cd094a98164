"""Storage contract for the audit log (SQLite and PostgreSQL): pages, filters, pruning."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from teamgate.domain.identity import Principal
from teamgate.domain.policy import Decision
from teamgate.errors import Invalid, NotFound
from teamgate.services import audit
from teamgate.storage.db import audit as store
from teamgate.storage.db.audit import AuditFilter
from teamgate.storage.db.engine import Database
from teamgate.storage.db.tables import audit_event


def add(database: Database, time: str, *, user: str | None = "alice", action: str = "a") -> int:
    with database.write() as conn:
        return store.insert_event(
            conn,
            time=time,
            user=user,
            client="127.0.0.1",
            request_id=None,
            action=action,
            resource="r",
            decision="allowed",
            reason=None,
            detail=None,
        )


def every_page(database: Database, filters: AuditFilter, limit: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        with database.read() as conn:
            page = store.list_events(conn, filters, limit=limit, after=after)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            return seen
        assert len(page.items) == limit
        after = page.next_cursor


def test_pages_are_newest_first_and_each_event_comes_once(database: Database) -> None:
    # times out of id order, and runs of equal times that a page boundary splits
    times = [f"2024-01-0{d}T00:00:00.000Z" for d in (3, 1, 2, 2, 2, 3, 1, 2)]
    users = itertools.cycle(["alice", "bob", None])
    ids = [add(database, t, user=next(users)) for t in times]
    expected = [i for _, i in sorted(zip(times, ids, strict=True), reverse=True)]
    for limit in (1, 2, 3, 100):
        assert every_page(database, AuditFilter(), limit) == expected
    bobs = [i for i in expected if (ids.index(i)) % 3 == 1]
    assert every_page(database, AuditFilter(user="bob"), 2) == bobs
    nobody = [i for i in expected if (ids.index(i)) % 3 == 2]
    assert every_page(database, AuditFilter(anonymous=True), 1) == nobody
    since = AuditFilter(since="2024-01-02T00:00:00.000Z", until="2024-01-03T00:00:00.000Z")
    assert every_page(database, since, 2) == [i for i in expected if times[ids.index(i)][9] == "2"]


def test_a_cursor_to_a_missing_event_is_invalid(database: Database) -> None:
    with database.read() as conn, pytest.raises(Invalid, match="cursor 42 names no audit event"):
        store.list_events(conn, AuditFilter(), limit=10, after=42)


def count(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_event)).scalar_one())


def test_pruning_deletes_only_what_is_past_retention(database: Database) -> None:
    for day in range(1, 31):
        add(database, f"2024-01-{day:02d}T12:00:00.000Z")
    now = datetime(2024, 1, 31, 0, 0, tzinfo=UTC)
    assert audit.Pruner(database, retention_days=0).prune(now=now) == 0
    with database.write() as conn:
        assert store.prune_before(conn, "2024-01-05T00:00:00.000Z", batch=3) == 3
    assert count(database) == 27
    assert audit.Pruner(database, retention_days=10).prune(now=now) == 17  # in batches
    with database.read() as conn:
        left = store.list_events(conn, AuditFilter(), limit=100).items
    assert [e.time[:10] for e in left][-1] == "2024-01-21"
    assert len(left) == 10


def test_a_record_rolls_back_with_its_change(database: Database) -> None:
    alice = Principal("alice", is_admin=True)
    with pytest.raises(NotFound), database.write() as conn:
        audit.record(conn, alice, "group.create", "group/1", Decision(True, "system administrator"))
        raise NotFound("the change failed after its record was written")
    assert count(database) == 0
    with database.write() as conn:
        audit.record(conn, alice, "group.create", "group/1", Decision(True, "system administrator"))
    with database.read() as conn:
        (event,) = store.list_events(conn, AuditFilter(), limit=10).items
    assert (event.user_name, event.action, event.reason, event.client) == (
        "alice",
        "group.create",
        "system administrator",
        None,  # outside a request: no client address
    )
