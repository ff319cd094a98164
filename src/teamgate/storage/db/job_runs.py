"""A workflow's run state and the calls that move all of its jobs: initialise, reset, cancel,
and what the status routes read. SQL only; the caller decides access and owns the transaction.

Every call that changes jobs first locks the workflow's `workflow_status` row (`lock_run`):
on PostgreSQL that serialises the workflow's completions, resets and cancellations (each
decides from what the previous one committed, and none can deadlock with another), while
claims take it shared. SQLite's write transactions are serial already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from teamgate.storage.db.job_graph import (
    DONE,
    FAILED,
    add_implied_edges,
    downstream_of,
    settle_uninitialized,
)
from teamgate.storage.db.jobs import count_by_status
from teamgate.storage.db.tables import compute_node, job, result, workflow_status

COMPLETE_OR_DISABLED = (*DONE, "disabled")


@dataclass(frozen=True, slots=True)
class RunState:
    workflow_id: int
    run_id: int
    is_canceled: bool
    is_archived: bool


_RUN = select(
    workflow_status.c.run_id, workflow_status.c.is_canceled, workflow_status.c.is_archived
).where(workflow_status.c.workflow_id == bindparam("workflow_id"))
_RUN_LOCKED = {False: _RUN.with_for_update(), True: _RUN.with_for_update(read=True)}


def run_states(conn: Connection, workflow_ids: Sequence[int]) -> dict[int, RunState]:
    """The run state of each workflow (one query for a page); a missing row is a first run."""
    found = {i: RunState(i, 1, False, False) for i in workflow_ids}
    if workflow_ids:
        columns = workflow_status.c
        rows = conn.execute(
            select(
                columns.workflow_id, columns.run_id, columns.is_canceled, columns.is_archived
            ).where(columns.workflow_id.in_(list(workflow_ids)))
        )
        for row in rows:
            found[row.workflow_id] = RunState(
                row.workflow_id, int(row.run_id), bool(row.is_canceled), bool(row.is_archived)
            )
    return found


def lock_run(conn: Connection, workflow_id: int, *, shared: bool = False) -> RunState:
    """The workflow's run state, its row locked for this transaction (shared: FOR SHARE).

    A workflow made before its run state existed gets one here."""
    row = conn.execute(_RUN_LOCKED[shared], {"workflow_id": workflow_id}).first()
    if row is None:
        conn.execute(
            insert(workflow_status).values(workflow_id=workflow_id, run_id=1, is_canceled=False)
        )
        row = conn.execute(_RUN_LOCKED[shared], {"workflow_id": workflow_id}).one()
    return RunState(workflow_id, int(row.run_id), bool(row.is_canceled), bool(row.is_archived))


def run_state(conn: Connection, workflow_id: int) -> RunState:
    """The run state, unlocked (for reads)."""
    row = conn.execute(_RUN, {"workflow_id": workflow_id}).first()
    if row is None:
        return RunState(workflow_id, 1, False, False)
    return RunState(workflow_id, int(row.run_id), bool(row.is_canceled), bool(row.is_archived))


def _abandoned(workflow_id: int) -> Any:
    """Pending or running jobs whose compute node is gone or no longer active (an interrupted
    run left them): an `only_uninitialized` initialisation runs them again."""
    active = select(compute_node.c.id).where(
        compute_node.c.workflow_id == workflow_id, compute_node.c.is_active.is_not(False)
    )
    return and_(
        job.c.status.in_(("pending", "running")),
        or_(job.c.compute_node_id.is_(None), job.c.compute_node_id.not_in(active)),
    )


def initialize(conn: Connection, workflow_id: int, *, only_uninitialized: bool) -> dict[str, int]:
    """Make the workflow's jobs runnable (Torc's initialize_jobs).

    Every job that will run again goes back to `uninitialized` with everything downstream of
    it (completed jobs included: their inputs will change); then those jobs become blocked,
    ready, or canceled (a flagged job with a failed blocker). `only_uninitialized` continues a
    run: uninitialized and terminated jobs, and pending/running ones whose compute node is not
    active. Otherwise every job not done and not disabled is started over, and the canceled
    flag is cleared. Returns the number of jobs per status afterwards.
    """
    lock_run(conn, workflow_id)
    add_implied_edges(conn, workflow_id)
    mine = job.c.workflow_id == workflow_id
    if only_uninitialized:
        again = or_(job.c.status == "terminated", _abandoned(workflow_id))
    else:
        again = job.c.status.in_(
            ("pending", "running", "terminated", "pending_failed", "blocked", "ready")
        )
        conn.execute(
            update(workflow_status)
            .where(workflow_status.c.workflow_id == workflow_id)
            .values(is_canceled=False)
        )
    _restart(conn, and_(mine, again))
    seeds = select(job.c.id).where(mine, job.c.status == "uninitialized")
    conn.execute(
        update(job)
        .where(job.c.id.in_(downstream_of(seeds)), job.c.status != "disabled")
        .values(status="uninitialized", compute_node_id=None, start_time=None)
    )
    settle_uninitialized(conn, workflow_id)
    return count_by_status(conn, workflow_id)


def _restart(conn: Connection, where: Any) -> int:
    statement = (
        update(job)
        .where(where)
        .values(status="uninitialized", compute_node_id=None, start_time=None)
    )
    return conn.execute(statement).rowcount or 0


def reset_jobs(conn: Connection, workflow_id: int, *, failed_only: bool) -> int:
    """Jobs back to `uninitialized` so that a new run initialises them: every job that is not
    already, or (failed_only) the failed, canceled, terminated and pending-failed ones and
    everything downstream of them. Attempts start again at 1. Returns how many changed."""
    lock_run(conn, workflow_id)
    mine = job.c.workflow_id == workflow_id
    where = and_(mine, job.c.status != "uninitialized")
    if failed_only:
        seeds = select(job.c.id).where(mine, job.c.status.in_(FAILED))
        again = job.c.status.in_((*FAILED, "pending_failed"))
        where = and_(
            where, job.c.status != "disabled", or_(again, job.c.id.in_(downstream_of(seeds)))
        )
    statement = (
        update(job)
        .where(where)
        .values(status="uninitialized", compute_node_id=None, start_time=None, attempt_id=1)
        .returning(job.c.id)  # counted from the rows: SQLite reports no rowcount after WITH
    )
    return len(conn.execute(statement).all())


def reset_run(conn: Connection, workflow_id: int) -> RunState:
    """Start a new run: the run id goes up by one and the canceled and archived flags clear."""
    state = lock_run(conn, workflow_id)
    conn.execute(
        update(workflow_status)
        .where(workflow_status.c.workflow_id == workflow_id)
        .values(run_id=state.run_id + 1, is_canceled=False, is_archived=False)
    )
    return RunState(workflow_id, state.run_id + 1, False, False)


def active_job_count(conn: Connection, workflow_id: int) -> int:
    query = select(func.count()).where(
        job.c.workflow_id == workflow_id, job.c.status.in_(("pending", "running"))
    )
    return int(conn.execute(query).scalar_one())


def cancel(conn: Connection, workflow_id: int) -> int:
    """Cancel the workflow: it claims nothing more, and its pending and running jobs become
    canceled (their runners stop them when they see the flag). Returns how many jobs changed."""
    lock_run(conn, workflow_id)
    conn.execute(
        update(workflow_status)
        .where(workflow_status.c.workflow_id == workflow_id)
        .values(is_canceled=True)
    )
    statement = (
        update(job)
        .where(job.c.workflow_id == workflow_id, job.c.status.in_(("pending", "running")))
        .values(status="canceled", compute_node_id=None, start_time=None)
    )
    return conn.execute(statement).rowcount or 0


def is_complete(conn: Connection, workflow_id: int) -> tuple[bool, bool]:
    """(is_complete, is_canceled): complete when canceled or no job is left to finish."""
    state = run_state(conn, workflow_id)
    if state.is_canceled:
        return True, True
    open_job = select(job.c.id).where(
        job.c.workflow_id == workflow_id, job.c.status.not_in(COMPLETE_OR_DISABLED)
    )
    return conn.execute(open_job.limit(1)).first() is None, False


def is_uninitialized(conn: Connection, workflow_id: int) -> bool:
    """Whether every job is uninitialized or disabled (a workflow with no jobs is)."""
    other = select(job.c.id).where(
        job.c.workflow_id == workflow_id, job.c.status.not_in(("uninitialized", "disabled"))
    )
    return conn.execute(other.limit(1)).first() is None


def status_summary(conn: Connection, workflow_id: int) -> dict[str, Any]:
    """What `GET /workflows/{id}/status` reports beside the workflow's name and owner."""
    state = run_state(conn, workflow_id)
    counts = count_by_status(conn, workflow_id)
    complete, canceled = is_complete(conn, workflow_id)
    active = conn.execute(
        select(func.count()).where(
            compute_node.c.workflow_id == workflow_id, compute_node.c.is_active.is_(True)
        )
    ).scalar_one()
    exec_minutes = conn.execute(
        select(func.coalesce(func.sum(result.c.exec_time_minutes), 0.0)).where(
            result.c.workflow_id == workflow_id, result.c.run_id == state.run_id
        )
    ).scalar_one()
    return {
        "workflow_id": workflow_id,
        "run_id": state.run_id,
        "is_canceled": canceled,
        "is_archived": state.is_archived,
        "is_complete": complete,
        "jobs_by_status": counts,
        "total_jobs": sum(counts.values()),
        "active_compute_nodes": int(active),
        "active_scheduled_nodes": 0,
        "pending_scheduled_nodes": 0,
        "total_exec_time_minutes": float(exec_minutes),
        "walltime_seconds": None,
    }
