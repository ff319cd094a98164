"""Sharing a workflow from its page: with a group at a level, or no longer (the same service
calls as POST/DELETE /workflows/{id}/access_groups/{group})."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Form, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from teamgate.domain.identity import Principal
from teamgate.domain.levels import Level
from teamgate.services import groups
from teamgate.services.abilities import workflow_unshares
from teamgate.services.context import ServiceContext
from teamgate.storage.db.groups import Group
from teamgate.web.models import MAX_ROW_ID
from teamgate.web.ui.gate import Context, Viewer, console_router

router = console_router()

CHOICES = 200  # groups offered in the form (a user's own, or everyone's for administrators)
GroupId = Annotated[int, Form(ge=1, le=MAX_ROW_ID)]
WorkflowId = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]


@dataclass(frozen=True, slots=True)
class Sharing:
    """What the workflow page's sharing form offers the viewer."""

    groups: list[Group]  # to share with
    unshares: frozenset[int]  # the groups whose share the viewer may remove


def sharing_view(
    ctx: ServiceContext, viewer: Principal, workflow_id: int, shared: list[int]
) -> Sharing:
    offered = groups.list_groups(ctx, viewer, offset=0, limit=CHOICES).items
    return Sharing(offered, workflow_unshares(ctx, viewer, workflow_id, shared))


def _back(workflow_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/workflows/{workflow_id}?done={done}#sharing", status_code=303)


@router.post("/workflows/{workflow_id}/shares", include_in_schema=False)
async def share(
    ctx: Context,
    viewer: Viewer,
    workflow_id: WorkflowId,
    group: GroupId,
    access: Annotated[Literal["read", "write", "admin"], Form()] = "read",
) -> RedirectResponse:
    await run_in_threadpool(
        lambda: groups.add_workflow(ctx, viewer, workflow_id, group, access=Level(access))
    )
    return _back(workflow_id, "shared")


@router.post("/workflows/{workflow_id}/shares/remove", include_in_schema=False)
async def unshare(
    ctx: Context, viewer: Viewer, workflow_id: WorkflowId, group: GroupId
) -> RedirectResponse:
    await run_in_threadpool(groups.remove_workflow, ctx, viewer, workflow_id, group)
    return _back(workflow_id, "unshared")
