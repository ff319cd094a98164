"""Workflow events: what happened while a workflow ran, in the `event` table.

The engine records job starts and completions, initialisations, resets and cancellations here
(in the transaction that made the change, so an event exists exactly when its change does);
`GET /events` lists them, filtered by `category` in the query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from teamgate.storage.db.tables import event

CATEGORY_CHARS = 64


def now_ms() -> int:
    """Milliseconds since the epoch: an event's `timestamp` as Torc writes it."""
    return time.time_ns() // 1_000_000


def event_category(data: Any) -> str | None:
    """What `GET /events?category=` matches: the data's `category` (else its `event_type` or
    `type`), as Torc's CLI reads it; None for data without one."""
    if not isinstance(data, Mapping):
        return None
    for key in ("category", "event_type", "type"):
        value = data.get(key)
        if isinstance(value, str):
            return value[:CATEGORY_CHARS]
    return None


def _row(workflow_id: int, stamp: int, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "timestamp": stamp,
        "data": json.dumps(dict(data)),
        "category": event_category(data),
    }


_INSERT = insert(event).returning(event.c.id)  # built once: runs record events per job


def record_event(conn: Connection, workflow_id: int, data: Mapping[str, Any]) -> int:
    """Store one event of `workflow_id` with JSON `data`; return its id."""
    return int(conn.execute(_INSERT, _row(workflow_id, now_ms(), data)).scalar_one())


def record_events(conn: Connection, workflow_id: int, items: Sequence[Mapping[str, Any]]) -> None:
    """Store several events of one workflow in one statement (e.g. every job one call started)."""
    if items:
        stamp = now_ms()
        conn.execute(insert(event), [_row(workflow_id, stamp, d) for d in items])
