"""Runners that stopped sending heartbeats, and the jobs they left: SQL only; the caller
decides access and owns the transaction.

A compute node whose `last_heartbeat` is older than the cutoff is lost: it is marked inactive
and the jobs pending or running on it are recovered. A pending job never started, so it is
made ready again as it was; a running one is recorded as lost (a result) and, by policy,
made ready for its next attempt (`requeue`) or failed (`fail`, dependents settled as after
any failure). Under `requeue`, a job lost on its last allowed attempt (`max_attempts`) is
failed instead: a job that brings its machine down does not take runner after runner with it.
A Slurm allocation whose runner's node is lost is ended (`failed`), so its group may get a new
one. Everything happens under the workflow's run lock (`lock_run`), which
completions take too, and every update re-checks what it changes: two recoveries at once
(two server processes) recover each job once, and a completion either lands first (the job
is done and left alone) or finds the job recovered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from teamgate.errors import Conflict
from teamgate.storage.db.job_graph import unblock
from teamgate.storage.db.job_runs import lock_run
from teamgate.storage.db.tables import compute_node, job, result, slurm_allocation
from teamgate.storage.db.util import now_text

POLICIES = ("requeue", "fail")
LOST_RETURN_CODE = -1  # no process told us how the job ended
ACTIVE_STATES = ("pending", "running")


@dataclass(frozen=True, slots=True)
class LostNode:
    id: int
    hostname: str
    pid: int
    last_heartbeat: str | None


@dataclass(frozen=True, slots=True)
class RecoveredJob:
    job_id: int
    name: str
    was: str  # pending or running
    now: str  # ready or failed
    attempt_id: int  # the attempt that was lost
    compute_node_id: int
    exhausted: bool = False  # failed, not requeued: it was the last allowed attempt


@dataclass(frozen=True, slots=True)
class LostAllocation:
    id: int
    group_name: str
    compute_node_id: int


@dataclass(slots=True)
class Recovery:
    workflow_id: int
    run_id: int
    policy: str
    nodes: list[LostNode] = field(default_factory=list)
    jobs: list[RecoveredJob] = field(default_factory=list)
    canceled: list[int] = field(default_factory=list)  # dependents the failures canceled
    allocations: list[LostAllocation] = field(default_factory=list)  # ended with their node


def workflows_with_stale_nodes(conn: Connection, cutoff: str) -> list[int]:
    """The workflows with an active compute node whose last heartbeat is before `cutoff`
    (a node that never sent one, registered before heartbeats existed, is left alone)."""
    query = (
        select(compute_node.c.workflow_id)
        .where(
            compute_node.c.is_active.is_(True),
            compute_node.c.last_heartbeat.is_not(None),
            compute_node.c.last_heartbeat < cutoff,
        )
        .distinct()
    )
    return sorted(int(i) for i in conn.execute(query).scalars())


def beat(conn: Connection, node_id: int) -> str | None:
    """Record a heartbeat of an active node; its time, or None if the node is not active."""
    now = now_text()
    statement = (
        update(compute_node)
        .where(compute_node.c.id == node_id, compute_node.c.is_active.is_not(False))
        .values(last_heartbeat=now)
        .returning(compute_node.c.id)
    )
    return now if conn.execute(statement).first() is not None else None


def _mark_lost(conn: Connection, workflow_id: int, cutoff: str | None) -> list[LostNode]:
    if cutoff is None:
        return []
    node = compute_node.c
    statement = (
        update(compute_node)
        .where(
            node.workflow_id == workflow_id,
            node.is_active.is_(True),
            node.last_heartbeat.is_not(None),
            node.last_heartbeat < cutoff,
        )
        .values(is_active=False)
        .returning(node.id, node.hostname, node.pid, node.last_heartbeat)
    )
    return [
        LostNode(int(r.id), r.hostname, int(r.pid), r.last_heartbeat)
        for r in conn.execute(statement)
    ]


def _orphaned(workflow_id: int) -> Any:
    """Jobs pending or running on a node that is no longer active or no longer exists."""
    active = select(compute_node.c.id).where(
        compute_node.c.workflow_id == workflow_id, compute_node.c.is_active.is_not(False)
    )
    return and_(job.c.compute_node_id.is_not(None), job.c.compute_node_id.not_in(active))


def recover(
    conn: Connection,
    workflow_id: int,
    *,
    cutoff: str | None,
    policy: str,
    force: bool = False,
    max_attempts: int = 0,
) -> Recovery:
    """Mark the workflow's nodes silent since before `cutoff` lost, end their Slurm
    allocations and recover their jobs; with `force`, also the jobs left pending or running on
    nodes already inactive or gone. Under `requeue`, a running job on its attempt
    `max_attempts` (or later) is failed instead (0: no limit)."""
    if policy not in POLICIES:
        raise ValueError(f"lost-job policy must be one of {POLICIES}, got {policy!r}")
    state = lock_run(conn, workflow_id)
    found = Recovery(workflow_id, state.run_id, policy, nodes=_mark_lost(conn, workflow_id, cutoff))
    lost_ids = [n.id for n in found.nodes]
    found.allocations = _end_allocations(conn, workflow_id, lost_ids)
    on_node: Any = job.c.compute_node_id.in_(lost_ids) if lost_ids else None
    if force:
        on_node = (
            _orphaned(workflow_id) if on_node is None else or_(on_node, _orphaned(workflow_id))
        )
    if on_node is None:
        return found
    rows = conn.execute(
        select(job.c.id, job.c.name, job.c.status, job.c.attempt_id, job.c.compute_node_id)
        .where(job.c.workflow_id == workflow_id, job.c.status.in_(ACTIVE_STATES), on_node)
        .order_by(job.c.id)
    ).all()
    now = now_text()
    again = [r for r in rows if r.status == "pending"]
    lost = [r for r in rows if r.status == "running"]
    found.jobs.extend(
        RecoveredJob(r.id, r.name, "pending", "ready", int(r.attempt_id), int(r.compute_node_id))
        for r in _move(conn, again, status="ready", next_attempt=False)
    )
    last = {r.id for r in lost if policy == "fail" or _last_attempt(r, max_attempts)}
    retry = [r for r in lost if r.id not in last]
    requeued = _move(conn, retry, status="ready", next_attempt=True)
    failed = _move(conn, [r for r in lost if r.id in last], status="failed", next_attempt=False)
    exhausted = policy == "requeue"  # failed for want of attempts, not by policy
    found.jobs.extend(
        RecoveredJob(r.id, r.name, "running", to, int(r.attempt_id), int(r.compute_node_id), ex)
        for moved, to, ex in ((requeued, "ready", False), (failed, "failed", exhausted))
        for r in moved
    )
    records = [_lost_result(r, workflow_id, state.run_id, "terminated", now) for r in requeued]
    records += [_lost_result(r, workflow_id, state.run_id, "failed", now) for r in failed]
    if records:
        conn.execute(insert(result), records)
    if failed:
        found.canceled = unblock(conn, [], [r.id for r in failed])
    return found


def _last_attempt(row: Any, max_attempts: int) -> bool:
    return bool(max_attempts) and int(row.attempt_id) >= max_attempts


def _end_allocations(
    conn: Connection, workflow_id: int, node_ids: list[int]
) -> list[LostAllocation]:
    """End (failed) the submitted or running Slurm allocations whose runner ran on one of
    these lost nodes: the allocation is gone with it, and its group may get a new one."""
    if not node_ids:
        return []
    c = slurm_allocation.c
    statement = (
        update(slurm_allocation)
        .where(
            c.workflow_id == workflow_id,
            c.compute_node_id.in_(node_ids),
            c.state.in_(("submitted", "running")),
        )
        .values(state="failed", ended_at=now_text())
        .returning(c.id, c.group_name, c.compute_node_id)
    )
    found = [
        LostAllocation(int(r.id), r.group_name, int(r.compute_node_id))
        for r in conn.execute(statement)
    ]
    return sorted(found, key=lambda a: a.id)


def _move(conn: Connection, rows: list[Any], *, status: str, next_attempt: bool) -> list[Any]:
    """Move `rows` (still pending or running on the node they were read on) to `status`;
    returns those moved."""
    if not rows:
        return []
    values: dict[str, Any] = {"status": status, "compute_node_id": None, "start_time": None}
    if next_attempt:
        values["attempt_id"] = job.c.attempt_id + 1
    statement = (
        update(job)
        .where(job.c.id.in_([r.id for r in rows]), job.c.status.in_(ACTIVE_STATES))
        .values(**values)
        .returning(job.c.id)
    )
    changed = set(conn.execute(statement).scalars())
    return [r for r in rows if r.id in changed]


def _lost_result(row: Any, workflow_id: int, run_id: int, status: str, now: str) -> dict[str, Any]:
    return {
        "job_id": row.id,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "attempt_id": row.attempt_id,
        "compute_node_id": row.compute_node_id,
        "return_code": LOST_RETURN_CODE,
        "exec_time_minutes": 0.0,
        "completion_time": now,
        "status": status,
    }


def already_completed(
    conn: Connection, job_id: int, run_id: int, attempt_id: int, status: str
) -> bool:
    """Whether this attempt of the job was completed with `status` already (the runner's
    answer was lost and it asks again): the job is in that status and its result is there."""
    query = (
        select(result.c.id)
        .join(job, job.c.id == result.c.job_id)
        .where(
            result.c.job_id == job_id,
            result.c.run_id == run_id,
            result.c.attempt_id == attempt_id,
            result.c.status == status,
            job.c.status == status,
            job.c.attempt_id == attempt_id,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def node_names(conn: Connection, node_ids: list[int]) -> dict[int, tuple[str, int]]:
    """(hostname, pid) of each of these compute nodes that still exists."""
    if not node_ids:
        return {}
    rows = conn.execute(
        select(compute_node.c.id, compute_node.c.hostname, compute_node.c.pid).where(
            compute_node.c.id.in_(node_ids)
        )
    )
    return {int(r.id): (r.hostname, int(r.pid)) for r in rows}


def node_workflow(conn: Connection, node_id: int) -> tuple[int, bool] | None:
    """(workflow id, whether active) of a compute node, or None if there is none."""
    row = conn.execute(
        select(compute_node.c.workflow_id, compute_node.c.is_active).where(
            compute_node.c.id == node_id
        )
    ).first()
    return None if row is None else (int(row.workflow_id), row.is_active is not False)


# -- calls a runner repeats when an answer was lost (server restarts, lost connections) ------


def repeated_start(current: Mapping[str, Any], compute_node_id: int) -> bool:
    """Whether a start that finds the job running is this node's own start, repeated."""
    return bool(current["status"] == "running" and current["compute_node_id"] == compute_node_id)


def repeated_completion(
    conn: Connection, current: Mapping[str, Any], run_id: int, attempt_id: int, status: str
) -> bool:
    """Whether a completion that finds the job finished is the same one, repeated."""
    if current["status"] in ACTIVE_STATES or current["status"] != status:
        return False
    return already_completed(conn, int(current["id"]), run_id, attempt_id, status)


def stale_attempt(current: Mapping[str, Any], attempt_id: int) -> str | None:
    """Why a completion of another attempt than the job's current one is refused, or None:
    the job was recovered from a runner declared lost and runs again (or ran) elsewhere."""
    if int(attempt_id) == int(current["attempt_id"]):
        return None
    return (
        f"attempt {attempt_id} of job {current['id']} is not its current attempt "
        f"({current['attempt_id']}): its runner was declared lost and the job recovered"
    )


def check_attempt(current: Mapping[str, Any], attempt_id: int) -> None:
    why = stale_attempt(current, attempt_id)
    if why is not None:
        raise Conflict(why)
