"""What is shared with one access group: its workflows and units, each with the level."""

from __future__ import annotations

from sqlalchemy import Connection, select

from teamgate.storage.db.tables import unit, unit_share, workflow, workflow_share
from teamgate.storage.db.units import Unit
from teamgate.storage.db.workflows import Workflow, _workflow_values


def shared_workflows(conn: Connection, group_id: int, *, limit: int) -> list[tuple[Workflow, str]]:
    """The first `limit` workflows (by id) shared with the group, each with its level."""
    rows = conn.execute(
        select(workflow, workflow_share.c.access.label("share_access"))
        .join(workflow_share, workflow_share.c.workflow_id == workflow.c.id)
        .where(workflow_share.c.group_id == group_id)
        .order_by(workflow.c.id)
        .limit(limit)
    )
    found = []
    for row in rows:
        values = dict(row._mapping)
        access = values.pop("share_access")
        found.append((_workflow_values(values), str(access)))
    return found


def shared_units(conn: Connection, group_id: int, *, limit: int) -> list[tuple[Unit, str]]:
    """The first `limit` units (by path) shared with the group, each with its level."""
    rows = conn.execute(
        select(unit, unit_share.c.access.label("share_access"))
        .join(unit_share, unit_share.c.unit_id == unit.c.id)
        .where(unit_share.c.group_id == group_id)
        .order_by(unit.c.path)
        .limit(limit)
    )
    found = []
    for row in rows:
        values = dict(row._mapping)
        access = values.pop("share_access")
        found.append((Unit(**values), str(access)))
    return found
