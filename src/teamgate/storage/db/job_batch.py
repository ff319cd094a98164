"""Completing many jobs of one workflow at once (torc-client's batch_complete_jobs). SQL only;
the caller decides access and owns the transaction.

The batch takes the workflow's run lock once, reads its jobs and compute nodes in one query
each, finishes the jobs in one update per status, records the results in one statement and
settles every dependent in one pass. An entry that cannot be recorded (a job not in the
workflow, not pending or running, a result that names another job, workflow or run, an
earlier run) is reported with why and changes nothing; the others are recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from teamgate.storage.db.job_claims import RESULT_FIELDS
from teamgate.storage.db.job_graph import FAILED, unblock
from teamgate.storage.db.job_runs import lock_run
from teamgate.storage.db.jobs import FINAL, job_columns, job_out
from teamgate.storage.db.lost_jobs import repeated_completion, stale_attempt
from teamgate.storage.db.tables import compute_node, job, result


@dataclass(frozen=True, slots=True)
class Completion:
    """One entry: the job, the status it ends with, the run, and its result body."""

    job_id: int
    status: str
    run_id: int
    result: Mapping[str, Any]


@dataclass(slots=True)
class BatchOutcome:
    done: list[dict[str, Any]] = field(default_factory=list)  # the jobs completed, in order
    errors: list[tuple[int, str]] = field(default_factory=list)  # (job id, why not)
    canceled: list[int] = field(default_factory=list)  # dependents the failures canceled
    failed: list[int] = field(default_factory=list)  # the jobs whose failure cancels dependents
    unstarted: list[int] = field(default_factory=list)  # completed from pending: started unsaid
    repeated: list[int] = field(default_factory=list)  # completed already by the same entry


def _why_not(
    entry: Completion,
    workflow_id: int,
    run_id: int,
    current: Mapping[str, Any] | None,
    nodes: set[int],
) -> str | None:
    body = entry.result
    if current is None:
        return f"job {entry.job_id} is not a job of workflow {workflow_id}"
    if entry.status not in FINAL:
        return f"status must be one of {', '.join(FINAL)} to complete a job, got {entry.status!r}"
    if body["job_id"] != entry.job_id:
        return f"job_id: the result is for job {body['job_id']}, not job {entry.job_id}"
    if body["workflow_id"] != workflow_id:
        return f"workflow_id: job {entry.job_id} belongs to workflow {workflow_id}"
    if body["run_id"] != entry.run_id:
        return f"run_id: the result says run {body['run_id']}, the entry run {entry.run_id}"
    if entry.run_id != run_id:
        return (
            f"run_id {entry.run_id} is not the workflow's current run ({run_id}): "
            "this runner belongs to an earlier run"
        )
    if int(body["compute_node_id"]) not in nodes:
        return (
            f"compute node {body['compute_node_id']} is not a compute node of workflow "
            f"{workflow_id}"
        )
    if current["status"] not in ("pending", "running"):
        return (
            f"job {entry.job_id} is {current['status']}: only a pending or running job can "
            "be completed"
        )
    return stale_attempt(current, body.get("attempt_id") or current["attempt_id"])


def _repeated(conn: Connection, entry: Completion, current: Mapping[str, Any] | None) -> bool:
    if current is None:
        return False
    attempt = entry.result.get("attempt_id") or current["attempt_id"]
    return repeated_completion(conn, current, entry.run_id, attempt, entry.status)


def complete_batch(
    conn: Connection, workflow_id: int, entries: Sequence[Completion]
) -> BatchOutcome:
    """Finish every entry that can be, record its result, and settle the dependents of all of
    them (ready, or canceled after a failure) in this transaction. A job named twice is
    completed once; the second entry is an error."""
    state = lock_run(conn, workflow_id)
    ids = sorted({e.job_id for e in entries})
    current: dict[int, dict[str, Any]] = {}
    node_ids = sorted({int(e.result["compute_node_id"]) for e in entries})
    nodes: set[int] = set()
    if ids:
        rows = conn.execute(
            select(job.c.id, job.c.status, job.c.attempt_id).where(
                job.c.workflow_id == workflow_id, job.c.id.in_(ids)
            )
        )
        current = {row.id: dict(row._mapping) for row in rows}
        nodes = set(
            conn.execute(
                select(compute_node.c.id).where(
                    compute_node.c.workflow_id == workflow_id, compute_node.c.id.in_(node_ids)
                )
            ).scalars()
        )
    outcome = BatchOutcome()
    accepted: dict[int, Completion] = {}
    for entry in entries:
        if entry.job_id in accepted:
            outcome.errors.append((entry.job_id, f"job {entry.job_id} is twice in the batch"))
            continue
        if _repeated(conn, entry, current.get(entry.job_id)):
            outcome.repeated.append(entry.job_id)  # the runner's first answer was lost
            continue
        why = _why_not(entry, workflow_id, state.run_id, current.get(entry.job_id), nodes)
        if why is not None:
            outcome.errors.append((entry.job_id, why))
            continue
        accepted[entry.job_id] = entry
    by_status: dict[str, list[int]] = {}
    for entry in accepted.values():
        by_status.setdefault(entry.status, []).append(entry.job_id)
    finished: dict[int, dict[str, Any]] = {}
    for new_status, job_ids in by_status.items():
        statement = (
            update(job)
            .where(job.c.id.in_(job_ids), job.c.status.in_(("pending", "running")))
            .values(status=new_status, compute_node_id=None, start_time=None)
            .returning(*job_columns())
        )
        finished.update((row.id, job_out(row)) for row in conn.execute(statement))
    records = []
    ended_well: list[int] = []
    ended_badly: list[int] = []
    for job_id, entry in accepted.items():
        done = finished.get(job_id)
        if done is None:  # changed since it was read (e.g. deleted): nothing recorded for it
            outcome.errors.append((job_id, f"job {job_id} changed while it was being completed"))
            continue
        outcome.done.append(done)
        if current[job_id]["status"] == "pending":  # a runner reports a quick job's start with
            outcome.unstarted.append(job_id)  # its end, in this one call
        recorded = {name: entry.result.get(name) for name in RESULT_FIELDS}
        recorded.update(
            job_id=job_id,
            workflow_id=workflow_id,
            run_id=entry.run_id,
            attempt_id=entry.result.get("attempt_id") or done["attempt_id"],
            status=entry.status,
        )
        records.append(recorded)
        if entry.status == "pending_failed":
            continue
        failed = entry.status in FAILED or entry.result["return_code"] != 0
        (ended_badly if failed else ended_well).append(job_id)
    if records:
        conn.execute(insert(result), records)
    if ended_well or ended_badly:
        outcome.canceled = unblock(conn, ended_well, ended_badly)
        outcome.failed = ended_badly
    return outcome
