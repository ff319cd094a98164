"""Jobs and results under /torc-service/v1: torc-client 0.35.0's JobsApi CRUD and ResultsApi
reads. Each is decided on the job's or result's own workflow (services.jobs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from teamgate.domain.jobs import JobStatus
from teamgate.services import jobs
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db.jobs import JobFilter
from teamgate.storage.db.results import ResultFilter
from teamgate.web import runner_tokens_api, runs_api
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.jobs_models import JobIn, JobsIn
from teamgate.web.models import MAX_ROW_ID

PREFIX = "/torc-service/v1"

router = api_router(prefix=PREFIX)

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
QueryId = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Text = Annotated[str | None, Query(max_length=255)]


def page(items: list[dict[str, Any]], total: int, offset: int) -> dict[str, Any]:
    """Torc's page shape: {items, offset, max_limit, count, total_count, has_more}."""
    return {
        "items": items,
        "offset": offset,
        "max_limit": MAX_LIMIT,
        "count": len(items),
        "total_count": total,
        "has_more": offset + len(items) < total,
    }


def _body(job: JobIn) -> dict[str, Any]:
    return job.model_dump()


@router.post("/jobs")
def create_job(body: JobIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return jobs.create_jobs(ctx, caller, [_body(body)])[0]


@router.post("/bulk_jobs")
def create_jobs(body: JobsIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return {"jobs": jobs.create_jobs(ctx, caller, [_body(j) for j in body.jobs])}


@router.get("/jobs")
def list_jobs(
    ctx: Context,
    caller: Caller,
    workflow_id: QueryId,
    status: JobStatus | None = None,
    needs_file_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    upstream_job_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    active_compute_node_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
    sort_by: Text = None,
    reverse_sort: bool = False,
    include_relationships: bool = False,
    name: Text = None,
    command: Annotated[str | None, Query(max_length=4096)] = None,
) -> dict[str, Any]:
    filters = JobFilter(
        status=status,
        name=name,
        command=command,
        upstream_job_id=upstream_job_id,
        needs_file_id=needs_file_id,
        active_compute_node_id=active_compute_node_id,
        sort_by=sort_by,
        reverse_sort=reverse_sort,
    )
    items, total = jobs.list_jobs(
        ctx,
        caller,
        workflow_id,
        filters,
        offset=offset,
        limit=limit,
        include_relationships=include_relationships,
    )
    return page(items, total, offset)


@router.get("/jobs/{id}")
def get_job(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return jobs.get_job(ctx, caller, id)


@router.put("/jobs/{id}")
def update_job(id: Id, body: JobIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return jobs.update_job(ctx, caller, id, body.model_dump(exclude_unset=True))


@router.delete("/jobs/{id}")
def delete_job(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return jobs.delete_job(ctx, caller, id)


@router.get("/workflows/{id}/job_dependencies")
def list_job_dependencies(
    id: Id,
    ctx: Context,
    caller: Caller,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
    sort_by: Text = None,
    reverse_sort: bool = False,
) -> dict[str, Any]:
    items, total = jobs.list_dependencies(
        ctx, caller, id, offset=offset, limit=limit, reverse=reverse_sort
    )
    return page(items, total, offset)


# -- results ---------------------------------------------------------------------------------


@router.get("/results")
def list_results(
    ctx: Context,
    caller: Caller,
    workflow_id: QueryId,
    job_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    run_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    return_code: Annotated[int | None, Query(ge=-(2**31), le=2**31 - 1)] = None,
    status: JobStatus | None = None,
    compute_node_id: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
    sort_by: Text = None,
    reverse_sort: bool = False,
    all_runs: bool = False,
) -> dict[str, Any]:
    filters = ResultFilter(
        job_id=job_id,
        run_id=run_id,
        return_code=return_code,
        status=status,
        compute_node_id=compute_node_id,
        all_runs=all_runs,
        sort_by=sort_by,
        reverse_sort=reverse_sort,
    )
    items, total = jobs.list_results(ctx, caller, workflow_id, filters, offset=offset, limit=limit)
    return page(items, total, offset)


@router.get("/results/{id}")
def get_result(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return jobs.get_result(ctx, caller, id)


router.include_router(runs_api.router)
router.include_router(runner_tokens_api.router)
