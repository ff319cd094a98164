"""What the caller may do on a workflow, asked in advance: for scripts and other interfaces,
the same answer the web console uses to show a control or not (services.abilities). The
server decides again when the action is taken."""

from __future__ import annotations

from typing import Any

from teamgate.services import abilities
from teamgate.services import workflows as workflow_service
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.jobs_api import Id

TORC = "/torc-service/v1"
router = api_router(tags=["access"])


@router.get(f"{TORC}/workflows/{{id}}/allowed_actions")
def workflow_allowed_actions(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    """The actions the caller may take on the workflow (`workflow.read`, `workflow.write`:
    run, cancel, reset; `workflow.delete`, `workflow.share`, `workflow.shares`: see its
    groups; `access.who`: ask who can reach it). 403 for a caller who may not read it."""
    workflow_service.get_workflow(ctx, caller, id)  # NotFound, then Forbidden
    return {
        "workflow_id": id,
        "allowed_actions": sorted(abilities.workflow_abilities(ctx, caller, id)),
    }
