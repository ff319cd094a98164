"""Running a workflow under /torc-service/v1: torc-client 0.35.0's initialize_jobs, claims,
start_job, complete_job, batch_complete_jobs, retry, status, resets and cancel
(services.runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import Field

from teamgate.domain.jobs import MAX_BATCH, JobStatus
from teamgate.domain.spec_values import runtime_seconds
from teamgate.services import runs
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db.job_batch import Completion
from teamgate.storage.db.job_claims import GIB, Resources
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.jobs_models import BatchCompleteIn, ResourcesIn, ResultIn
from teamgate.web.models import MAX_ROW_ID, StrictIn

# included by jobs_api.router, under its prefix
router = api_router()

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
RunId = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
ClaimLimit = Annotated[int, Path(ge=1, le=MAX_LIMIT)]


@router.post("/workflows/{id}/initialize_jobs")
def initialize_jobs(
    id: Id,
    ctx: Context,
    caller: Caller,
    only_uninitialized: bool = False,
    clear_ephemeral_user_data: bool = False,
    var_async: Annotated[bool, Query(alias="async")] = False,
) -> dict[str, Any]:
    counts = runs.initialize(ctx, caller, id, only_uninitialized=only_uninitialized)
    return {"message": "Initialized job status", "workflow_id": id, "jobs_by_status": counts}


@router.post("/workflows/{id}/claim_jobs_based_on_resources/{limit}")
def claim_jobs_based_on_resources(
    id: Id,
    limit: ClaimLimit,
    body: ResourcesIn,
    ctx: Context,
    caller: Caller,
    strict_scheduler_match: bool = False,
    sort_method: Annotated[str | None, Query(max_length=64)] = None,
    queue: bool = False,
) -> dict[str, Any]:
    """Torc's claim: ready jobs packed into the offer. With `queue` (teamgate's runner), the
    jobs already claimed for the compute node `id` and not started come back first, then new
    ones that each fit the offer, up to `limit` in all: the runner queues them and starts each
    when it fits, and a claim asked again (its answer lost) hands nothing out twice."""
    offer = Resources(
        num_cpus=body.num_cpus,
        num_gpus=body.num_gpus,
        num_nodes=body.num_nodes,
        memory_bytes=int(body.memory_gb * GIB),
        runtime_s=runtime_seconds(body.time_limit) if body.time_limit else None,
        compute_node_id=body.id,
    )
    claimed, reason = runs.claim_by_resources(ctx, caller, id, limit, offer, queue=queue)
    return {"jobs": claimed, "reason": reason} if reason else {"jobs": claimed}


@router.post("/workflows/{id}/claim_next_jobs")
def claim_next_jobs(
    id: Id,
    ctx: Context,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> dict[str, Any]:
    return {"jobs": runs.claim_next(ctx, caller, id, limit)}


class JobIdsIn(StrictIn):
    """Jobs of one workflow claimed for one compute node, in one run."""

    run_id: RowId
    compute_node_id: RowId
    job_ids: list[RowId] = Field(min_length=1, max_length=MAX_BATCH)


class ReleaseIn(StrictIn):
    compute_node_id: RowId
    job_ids: list[RowId] = Field(min_length=1, max_length=MAX_BATCH)


@router.post("/workflows/{id}/batch_start_jobs")
def batch_start_jobs(id: Id, body: JobIdsIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Start several jobs claimed for the node (pending → running) in one call; a job that
    cannot start is reported in `errors` and changes nothing."""
    started, errors = runs.start_jobs(
        ctx, caller, id, body.run_id, body.compute_node_id, body.job_ids
    )
    return {
        "started": [job["id"] for job in started],
        "errors": [{"job_id": i, "message": why} for i, why in errors],
    }


@router.post("/workflows/{id}/release_jobs")
def release_jobs(id: Id, body: ReleaseIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Give back jobs claimed for the node and not started (pending → ready)."""
    return {"released": runs.release_jobs(ctx, caller, id, body.compute_node_id, body.job_ids)}


@router.put("/jobs/{id}/start_job/{run_id}/{compute_node_id}")
def start_job(
    id: Id,
    run_id: RunId,
    compute_node_id: Annotated[int, Path(ge=0, le=MAX_ROW_ID)],
    ctx: Context,
    caller: Caller,
) -> dict[str, Any]:
    return runs.start_job(ctx, caller, id, run_id, compute_node_id)


@router.post("/jobs/{id}/complete_job/{status}/{run_id}")
def complete_job(
    id: Id, status: JobStatus, run_id: RunId, body: ResultIn, ctx: Context, caller: Caller
) -> dict[str, Any]:
    return runs.complete_job(ctx, caller, id, status, run_id, body.model_dump())


@router.post("/workflows/{id}/batch_complete_jobs")
def batch_complete_jobs(
    id: Id, body: BatchCompleteIn, ctx: Context, caller: Caller
) -> dict[str, Any]:
    entries = [
        Completion(e.job_id, e.status, e.run_id, e.result.model_dump()) for e in body.completions
    ]
    outcome = runs.batch_complete(ctx, caller, id, entries)
    return {
        "completed": [done["id"] for done in outcome.done] + outcome.repeated,
        "errors": [{"job_id": i, "message": why} for i, why in outcome.errors],
    }


@router.post("/jobs/{id}/retry/{run_id}")
def retry_job(
    id: Id,
    run_id: RunId,
    ctx: Context,
    caller: Caller,
    max_retries: Annotated[int, Query(ge=0, le=MAX_ROW_ID)],
) -> dict[str, Any]:
    return runs.retry_job(ctx, caller, id, run_id, max_retries)


@router.get("/workflows/{id}/status")
def get_workflow_status(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return runs.status(ctx, caller, id)


@router.get("/workflows/{id}/is_complete")
def is_workflow_complete(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    complete, canceled = runs.is_complete(ctx, caller, id)
    return {"is_complete": complete, "is_canceled": canceled}


@router.get("/workflows/{id}/is_uninitialized")
def is_workflow_uninitialized(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return {"is_uninitialized": runs.is_uninitialized(ctx, caller, id)}


@router.post("/workflows/{id}/reset_status")
def reset_workflow_status(
    id: Id, ctx: Context, caller: Caller, force: bool = False
) -> dict[str, Any]:
    state = runs.reset_status(ctx, caller, id, force=force)
    return {"message": "Reset workflow status", "workflow_id": id, "run_id": state.run_id}


@router.post("/workflows/{id}/reset_job_status")
def reset_job_status(
    id: Id, ctx: Context, caller: Caller, failed_only: bool = False
) -> dict[str, Any]:
    count = runs.reset_job_status(ctx, caller, id, failed_only=failed_only)
    return {
        "workflow_id": id,
        "status": "uninitialized",
        "updated_count": count,
        "reset_type": "failed_only" if failed_only else "all",
    }


@router.put("/workflows/{id}/cancel")
def cancel_workflow(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    count = runs.cancel(ctx, caller, id)
    return {"message": "Canceled workflow", "workflow_id": id, "canceled_jobs": count}
