"""Jobs and results of a workflow: create, read, list, change, delete.

Every call is decided on the workflow the job or result belongs to (through the one gate,
`authorize_workflow`): reading needs workflow.read, any change workflow.write. A job never
moves to another workflow, and every id a job names must belong to its workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.errors import Conflict, Invalid
from teamgate.services.context import ServiceContext, check_page
from teamgate.services.workflows import authorize_workflow
from teamgate.storage.db import jobs as store
from teamgate.storage.db import results as result_store
from teamgate.storage.db.jobs import RELATIONS, JobFilter
from teamgate.storage.db.results import ResultFilter
from teamgate.storage.db.workflows import Workflow

READ, WRITE = Action.WORKFLOW_READ, Action.WORKFLOW_WRITE
Page = tuple[list[dict[str, Any]], int]
T = TypeVar("T")


def _check_env(bodies: Sequence[Mapping[str, Any]]) -> None:
    """A job's environment variable names must be names a process can be given: a name with
    `=` cannot be passed to `bash -c` (a runner claiming the job could not start it)."""
    for body in bodies:
        for name in body.get("env") or ():
            if "=" in name:
                raise Invalid(
                    f"env: {name[:64]!r} is not an environment variable name (it contains '=')"
                )


def _stored(conn: Connection, write: Callable[[], T]) -> T:
    """`write()` in a savepoint: a job name taken, or the workflow deleted, by a concurrent
    request after this one's checks is a 409, not a server error."""
    try:
        with conn.begin_nested():
            return write()
    except IntegrityError:
        raise Conflict(
            "jobs: the workflow changed concurrently (a job of that name was just created, "
            "or the workflow deleted): try again"
        ) from None


def create_jobs(
    ctx: ServiceContext, principal: Principal, bodies: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Create jobs of ONE workflow (their `workflow_id`), all or none."""
    if not bodies:
        raise Invalid("jobs: give at least one job")
    workflow_ids = {int(b["workflow_id"]) for b in bodies}
    if len(workflow_ids) != 1:
        raise Invalid("jobs: every job of one request must belong to the same workflow")
    workflow_id = workflow_ids.pop()
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        _check_env(bodies)
        return _stored(conn, lambda: store.insert_jobs(conn, workflow_id, bodies))


def get_job(ctx: ServiceContext, principal: Principal, job_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = store.get_job(conn, job_id)
        authorize_workflow(ctx, principal, conn, found["workflow_id"], READ)
        return store.with_relations(conn, [found])[0]


def list_jobs(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    filters: JobFilter,
    *,
    offset: int,
    limit: int,
    include_relationships: bool = False,
) -> Page:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        items, total = store.list_jobs(conn, workflow_id, filters, offset=offset, limit=limit)
        if include_relationships:
            items = store.with_relations(conn, items)
        return items, total


def update_job(
    ctx: ServiceContext, principal: Principal, job_id: int, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a job's own fields. Its workflow, status (except to `disabled`) and links
    cannot change here: a body may repeat them as they are (as a read-modify-write does)."""
    with ctx.db.write() as conn:
        current = store.get_job(conn, job_id)
        authorize_workflow(ctx, principal, conn, current["workflow_id"], WRITE)
        if body.get("workflow_id", current["workflow_id"]) != current["workflow_id"]:
            raise Invalid("workflow_id: a job cannot move to another workflow")
        status = body.get("status")
        if status is not None and status not in (current["status"], "disabled"):
            raise Invalid(
                f"status: a job's status changes only by running it (or to 'disabled'); "
                f"it is {current['status']}"
            )
        linked = store.with_relations(conn, [dict(current)])[0]
        for name in RELATIONS:
            given = body.get(name)
            if given is not None and sorted(set(given)) != sorted(linked[name]):
                raise Invalid(f"{name}: a job's links cannot be changed by an update")
        store.check_links(conn, current["workflow_id"], body)
        _check_env([body])
        return _stored(conn, lambda: store.update_job(conn, current, body))


def delete_job(ctx: ServiceContext, principal: Principal, job_id: int) -> dict[str, Any]:
    with ctx.db.write() as conn:
        workflow_id = store.job_workflow_id(conn, job_id)
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        return store.delete_job(conn, job_id)


def list_dependencies(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    *,
    offset: int,
    limit: int,
    reverse: bool = False,
) -> Page:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return store.dependencies_page(
            conn, workflow_id, offset=offset, limit=limit, reverse=reverse
        )


def job_graph(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, max_jobs: int, max_edges: int
) -> store.GraphRows:
    """The workflow's jobs (id, name, status) and dependencies, for a drawing: what GET /jobs
    and GET /workflows/{id}/job_dependencies give, in fewer columns, decided the same way."""
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return store.graph_rows(conn, workflow_id, max_jobs=max_jobs, max_edges=max_edges)


def get_result(ctx: ServiceContext, principal: Principal, result_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = result_store.get_result(conn, result_id)  # returned only once decided, as get_job
        authorize_workflow(ctx, principal, conn, found["workflow_id"], READ)
        return found


def list_results(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    filters: ResultFilter,
    *,
    offset: int,
    limit: int,
) -> Page:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return result_store.list_results(conn, workflow_id, filters, offset=offset, limit=limit)


def page_status_counts(
    ctx: ServiceContext, listed: Sequence[Workflow]
) -> dict[int, dict[str, int]]:
    """Each listed workflow's job counts by status (one query for a page).

    `listed` comes from list_workflows, so the caller may read every one of them (and a
    reader sees its jobs' statuses, as GET /workflows/{id}/status shows them).
    """
    with ctx.db.read() as conn:
        return store.counts_by_workflow(conn, [w.id for w in listed])
