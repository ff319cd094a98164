"""Runners that stopped sending heartbeats, and the jobs they left: SQL only; the caller
decides access and owns the transaction.

A compute node whose `last_heartbeat` is older than the cutoff is lost: it is marked inactive
and the jobs pending or running on it are recovered. A pending job never started, so it is
made ready again as it was; a running one is recorded as lost (a result) and, by policy,
made ready for its next attempt (`requeue`) or failed (`fail`, dependents settled as after
any failure). Everything happens under the workflow's run lock (`lock_run`), which
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
from teamgate.storage.db.tables import compute_node, job, result
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


@dataclass(slots=True)
class Recovery:
    workflow_id: int
    run_id: int
    policy: str
    nodes: list[LostNode] = field(default_factory=list)
    jobs: list[RecoveredJob] = field(default_factory=list)
    canceled: list[int] = field(default_factory=list)  # dependents the failures canceled


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
    conn: Connection, workflow_id: int, *, cutoff: str | None, policy: str, force: bool = False
) -> Recovery:
    """Mark the workflow's nodes silent since before `cutoff` lost and recover their jobs;
    with `force`, also the jobs left pending or running on nodes already inactive or gone."""
    if policy not in POLICIES:
        raise ValueError(f"lost-job policy must be one of {POLICIES}, got {policy!r}")
    state = lock_run(conn, workflow_id)
    found = Recovery(workflow_id, state.run_id, policy, nodes=_mark_lost(conn, workflow_id, cutoff))
    lost_ids = [n.id for n in found.nodes]
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
    new_status = "ready" if policy == "requeue" else "failed"
    moved = _move(conn, lost, status=new_status, next_attempt=policy == "requeue")
    found.jobs.extend(
        RecoveredJob(r.id, r.name, "running", new_status, int(r.attempt_id), int(r.compute_node_id))
        for r in moved
    )
    if moved:
        result_status = "terminated" if policy == "requeue" else "failed"
        records = [_lost_result(r, workflow_id, state.run_id, result_status, now) for r in moved]
        conn.execute(insert(result), records)
    if policy == "fail" and moved:
        found.canceled = unblock(conn, [], [r.id for r in moved])
    return found


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
