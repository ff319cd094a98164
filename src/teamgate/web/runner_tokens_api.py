"""Runner tokens under /torc-service/v1: a token scoped to one workflow, for the runners of its
Slurm allocations (or any other host), so that they never need the user's password.

`POST /workflows/{id}/runner_tokens` mints one for whoever may run the workflow, signed in with
a password or their own token (never a runner token); `DELETE` revokes all of the workflow's.
The token is in the response body only: never in the URL, a header or the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Path, Response, status
from pydantic import Field

from teamgate.auth.tokens import RUNNER_DEFAULT_TTL_HOURS, RUNNER_MAX_TTL_HOURS
from teamgate.services import tokens
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID, StrictIn

# included by jobs_api.router, under its prefix
router = api_router(tags=["runner tokens"])

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]


class RunnerTokenIn(StrictIn):
    ttl_hours: float = Field(
        default=RUNNER_DEFAULT_TTL_HOURS, gt=0, le=RUNNER_MAX_TTL_HOURS, allow_inf_nan=False
    )
    description: str | None = Field(default=None, max_length=1024)


@router.post("/workflows/{id}/runner_tokens", status_code=status.HTTP_201_CREATED)
def create_runner_token(
    id: Id,
    ctx: Context,
    caller: Caller,
    response: Response,
    body: Annotated[RunnerTokenIn | None, Body()] = None,
) -> dict[str, Any]:
    """Mint a token good only for this workflow's runner calls and reads (needs the right to
    run it). It ends at its expiry, when the workflow completes, is canceled or deleted, when
    the user's password changes, or on `DELETE`."""
    body = body or RunnerTokenIn()
    issued = tokens.issue_runner_token(
        ctx, caller, id, ttl_hours=body.ttl_hours, description=body.description
    )
    response.headers["Cache-Control"] = "no-store"
    return {
        "token": issued.token,
        "id": issued.id,
        "workflow_id": issued.workflow_id,
        "expires_at": issued.expires_at,
    }


@router.delete("/workflows/{id}/runner_tokens")
def revoke_runner_tokens(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Revoke every live runner token of this workflow (needs the right to run it)."""
    count = tokens.revoke_runner_tokens(ctx, caller, id)
    return {"workflow_id": id, "revoked": count}
