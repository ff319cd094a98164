"""The hot path of a run: claim ready jobs, start them, complete them (or retry). SQL only.

A claim hands each job to exactly one caller: the chosen rows are locked as they are read
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claims pass each other by; SQLite's
write transaction is serial), and the update that marks them pending re-checks
`status = 'ready'`, returning only the rows it changed. Completing a job settles its
dependents in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, or_, select, update

from teamgate.errors import Conflict, Invalid, NotFound
from teamgate.storage.db.job_graph import FAILED, unblock
from teamgate.storage.db.job_runs import RunState, lock_run
from teamgate.storage.db.jobs import FINAL, job_columns, job_out
from teamgate.storage.db.lost_jobs import check_attempt, repeated_completion, repeated_start
from teamgate.storage.db.tables import compute_node, job, resource_requirements, result
from teamgate.storage.db.util import now_text

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Resources:
    """What a compute node offers a claim (torc-client's ComputeNodesResources)."""

    num_cpus: int
    num_gpus: int
    num_nodes: int
    memory_bytes: int
    runtime_s: int | None = None  # the time left; None: no limit
    compute_node_id: int | None = None


def _lock_rows(conn: Connection, query: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=job)
    return query


def _mark_pending(
    conn: Connection, ids: list[int], compute_node_id: int | None
) -> list[dict[str, Any]]:
    if not ids:
        return []
    statement = (
        update(job)
        .where(job.c.id.in_(ids), job.c.status == "ready")
        .values(status="pending", compute_node_id=compute_node_id)
        .returning(*job_columns())
    )
    claimed = {row.id: job_out(row) for row in conn.execute(statement)}
    return [claimed[i] for i in ids if i in claimed]  # in the order chosen


def _ready_that_fit(query: Select[Any], workflow_id: int, offer: Resources) -> Select[Any]:
    """`query` over the workflow's ready jobs whose requirements each fit in `offer`, in
    claim order: highest priority first, then most GPUs, longest runtime, most memory (Torc's
    order), then id."""
    rr = resource_requirements
    conditions = [
        job.c.workflow_id == workflow_id,
        job.c.status == "ready",
        rr.c.num_cpus <= offer.num_cpus,
        rr.c.num_gpus <= offer.num_gpus,
        rr.c.num_nodes <= offer.num_nodes,
        rr.c.memory_bytes <= offer.memory_bytes,
    ]
    if offer.runtime_s is not None:
        conditions.append(rr.c.runtime_s <= offer.runtime_s)
    return (
        query.join(rr, rr.c.id == job.c.resource_requirements_id)
        .where(*conditions)
        .order_by(
            job.c.priority.desc(),
            rr.c.num_gpus.desc(),
            rr.c.runtime_s.desc(),
            rr.c.memory_bytes.desc(),
            job.c.id,
        )
    )


def claim_by_resources(
    conn: Connection, workflow_id: int, limit: int, offer: Resources
) -> tuple[list[dict[str, Any]], str | None]:
    """Claim up to `limit` ready jobs that fit together in `offer`: highest priority first,
    then most GPUs, longest runtime, most memory (Torc's order); packed greedily.
    Returns the claimed jobs (now pending) and, when none could be, why."""
    state = lock_run(conn, workflow_id, shared=True)
    if state.is_canceled:
        return [], "Workflow is canceled"
    rr = resource_requirements
    query = _ready_that_fit(
        select(job.c.id, rr.c.num_cpus, rr.c.num_gpus, rr.c.num_nodes, rr.c.memory_bytes),
        workflow_id,
        offer,
    ).limit(limit)
    cpus, gpus, nodes, memory = offer.num_cpus, offer.num_gpus, offer.num_nodes, offer.memory_bytes
    chosen: list[int] = []
    for row in conn.execute(_lock_rows(conn, query)):
        multi = row.num_nodes > 1
        if row.num_cpus > cpus or row.num_gpus > gpus or row.memory_bytes > memory:
            continue
        if multi and row.num_nodes > nodes:
            continue
        cpus, gpus, memory = cpus - row.num_cpus, gpus - row.num_gpus, memory - row.memory_bytes
        nodes -= row.num_nodes if multi else 0
        chosen.append(row.id)
    claimed = _mark_pending(conn, chosen, offer.compute_node_id)
    return claimed, None if claimed else "No ready job fits the offered resources"


def claim_next(conn: Connection, workflow_id: int, limit: int) -> list[dict[str, Any]]:
    """Claim up to `limit` ready jobs whatever their requirements, highest priority first."""
    state = lock_run(conn, workflow_id, shared=True)
    if state.is_canceled:
        return []
    query = (
        select(job.c.id)
        .where(job.c.workflow_id == workflow_id, job.c.status == "ready")
        .order_by(job.c.priority.desc(), job.c.id)
        .limit(limit)
    )
    ids = list(conn.execute(_lock_rows(conn, query)).scalars())
    return _mark_pending(conn, ids, None)


def _check_run(state: RunState, run_id: int) -> None:
    if run_id != state.run_id:
        raise Conflict(
            f"run_id {run_id} is not the workflow's current run ({state.run_id}): "
            "this runner belongs to an earlier run"
        )


# Built once: start and complete run for every job of a run.
_NODE_WORKFLOW = select(compute_node.c.workflow_id).where(compute_node.c.id == bindparam("node"))
_START = (
    update(job)
    .where(job.c.id == bindparam("job_id"), job.c.status == "pending")
    .values(status="running", compute_node_id=bindparam("node"), start_time=bindparam("now"))
    .returning(*job_columns())
)
_FINISH = (
    update(job)
    .where(job.c.id == bindparam("job_id"), job.c.status.in_(("pending", "running")))
    .values(status=bindparam("new_status"), compute_node_id=None, start_time=None)
    .returning(*job_columns())
)
_RESULT = insert(result)
RESULT_FIELDS = (
    "compute_node_id",
    "return_code",
    "exec_time_minutes",
    "completion_time",
    "peak_memory_bytes",
    "avg_memory_bytes",
    "peak_cpu_percent",
    "avg_cpu_percent",
)


def check_compute_node(conn: Connection, workflow_id: int, compute_node_id: int) -> None:
    found = conn.execute(_NODE_WORKFLOW, {"node": compute_node_id}).scalar()
    if found is None:
        raise NotFound(f"Compute node not found with ID: {compute_node_id}")
    if int(found) != workflow_id:
        raise Invalid(
            f"compute node {compute_node_id} is not a compute node of workflow {workflow_id}"
        )


def start(
    conn: Connection, current: Mapping[str, Any], run_id: int, compute_node_id: int
) -> dict[str, Any]:
    """pending → running on `compute_node_id` (Conflict from any other status)."""
    workflow_id = int(current["workflow_id"])
    _check_run(lock_run(conn, workflow_id, shared=True), run_id)
    check_compute_node(conn, workflow_id, compute_node_id)
    values = {"job_id": current["id"], "node": compute_node_id, "now": now_text()}
    row = conn.execute(_START, values).first()
    if row is None and repeated_start(current, compute_node_id):
        return dict(current)  # the runner's first answer was lost: started already
    if row is None:
        raise Conflict(
            f"job {current['id']} is {current['status']}: only a pending (claimed) job can start"
        )
    return job_out(row)


def complete(
    conn: Connection,
    current: Mapping[str, Any],
    status: str,
    run_id: int,
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], list[int]]:
    """Finish the job's attempt with `status` and record its result; in the same transaction
    its dependents become ready, or canceled if they ask for that after a failure. Returns the
    job and the ids of the jobs this canceled."""
    if status not in FINAL:
        raise Invalid(f"status must be one of {', '.join(FINAL)} to complete a job, got {status!r}")
    workflow_id = int(current["workflow_id"])
    _check_run(lock_run(conn, workflow_id), run_id)
    check_compute_node(conn, workflow_id, int(values["compute_node_id"]))
    attempt = values.get("attempt_id") or current["attempt_id"]
    if repeated_completion(conn, current, run_id, attempt, status):
        return dict(current), []  # the runner's first answer was lost: recorded already
    check_attempt(current, attempt)
    row = conn.execute(_FINISH, {"job_id": current["id"], "new_status": status}).first()
    if row is None:
        raise Conflict(
            f"job {current['id']} is {current['status']}: only a pending or running job can "
            "be completed"
        )
    done = job_out(row)
    recorded = {name: values.get(name) for name in RESULT_FIELDS}
    recorded.update(
        job_id=done["id"],
        workflow_id=workflow_id,
        run_id=run_id,
        attempt_id=values.get("attempt_id") or done["attempt_id"],
        status=status,
    )
    conn.execute(_RESULT, recorded)
    if status == "pending_failed":
        return done, []
    failed = status in FAILED or values["return_code"] != 0
    canceled = unblock(conn, [] if failed else [done["id"]], [done["id"]] if failed else [])
    return done, canceled


def retry(
    conn: Connection, current: Mapping[str, Any], run_id: int, max_retries: int
) -> dict[str, Any]:
    """A pending or running job's attempt failed and it runs again: ready, next attempt."""
    _check_run(lock_run(conn, int(current["workflow_id"])), run_id)
    if current["attempt_id"] >= max_retries:
        raise Conflict(
            f"job {current['id']} has had {current['attempt_id']} attempts "
            f"(max_retries {max_retries})"
        )
    statement = (
        update(job)
        .where(job.c.id == current["id"], job.c.status.in_(("pending", "running")))
        .values(
            status="ready",
            attempt_id=job.c.attempt_id + 1,
            compute_node_id=None,
            start_time=None,
        )
        .returning(*job_columns())
    )
    row = conn.execute(statement).first()
    if row is None:
        raise Conflict(
            f"job {current['id']} is {current['status']}: only a pending or running job can be "
            "retried (reset a finished one with reset_job_status)"
        )
    return job_out(row)


def claim_for_queue(
    conn: Connection, workflow_id: int, limit: int, offer: Resources
) -> tuple[list[dict[str, Any]], str | None]:
    """Claim for a runner's local queue (`limit` jobs in all): first the jobs already claimed
    for the offer's compute node and not started yet (so that a claim whose answer was lost
    can be asked again: they come back, and the runner skips those it has), then new ready
    jobs that each fit the offer on their own (the node's whole resources: the runner starts
    each when what it holds is free), in Torc's order. Returns the jobs and, when none, why."""
    node = offer.compute_node_id
    if node is None:
        raise Invalid("id: a claim for a runner's queue must name the claiming compute node")
    state = lock_run(conn, workflow_id, shared=True)
    if state.is_canceled:
        return [], "Workflow is canceled"
    already_query = (
        select(*job_columns())
        .where(
            job.c.workflow_id == workflow_id,
            job.c.status == "pending",
            job.c.compute_node_id == node,
        )
        .order_by(job.c.priority.desc(), job.c.id)
        .limit(limit)
    )
    already = [job_out(row) for row in conn.execute(already_query)]
    room = limit - len(already)
    fresh: list[dict[str, Any]] = []
    if room > 0:
        query = _ready_that_fit(select(job.c.id), workflow_id, offer).limit(room)
        ids = list(conn.execute(_lock_rows(conn, query)).scalars())
        fresh = _mark_pending(conn, ids, node)
    claimed = already + fresh
    return claimed, None if claimed else "No ready job fits the offered resources"


_START_MANY = (
    update(job)
    .where(
        job.c.workflow_id == bindparam("workflow"),
        job.c.id.in_(bindparam("ids", expanding=True)),
        job.c.status == "pending",
        or_(job.c.compute_node_id.is_(None), job.c.compute_node_id == bindparam("node")),
    )
    .values(status="running", compute_node_id=bindparam("node"), start_time=bindparam("now"))
    .returning(*job_columns())
)


def start_batch(
    conn: Connection, workflow_id: int, run_id: int, compute_node_id: int, job_ids: list[int]
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """pending → running, on `compute_node_id`, for each of `job_ids` claimed for that node
    (or for no node): one statement. Returns the jobs started, in the order asked, and
    (job id, why not) for the others (another node's, not pending, not of this workflow).
    A job running on that node already (the call repeated) is neither: nothing changes."""
    _check_run(lock_run(conn, workflow_id, shared=True), run_id)
    check_compute_node(conn, workflow_id, compute_node_id)
    wanted = list(dict.fromkeys(job_ids))
    values = {"workflow": workflow_id, "ids": wanted, "node": compute_node_id, "now": now_text()}
    started = {row.id: job_out(row) for row in conn.execute(_START_MANY, values)} if wanted else {}
    missing = [i for i in wanted if i not in started]
    if missing:  # asked again after a lost answer: running on this node already is started
        again = select(*job_columns()).where(
            job.c.workflow_id == workflow_id,
            job.c.id.in_(missing),
            job.c.status == "running",
            job.c.compute_node_id == compute_node_id,
        )
        already = {row.id: job_out(row) for row in conn.execute(again)}
    else:
        already = {}
    errors = [
        (
            i,
            f"job {i} is not a pending job of workflow {workflow_id} claimed for compute node "
            f"{compute_node_id}",
        )
        for i in missing
        if i not in already
    ]
    return [started[i] for i in wanted if i in started], errors


def release(
    conn: Connection, workflow_id: int, compute_node_id: int, job_ids: list[int]
) -> list[int]:
    """Give back jobs claimed for `compute_node_id` and not started: pending → ready. Jobs
    that are not (started, completed, another node's) are left as they are. The ids released."""
    lock_run(conn, workflow_id, shared=True)
    check_compute_node(conn, workflow_id, compute_node_id)
    if not job_ids:
        return []
    statement = (
        update(job)
        .where(
            job.c.workflow_id == workflow_id,
            job.c.id.in_(sorted(set(job_ids))),
            job.c.status == "pending",
            job.c.compute_node_id == compute_node_id,
        )
        .values(status="ready", compute_node_id=None, start_time=None)
        .returning(job.c.id)
    )
    return sorted(conn.execute(statement).scalars())
