"""Slurm allocations of a workflow (table `slurm_allocation`): one row per sbatch that
`torc submit-slurm` or a finishing allocation made. SQL only; the caller decides access and
owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from teamgate.errors import NotFound
from teamgate.storage.db.tables import slurm_allocation
from teamgate.storage.db.util import now_text

ACTIVE = ("submitted", "running")
ENDED = ("done", "canceled", "failed")
STATES = (*ACTIVE, *ENDED)
MAX_PER_WORKFLOW = 10_000  # a list answers at most this many (newest first)

_COLUMNS = (
    "id",
    "workflow_id",
    "slurm_job_id",
    "resource_requirements_id",
    "group_name",
    "account",
    "partition",
    "num_cpus",
    "memory_bytes",
    "time_limit",
    "state",
    "submitted_by",
    "submitted_at",
    "ended_at",
    "compute_node_id",
)


def _row(found: Any) -> dict[str, Any]:
    return {name: getattr(found, name) for name in _COLUMNS}


def active_count(conn: Connection, workflow_id: int, group_name: str) -> int:
    """Allocations of the workflow for the group that are submitted or running."""
    c = slurm_allocation.c
    query = select(func.count()).where(
        c.workflow_id == workflow_id, c.group_name == group_name, c.state.in_(ACTIVE)
    )
    return int(conn.execute(query).scalar_one())


def insert_allocation(
    conn: Connection, workflow_id: int, submitted_by: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """A new allocation, `submitted`; `values` holds the group, account, partition, CPUs,
    memory, time limit, resource requirements id and (when known) the Slurm job id."""
    row = {
        **{k: values.get(k) for k in _COLUMNS if k in values},
        "workflow_id": workflow_id,
        "state": "submitted",
        "submitted_by": submitted_by,
        "submitted_at": now_text(),
        "ended_at": None,
    }
    row.pop("id", None)
    new_id = conn.execute(insert(slurm_allocation).values(**row)).inserted_primary_key
    assert new_id is not None
    return get_allocation(conn, workflow_id, int(new_id[0]))


def get_allocation(conn: Connection, workflow_id: int, allocation_id: int) -> dict[str, Any]:
    c = slurm_allocation.c
    found = conn.execute(
        select(slurm_allocation).where(c.id == allocation_id, c.workflow_id == workflow_id)
    ).first()
    if found is None:
        raise NotFound(f"workflow {workflow_id} has no Slurm allocation {allocation_id}")
    return _row(found)


def list_allocations(conn: Connection, workflow_id: int) -> list[dict[str, Any]]:
    """The workflow's allocations, oldest first (the newest MAX_PER_WORKFLOW of them)."""
    c = slurm_allocation.c
    query = (
        select(slurm_allocation)
        .where(c.workflow_id == workflow_id)
        .order_by(c.id.desc())
        .limit(MAX_PER_WORKFLOW)
    )
    return [_row(found) for found in reversed(conn.execute(query).all())]


def update_allocation(
    conn: Connection, workflow_id: int, allocation_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    c = slurm_allocation.c
    if changes:
        conn.execute(
            update(slurm_allocation)
            .where(c.id == allocation_id, c.workflow_id == workflow_id)
            .values(**changes)
        )
    return get_allocation(conn, workflow_id, allocation_id)
