"""Running a workflow: initialise, claim, start, complete, retry, reset, cancel, status.

Reads need workflow.read on the workflow; everything else workflow.write, decided on the
workflow of the job addressed. Starting a run (initialising), resets and cancellations are
written to the audit log; run events (initialised, reset, canceled, job started/finished)
to the workflow's event table, in the transaction that makes the change. The workflow's
runner tokens are revoked in the transaction that cancels it, or completes its last job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from teamgate.auth import tokens
from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.jobs import MAX_BATCH
from teamgate.domain.policy import Decision
from teamgate.errors import Conflict, Invalid
from teamgate.services import audit
from teamgate.services.context import ServiceContext, require
from teamgate.services.workflows import authorize_workflow, explain_workflow
from teamgate.storage.db import job_batch, job_claims, job_runs
from teamgate.storage.db import jobs as job_store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.events import record_event, record_events
from teamgate.storage.db.job_claims import Resources

READ, WRITE = Action.WORKFLOW_READ, Action.WORKFLOW_WRITE


def _decide(
    ctx: ServiceContext, principal: Principal, conn: Connection, workflow_id: int
) -> tuple[str, Decision]:
    """Require workflow.write; returns the workflow's audit resource and the decision."""
    found = workflow_store.get_workflow(conn, workflow_id)
    decision = require(explain_workflow(ctx, principal, conn, found, WRITE))
    return f"workflow/{workflow_id}", decision


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"category": "workflow", "type": kind, **data}


def _job_event(kind: str, job: Mapping[str, Any], **data: Any) -> dict[str, Any]:
    return {"category": "job", "type": kind, "job_id": job["id"], "job_name": job["name"], **data}


def initialize(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, only_uninitialized: bool
) -> dict[str, int]:
    with ctx.db.write() as conn:
        resource, decision = _decide(ctx, principal, conn, workflow_id)
        counts = job_runs.initialize(conn, workflow_id, only_uninitialized=only_uninitialized)
        mode = "continued" if only_uninitialized else "started"
        detail = f"run {mode}: {counts['ready']} ready, {counts['blocked']} blocked"
        audit.record(conn, principal, "workflow.run", resource, decision, detail)
        record_event(conn, workflow_id, _event("initialized", mode=mode, ready=counts["ready"]))
        return counts


def reset_status(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, force: bool
) -> job_runs.RunState:
    with ctx.db.write() as conn:
        resource, decision = _decide(ctx, principal, conn, workflow_id)
        active = job_runs.active_job_count(conn, workflow_id)
        if active and not force:
            raise Conflict(
                f"workflow {workflow_id} has {active} pending or running jobs: cancel it first, "
                "or reset with force"
            )
        state = job_runs.reset_run(conn, workflow_id)
        detail = f"new run {state.run_id}"
        audit.record(conn, principal, "workflow.reset", resource, decision, detail)
        record_event(conn, workflow_id, _event("reset", run_id=state.run_id))
        return state


def reset_job_status(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, failed_only: bool
) -> int:
    with ctx.db.write() as conn:
        resource, decision = _decide(ctx, principal, conn, workflow_id)
        count = job_runs.reset_jobs(conn, workflow_id, failed_only=failed_only)
        which = "failed jobs and their dependents" if failed_only else "all jobs"
        detail = f"{which} reset: {count} jobs"
        audit.record(conn, principal, "workflow.reset", resource, decision, detail)
        record_event(conn, workflow_id, _event("jobs_reset", failed_only=failed_only, count=count))
        return count


def cancel(ctx: ServiceContext, principal: Principal, workflow_id: int) -> int:
    with ctx.db.write() as conn:
        resource, decision = _decide(ctx, principal, conn, workflow_id)
        count = job_runs.cancel(conn, workflow_id)
        ended = tokens.revoke_workflow(conn, workflow_id)  # its runners have nothing left to do
        detail = f"{count} pending or running jobs canceled, {ended} runner tokens revoked"
        audit.record(conn, principal, "workflow.cancel", resource, decision, detail)
        record_event(conn, workflow_id, _event("canceled", jobs=count))
        return count


def claim_by_resources(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    limit: int,
    offer: Resources,
    *,
    queue: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Claim ready jobs that fit `offer`; with `queue`, the claim of a runner that queues
    what it claims: safe to repeat (job_claims.claim_for_queue)."""
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        if offer.compute_node_id is not None:
            job_claims.check_compute_node(conn, workflow_id, offer.compute_node_id)
        claim = job_claims.claim_for_queue if queue else job_claims.claim_by_resources
        return claim(conn, workflow_id, limit, offer)


def start_jobs(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    run_id: int,
    compute_node_id: int,
    job_ids: Sequence[int],
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Start several jobs claimed for one compute node (batch_start_jobs): one statement, a
    job_started event each; the jobs that cannot start are reported, not raised."""
    if len(job_ids) > MAX_BATCH:
        raise Invalid(f"job_ids: at most {MAX_BATCH} in one batch")
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        started, errors = job_claims.start_batch(
            conn, workflow_id, run_id, compute_node_id, list(job_ids)
        )
        events = [
            _job_event("job_started", job, run_id=run_id, compute_node_id=compute_node_id)
            for job in started
        ]
        record_events(conn, workflow_id, events)
        return started, errors


def release_jobs(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    compute_node_id: int,
    job_ids: Sequence[int],
) -> list[int]:
    """Give back jobs a runner claimed and did not start (it is stopping): ready again."""
    if len(job_ids) > MAX_BATCH:
        raise Invalid(f"job_ids: at most {MAX_BATCH} in one batch")
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        released = job_claims.release(conn, workflow_id, compute_node_id, list(job_ids))
        if released:
            event = _event("jobs_released", compute_node_id=compute_node_id, count=len(released))
            record_event(conn, workflow_id, event)
        return released


def claim_next(
    ctx: ServiceContext, principal: Principal, workflow_id: int, limit: int
) -> list[dict[str, Any]]:
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        return job_claims.claim_next(conn, workflow_id, limit)


def start_job(
    ctx: ServiceContext, principal: Principal, job_id: int, run_id: int, compute_node_id: int
) -> dict[str, Any]:
    with ctx.db.write() as conn:
        current = job_store.get_job(conn, job_id)
        authorize_workflow(ctx, principal, conn, current["workflow_id"], WRITE)
        started = job_claims.start(conn, current, run_id, compute_node_id)
        event = _job_event("job_started", started, run_id=run_id, compute_node_id=compute_node_id)
        record_event(conn, started["workflow_id"], event)
        return started


def complete_job(
    ctx: ServiceContext,
    principal: Principal,
    job_id: int,
    status: str,
    run_id: int,
    values: Mapping[str, Any],
) -> dict[str, Any]:
    with ctx.db.write() as conn:
        current = job_store.get_job(conn, job_id)
        workflow_id = current["workflow_id"]
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        _check_result_body(values, current, run_id)
        done, canceled = job_claims.complete(conn, current, status, run_id, values)
        tokens.revoke_if_complete(conn, workflow_id)
        events = [
            _job_event(f"job_{status}", done, run_id=run_id, return_code=values["return_code"]),
            *(
                {"category": "job", "type": "job_canceled", "job_id": i, "blocked_by": job_id}
                for i in canceled
            ),
        ]
        record_events(conn, workflow_id, events)
        return done


def batch_complete(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    entries: Sequence[job_batch.Completion],
) -> job_batch.BatchOutcome:
    """Complete several jobs of the workflow in one transaction (batch_complete_jobs): decided
    like complete_job, on the workflow in the path; an entry for a job outside it, or one that
    cannot be completed, is reported in the outcome's errors and changes nothing."""
    if len(entries) > MAX_BATCH:
        raise Invalid(f"completions: at most {MAX_BATCH} in one batch")
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        outcome = job_batch.complete_batch(conn, workflow_id, entries)
        if outcome.done:
            tokens.revoke_if_complete(conn, workflow_id)
        entry_of = {e.job_id: e for e in entries}
        unstarted = set(outcome.unstarted)
        events = []
        for done in outcome.done:
            entry = entry_of[done["id"]]
            if done["id"] in unstarted:  # it ran: its start is recorded with its end
                node = entry.result["compute_node_id"]
                events.append(
                    _job_event("job_started", done, run_id=entry.run_id, compute_node_id=node)
                )
            events.append(
                _job_event(
                    f"job_{done['status']}",
                    done,
                    run_id=entry.run_id,
                    return_code=entry.result["return_code"],
                )
            )
        blocked_by = outcome.failed[0] if len(outcome.failed) == 1 else None
        events.extend(
            {"category": "job", "type": "job_canceled", "job_id": i, "blocked_by": blocked_by}
            for i in outcome.canceled
        )
        record_events(conn, workflow_id, events)
        return outcome


def _check_result_body(values: Mapping[str, Any], current: Mapping[str, Any], run_id: int) -> None:
    if values["job_id"] != current["id"]:
        raise Invalid(f"job_id: the result is for job {values['job_id']}, not job {current['id']}")
    if values["workflow_id"] != current["workflow_id"]:
        raise Invalid(
            f"workflow_id: job {current['id']} belongs to workflow {current['workflow_id']}"
        )
    if values["run_id"] != run_id:
        raise Invalid(f"run_id: the result says run {values['run_id']}, the path run {run_id}")


def retry_job(
    ctx: ServiceContext, principal: Principal, job_id: int, run_id: int, max_retries: int
) -> dict[str, Any]:
    with ctx.db.write() as conn:
        current = job_store.get_job(conn, job_id)
        authorize_workflow(ctx, principal, conn, current["workflow_id"], WRITE)
        again = job_claims.retry(conn, current, run_id, max_retries)
        event = _job_event("job_retried", again, run_id=run_id, attempt_id=again["attempt_id"])
        record_event(conn, again["workflow_id"], event)
        return again


def status(ctx: ServiceContext, principal: Principal, workflow_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = authorize_workflow(ctx, principal, conn, workflow_id, READ)
        summary = job_runs.status_summary(conn, workflow_id)
        return {**summary, "workflow_name": found.name, "workflow_user": found.user}


def is_complete(ctx: ServiceContext, principal: Principal, workflow_id: int) -> tuple[bool, bool]:
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return job_runs.is_complete(conn, workflow_id)


def is_uninitialized(ctx: ServiceContext, principal: Principal, workflow_id: int) -> bool:
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return job_runs.is_uninitialized(conn, workflow_id)
