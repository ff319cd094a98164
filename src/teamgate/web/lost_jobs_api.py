"""Runners that went silent, under /torc-service/v1: a runner's heartbeat and
`sync_status` (recover a workflow's jobs left by runners that are gone). Decided like the run
calls, on the workflow of the compute node or in the path (services/lost_jobs.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from teamgate.services import lost_jobs
from teamgate.services.lost_jobs import LostJobSettings
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID
from teamgate.web.torc_api import PREFIX

router = api_router(prefix=PREFIX, tags=["running workflows"])

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]


async def get_lost_job_settings(request: Request) -> LostJobSettings:  # async: no thread hop
    found: LostJobSettings = request.app.state.lost_jobs
    return found


Policy = Annotated[LostJobSettings, Depends(get_lost_job_settings)]


@router.post("/compute_nodes/{id}/heartbeat")
def heartbeat(id: Id, ctx: Context, caller: Caller, policy: Policy) -> dict[str, Any]:
    """The runner of this compute node is alive; answers how often to say so again."""
    return lost_jobs.heartbeat(ctx, caller, id, policy)


@router.post("/workflows/{id}/sync_status")
def sync_status(
    id: Id, ctx: Context, caller: Caller, policy: Policy, force: bool = False
) -> dict[str, Any]:
    """Recover the jobs of the workflow's runners that stopped sending heartbeats (with
    `force`, also those left on compute nodes that are no longer active)."""
    return lost_jobs.sync_status(ctx, caller, id, policy, force=force)
