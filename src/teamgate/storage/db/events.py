"""Workflow events: what happened while a workflow ran, in the `event` table.

The engine records job starts and completions, initialisations, resets and cancellations here
(in the transaction that made the change, so an event exists exactly when its change does);
`GET /events` lists them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

from teamgate.storage.db.tables import event


def now_ms() -> int:
    """Milliseconds since the epoch: an event's `timestamp` as Torc writes it."""
    return time.time_ns() // 1_000_000


def record_event(conn: Connection, workflow_id: int, data: Mapping[str, Any]) -> int:
    """Store one event of `workflow_id` with JSON `data`; return its id."""
    values = {"workflow_id": workflow_id, "timestamp": now_ms(), "data": json.dumps(dict(data))}
    return int(conn.execute(insert(event).values(values).returning(event.c.id)).scalar_one())


def record_events(conn: Connection, workflow_id: int, items: list[Mapping[str, Any]]) -> None:
    """Store several events of one workflow in one statement (e.g. every job one call started)."""
    if items:
        stamp = now_ms()
        conn.execute(
            insert(event),
            [
                {"workflow_id": workflow_id, "timestamp": stamp, "data": json.dumps(dict(d))}
                for d in items
            ],
        )
