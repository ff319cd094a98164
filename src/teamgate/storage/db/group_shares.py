"""What is shared with one access group: its workflows and units, each with the level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Table, select

from teamgate.storage.db.tables import unit, unit_share, workflow, workflow_share
from teamgate.storage.db.units import Unit
from teamgate.storage.db.workflows import Workflow, _workflow_values

T = TypeVar("T")


def shared_workflows(conn: Connection, group_id: int, *, limit: int) -> list[tuple[Workflow, str]]:
    """The first `limit` workflows (by id) shared with the group, each with its level."""
    share = workflow_share.c
    return _shared(
        conn,
        workflow,
        share.workflow_id,
        share.group_id,
        share.access,
        group_id,
        order=workflow.c.id,
        make=_workflow_values,
        limit=limit,
    )


def shared_units(conn: Connection, group_id: int, *, limit: int) -> list[tuple[Unit, str]]:
    """The first `limit` units (by path) shared with the group, each with its level."""
    share = unit_share.c
    return _shared(
        conn,
        unit,
        share.unit_id,
        share.group_id,
        share.access,
        group_id,
        order=unit.c.path,
        make=lambda values: Unit(**values),
        limit=limit,
    )


def _shared(
    conn: Connection,
    table: Table,
    item: Column[Any],
    group: Column[Any],
    access: Column[Any],
    group_id: int,
    *,
    order: Column[Any],
    make: Callable[[dict[str, Any]], T],
    limit: int,
) -> list[tuple[T, str]]:
    """Rows of `table` shared with the group (through the share table of `item`, `group` and
    `access`), made into items by `make`, each with the share's level."""
    rows = conn.execute(
        select(table, access.label("share_access"))
        .join(item.table, item == table.c.id)
        .where(group == group_id)
        .order_by(order)
        .limit(limit)
    )
    found = []
    for row in rows:
        values = dict(row._mapping)
        level = values.pop("share_access")
        found.append((make(values), str(level)))
    return found
