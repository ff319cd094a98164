"""The console's Workflows section: the list (the same query as GET /workflows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from teamgate.services import workflows as service
from teamgate.storage.db.workflows import WorkflowFilter
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page

router = console_router()
Text = Annotated[str | None, Query(max_length=256)]


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
    return page(
        request,
        "workflows.html",
        title="Workflows",
        section="Workflows",
        found=found,
        name=name or "",
        user=user or "",
        limit=limit,
    )
