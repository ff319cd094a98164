"""The console's Workflows section: the list, one workflow (jobs, counts, results, events,
updated live), its job graph, and cancel / reset for those who may.

Every read goes through the services the API routes call (workflows.get_workflow,
jobs.list_jobs and list_results, runs.status, run_records.list_records for events), so a
page shows exactly what the same caller would get from GET /torc-service/v1/...; the controls
shown come from abilities.workflow_abilities, and the POST routes call runs.cancel,
runs.reset_status and runs.reset_job_status, which decide again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.jobs import DONE, STATUSES
from teamgate.errors import Invalid
from teamgate.services import groups, jobs, run_records, runs
from teamgate.services import workflows as service
from teamgate.services.abilities import readable_groups, workflow_abilities
from teamgate.services.context import MAX_LIMIT, ServiceContext
from teamgate.storage.db.groups import SharedGroup
from teamgate.storage.db.jobs import JobFilter
from teamgate.storage.db.results import ResultFilter
from teamgate.storage.db.run_records import EVENTS
from teamgate.storage.db.workflows import Workflow, WorkflowFilter
from teamgate.web.models import MAX_ROW_ID
from teamgate.web.ui import job_graph
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page
from teamgate.web.ui.workflow_shares import Sharing, sharing_view

router = console_router()
Text = Annotated[str | None, Query(max_length=256)]
WorkflowId = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
StatusText = Annotated[str, Query(max_length=32)]
STOP_POLLING = 286  # htmx stops polling on this status (and still swaps the fragment in)
SHARE_LIMIT = 100  # groups listed on the page


@router.get("/workflows", include_in_schema=False)
async def workflow_list(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    name: Text = None,
    user: Text = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    after: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    offset, limit = clamp_page(offset, limit)
    filters = WorkflowFilter(name=name or None, user=user or None, sort_by="id", reverse_sort=True)
    found = await run_in_threadpool(
        service.list_workflows,
        ctx,
        viewer,
        filters=filters,
        offset=offset,
        limit=limit,
        after=after,
    )
    counts = await run_in_threadpool(jobs.page_status_counts, ctx, found.items)
    return page(
        request,
        "workflows.html",
        title="Workflows",
        section="Workflows",
        found=found,
        summaries={w.id: Progress.of(counts.get(w.id, {})) for w in found.items},
        name=name or "",
        user=user or "",
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class Progress:
    """Job counts by status, and how many are done (completed, failed, canceled, terminated)."""

    counts: dict[str, int]
    total: int
    done: int

    @classmethod
    def of(cls, counts: dict[str, int]) -> Progress:
        shown = {s: counts[s] for s in STATUSES if counts.get(s)}
        return cls(shown, sum(shown.values()), sum(shown.get(s, 0) for s in DONE))


@dataclass(frozen=True, slots=True)
class Browse:
    """Where the viewer is on the workflow page: the jobs' status filter and the three pages."""

    status: str | None = None
    offset: int = 0
    results_offset: int = 0
    events_offset: int = 0

    def query(self, **changes: Any) -> str:
        values = {
            "status": self.status or "",
            "offset": self.offset,
            "results_offset": self.results_offset,
            "events_offset": self.events_offset,
            **changes,
        }
        return "&".join(f"{k}={v}" for k, v in values.items() if v not in ("", 0))


def browse(
    status: StatusText = "",
    offset: Offset = 0,
    results_offset: Offset = 0,
    events_offset: Offset = 0,
) -> Browse:
    """Which part of the jobs, results and events the page shows (its query parameters)."""
    if status and status not in STATUSES:
        raise Invalid(f"status: '{status}' is not a job status (use one of {', '.join(STATUSES)})")
    return Browse(status or None, offset, results_offset, events_offset)


@dataclass
class Live:
    """The part of the workflow page that polling refreshes."""

    workflow_id: int
    where: Browse
    progress: Progress
    complete: bool
    canceled: bool
    run_id: int
    jobs: list[dict[str, Any]]
    jobs_total: int
    last_result: dict[int, dict[str, Any]]
    results: list[dict[str, Any]]
    results_total: int
    events: list[dict[str, Any]]
    events_total: int
    page_size: int = PAGE_SIZE
    statuses: tuple[str, ...] = STATUSES

    @property
    def state(self) -> str:
        """The run in a word: canceled, no jobs, complete, running or not started."""
        if self.canceled:
            return "canceled"
        if not self.progress.total:
            return "no jobs"
        if self.complete:
            return "complete"
        started = set(self.progress.counts) - {"uninitialized", "disabled"}
        return "running" if started else "not started"


def live_view(ctx: ServiceContext, viewer: Principal, workflow_id: int, where: Browse) -> Live:
    """Counts, one page of jobs (with their latest results), results and events (newest first)."""
    state = runs.status(ctx, viewer, workflow_id)
    listed, total = jobs.list_jobs(
        ctx,
        viewer,
        workflow_id,
        JobFilter(status=where.status),
        offset=where.offset,
        limit=PAGE_SIZE,
    )
    ids = tuple(j["id"] for j in listed)
    of_jobs, _ = jobs.list_results(
        ctx, viewer, workflow_id, ResultFilter(job_ids=ids), offset=0, limit=MAX_LIMIT
    )
    results, results_total = jobs.list_results(
        ctx,
        viewer,
        workflow_id,
        ResultFilter(reverse_sort=True),
        offset=where.results_offset,
        limit=PAGE_SIZE,
    )
    events = run_records.list_records(
        ctx, viewer, EVENTS, workflow_id, offset=where.events_offset, limit=PAGE_SIZE, reverse=True
    )
    return Live(
        workflow_id=workflow_id,
        where=where,
        progress=Progress.of(state["jobs_by_status"]),
        complete=bool(state["is_complete"]),
        canceled=bool(state["is_canceled"]),
        run_id=int(state["run_id"]),
        jobs=listed,
        jobs_total=total,
        last_result={r["job_id"]: r for r in of_jobs},  # ordered by id: the latest wins
        results=results,
        results_total=results_total,
        events=events.items,
        events_total=events.total_count,
    )


@dataclass
class Header:
    """The workflow itself, who it is shared with, and what the viewer may do on it."""

    workflow: Workflow
    group_names: list[str]
    shares: list[SharedGroup] | None  # with levels, when the viewer may see them
    may: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[int] = frozenset()  # the shares' groups the viewer may open
    sharing: Sharing | None = None  # for viewers who may share it


def header_view(ctx: ServiceContext, viewer: Principal, workflow_id: int) -> Header:
    found, names, _run = service.get_workflow(ctx, viewer, workflow_id)
    may = workflow_abilities(ctx, viewer, workflow_id)
    shares = None
    if Action.WORKFLOW_SHARES in may:
        listed = groups.list_workflow_groups(ctx, viewer, workflow_id, offset=0, limit=SHARE_LIMIT)
        shares = listed.items
    shared = [share.group.id for share in shares or ()]
    teams = readable_groups(ctx, viewer, shared)
    sharing = None
    if Action.WORKFLOW_SHARE in may:
        sharing = sharing_view(ctx, viewer, workflow_id, shared)
    return Header(found, names, shares, may, teams, sharing)


def _live_response(request: Request, live: Live) -> Response:
    response = page(request, "workflow_live.html", title="Live", live=live)
    if live.complete:
        response.status_code = STOP_POLLING
    return response


@router.get("/workflows/{workflow_id}", include_in_schema=False)
async def workflow_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    workflow_id: WorkflowId,
    where: Annotated[Browse, Depends(browse)],
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    head = await run_in_threadpool(header_view, ctx, viewer, workflow_id)
    live = await run_in_threadpool(live_view, ctx, viewer, workflow_id, where)
    return page(
        request,
        "workflow.html",
        title=f"Workflow {head.workflow.name}",
        section="Workflows",
        head=head,
        live=live,
        statuses=STATUSES,
        done=NOTICES.get(done or ""),
    )


@router.get("/workflows/{workflow_id}/live", include_in_schema=False)
async def workflow_live(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    workflow_id: WorkflowId,
    where: Annotated[Browse, Depends(browse)],
) -> Response:
    live = await run_in_threadpool(live_view, ctx, viewer, workflow_id, where)
    return _live_response(request, live)


@dataclass
class Graph:
    workflow: Workflow
    layout: job_graph.Layout
    jobs_total: int
    edges_total: int
    complete: bool
    progress: Progress


def graph_view(ctx: ServiceContext, viewer: Principal, workflow_id: int) -> Graph:
    found, _names, _run = service.get_workflow(ctx, viewer, workflow_id)
    state = runs.status(ctx, viewer, workflow_id)
    rows = jobs.job_graph(
        ctx,
        viewer,
        workflow_id,
        max_jobs=job_graph.MAX_NODES,
        max_edges=job_graph.MAX_EDGES,
    )
    drawn = job_graph.layout(rows.jobs, rows.edges)
    progress = Progress.of(state["jobs_by_status"])
    complete = bool(state["is_complete"])
    return Graph(found, drawn, rows.job_total, rows.edge_total, complete, progress)


@router.get("/workflows/{workflow_id}/graph", include_in_schema=False)
async def workflow_graph(
    request: Request, ctx: Context, viewer: Viewer, workflow_id: WorkflowId
) -> Response:
    graph = await run_in_threadpool(graph_view, ctx, viewer, workflow_id)
    return page(
        request,
        "job_graph.html",
        title=f"Job graph of {graph.workflow.name}",
        section="Workflows",
        graph=graph,
        colours=job_graph.COLOURS,
        node_width=job_graph.NODE_WIDTH,
        node_height=job_graph.NODE_HEIGHT,
    )


def graph_statuses(ctx: ServiceContext, viewer: Principal, workflow_id: int) -> dict[str, Any]:
    """What a drawn graph needs to follow a run: each drawn job's status, the progress, and
    whether the run is over (so the page stops asking)."""
    state = runs.status(ctx, viewer, workflow_id)  # decides workflow.read
    rows = jobs.job_graph(ctx, viewer, workflow_id, max_jobs=job_graph.MAX_NODES, max_edges=0)
    progress = Progress.of(state["jobs_by_status"])
    return {
        "complete": bool(state["is_complete"]),
        "done": progress.done,
        "total": progress.total,
        "statuses": {str(job_id): status for job_id, _name, status in rows.jobs},
    }


@router.get("/workflows/{workflow_id}/graph/statuses", include_in_schema=False)
async def workflow_graph_statuses(
    ctx: Context, viewer: Viewer, workflow_id: WorkflowId
) -> JSONResponse:
    """The job graph page's live part, as JSON: console.js recolours and relabels the boxes
    whose status changed, so a run's progress costs a few hundred bytes, not a new drawing
    (which would also lose the viewer's place in it)."""
    found = await run_in_threadpool(graph_statuses, ctx, viewer, workflow_id)
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


NOTICES = {
    "canceled": "The workflow was canceled: its pending and running jobs stop.",
    "reset": "The jobs were reset: run the workflow again (torc run) to start a new run.",
    "shared": "The workflow is shared with the group at the level chosen.",
    "unshared": "The group no longer has access to the workflow.",
}


def _back(workflow_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/workflows/{workflow_id}?done={done}", status_code=303)


@router.post("/workflows/{workflow_id}/cancel", include_in_schema=False)
async def cancel_workflow(ctx: Context, viewer: Viewer, workflow_id: WorkflowId) -> Response:
    await run_in_threadpool(runs.cancel, ctx, viewer, workflow_id)
    return _back(workflow_id, "canceled")


def reset(ctx: ServiceContext, viewer: Principal, workflow_id: int, *, failed_only: bool) -> None:
    """As `torc workflows reset-status`: a new run, then the jobs back to uninitialized."""
    runs.reset_status(ctx, viewer, workflow_id, force=False)
    runs.reset_job_status(ctx, viewer, workflow_id, failed_only=failed_only)


@router.post("/workflows/{workflow_id}/reset", include_in_schema=False)
async def reset_workflow(
    ctx: Context,
    viewer: Viewer,
    workflow_id: WorkflowId,
    which: Annotated[Literal["failed", "all"], Form()] = "all",
) -> Response:
    await run_in_threadpool(reset, ctx, viewer, workflow_id, failed_only=which == "failed")
    return _back(workflow_id, "reset")
