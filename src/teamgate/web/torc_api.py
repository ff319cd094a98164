"""The Torc API under /torc-service/v1: ping, version, workflows, access groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Body, Path, Query, Request
from pydantic import BaseModel

from teamgate import __version__
from teamgate.auth.htpasswd import HtpasswdError
from teamgate.domain.workflows import parse_spec
from teamgate.errors import Conflict, Invalid
from teamgate.services import groups, reach, users, workflows
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db.groups import Group, Membership, Page, Share
from teamgate.storage.db.job_runs import RunState
from teamgate.storage.db.listing import MAX_CURSOR_CHARS
from teamgate.storage.db.workflows import Workflow, WorkflowFilter, WorkflowPage
from teamgate.web.deps import Caller, Context, api_router, short_read
from teamgate.web.models import (
    MAX_ROW_ID,
    AccessCheckResponse,
    AccessGroupIn,
    AccessGroupOut,
    ListAccessGroupsResponse,
    ListMembershipsResponse,
    ListWorkflowGroupsResponse,
    ListWorkflowsResponse,
    MembershipAdded,
    MembershipIn,
    MembershipOut,
    PingResponse,
    ReloadAuthResponse,
    ShareLevelIn,
    VersionResponse,
    WorkflowAccessGroupOut,
    WorkflowCreated,
    WorkflowGroupIn,
    WorkflowGroupOut,
    WorkflowIn,
    WorkflowOut,
)
from teamgate.web.text import check_text

API_VERSION = "0.21.0"
PREFIX = "/torc-service/v1"

router = api_router(prefix=PREFIX)

Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]  # past every row (offset + limit fits)
Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)]


def _workflow_out(
    found: Workflow, *, access_groups: Sequence[str] = (), run: RunState | None = None
) -> dict[str, Any]:
    run = run or RunState(found.id, 1, False, False)  # a new workflow: its first run
    return {
        **found.attributes,
        "id": found.id,
        "name": found.name,
        "user": found.user,
        "description": found.description,
        "timestamp": found.timestamp,
        "project": found.project,
        "is_archived": run.is_archived,
        "is_canceled": run.is_canceled,
        "run_id": run.run_id,
        "access_groups": list(access_groups),
    }


def _warned(out: dict[str, Any], warning: str | None) -> dict[str, Any]:
    """`out` with a `warning` field when there is something to warn of (torc-client ignores it)."""
    return {**out, "warning": warning} if warning else out


def _group_out(group: Group) -> AccessGroupOut:
    return AccessGroupOut(
        id=group.id, name=group.name, description=group.description, created_at=group.created_at
    )


def _groups_page(page: Page[Group]) -> ListAccessGroupsResponse:
    return ListAccessGroupsResponse(
        items=[_group_out(g) for g in page.items],
        offset=page.offset,
        limit=page.limit,
        total_count=page.total_count,
        has_more=page.has_more,
    )


def _member_out(member: Membership) -> MembershipOut:
    return MembershipOut(
        id=member.id,
        user_name=member.user_name,
        group_id=member.group_id,
        role=member.role,
        created_at=member.created_at,
    )


def _share_out(share: Share) -> WorkflowGroupOut:
    return WorkflowGroupOut(
        workflow_id=share.workflow_id,
        group_id=share.group_id,
        created_at=share.created_at,
        access=share.access,
        previous_access=share.changed_from,
    )


# -- system --------------------------------------------------------------------


@router.get("/ping", response_model=PingResponse)
def ping() -> PingResponse:
    return PingResponse(status="ok")


@router.get("/version", response_model=VersionResponse)
def version() -> VersionResponse:
    return VersionResponse(api_version=API_VERSION, version=__version__, git_hash=None)


@router.post("/admin/reload-auth", response_model=ReloadAuthResponse)
def reload_auth(request: Request, ctx: Context, caller: Caller) -> ReloadAuthResponse:
    try:
        count = users.reload_users(ctx, caller, request.app.state.authenticator.reload)
    except HtpasswdError as exc:
        kept = request.app.state.authenticator.user_count
        raise Conflict(f"{exc.message}; the previous {kept} users stay in effect") from None
    return ReloadAuthResponse(
        message=f"Reloaded {count} users from htpasswd file", user_count=count
    )


# -- workflows -----------------------------------------------------------------


@router.post("/workflows", response_model=WorkflowOut)
def create_workflow(body: WorkflowIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    created, _jobs = workflows.create_workflow(
        ctx,
        caller,
        name=body.name,
        description=body.description,
        user=body.user,
        access_groups=body.access_groups or (),
        project=body.project,
        attributes=body.attributes(),
    )
    out = _workflow_out(created, access_groups=list(dict.fromkeys(body.access_groups or [])))
    return _warned(out, workflows.owner_notice(body.user, created, caller.name))


@router.post("/workflow_specs", response_model=WorkflowCreated)
def create_workflow_from_spec(
    ctx: Context, caller: Caller, spec: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Create a workflow with its jobs and shares from a spec (the YAML/JSON file, as JSON)."""
    check_text(spec)
    parsed = parse_spec(spec)
    created, jobs = workflows.create_workflow(
        ctx,
        caller,
        name=parsed.name,
        description=parsed.description,
        user=parsed.user,
        access_groups=parsed.access_groups,
        spec=parsed,
    )
    out = _workflow_out(created, access_groups=list(dict.fromkeys(parsed.access_groups)))
    out = {**out, "workflow_id": created.id, "job_count": jobs}
    return _warned(out, workflows.owner_notice(parsed.user, created, caller.name))


class WorkflowListOut(ListWorkflowsResponse):
    """Torc's list response plus `next_cursor`: pass it back as `after` for the next page
    (keyset, stays fast at any depth); torc-client ignores the extra field."""

    next_cursor: str | None = None


@router.get("/workflows", response_model=WorkflowListOut)
def list_workflows(
    ctx: Context,
    caller: Caller,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
    sort_by: str | None = None,
    reverse_sort: bool = False,
    name: str | None = None,
    user: str | None = None,
    description: str | None = None,
    is_archived: bool | None = None,
    after: Cursor = None,
) -> dict[str, Any]:
    filters = WorkflowFilter(
        name=name, user=user, description=description, sort_by=sort_by, reverse_sort=reverse_sort
    )
    if is_archived:  # teamgate has no archived workflows
        page = WorkflowPage([], offset, limit, 0, False)
    else:
        page = workflows.list_workflows(
            ctx, caller, filters=filters, offset=offset, limit=limit, after=after
        )
    shares, runs = workflows.page_details(ctx, page.items)
    return {
        "items": [
            _workflow_out(w, access_groups=shares.get(w.id, ()), run=runs[w.id]) for w in page.items
        ],
        "offset": page.offset,
        "max_limit": MAX_LIMIT,
        "count": len(page.items),
        "total_count": page.total_count,
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


@router.get("/workflows/{id}", response_model=WorkflowOut)
async def get_workflow(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    found, shared_with, run = await short_read(ctx, workflows.get_workflow, ctx, caller, id)
    return _workflow_out(found, access_groups=shared_with, run=run)


@router.delete("/workflows/{id}", response_model=WorkflowOut)
def delete_workflow(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return _workflow_out(workflows.delete_workflow(ctx, caller, id))


# -- access groups ---------------------------------------------------------------


@router.post("/access_groups", response_model=AccessGroupOut)
def create_access_group(body: AccessGroupIn, ctx: Context, caller: Caller) -> AccessGroupOut:
    group = groups.create_group(ctx, caller, name=body.name, description=body.description)
    return _group_out(group)


@router.get("/access_groups", response_model=ListAccessGroupsResponse)
def list_access_groups(
    ctx: Context, caller: Caller, offset: Offset = 0, limit: Limit = MAX_LIMIT
) -> ListAccessGroupsResponse:
    return _groups_page(groups.list_groups(ctx, caller, offset=offset, limit=limit))


@router.get("/access_groups/{id}", response_model=AccessGroupOut)
def get_access_group(id: Id, ctx: Context, caller: Caller) -> AccessGroupOut:
    return _group_out(groups.get_group(ctx, caller, id))


@router.delete("/access_groups/{id}", response_model=AccessGroupOut)
def delete_access_group(id: Id, ctx: Context, caller: Caller) -> AccessGroupOut:
    return _group_out(groups.delete_group(ctx, caller, id))


@router.post(
    "/access_groups/{id}/members", response_model=MembershipAdded, response_model_exclude_none=True
)
def add_user_to_group(
    id: Id,
    body: MembershipIn,
    request: Request,
    ctx: Context,
    caller: Caller,
) -> MembershipAdded:
    if body.group_id is not None and body.group_id != id:
        raise Invalid(f"group_id {body.group_id} in the body does not match group {id} in the path")
    member = groups.add_member(ctx, caller, id, user=body.user_name, role=body.role)
    known = request.app.state.authenticator.knows(body.user_name)
    warning = groups.unknown_member_warning(body.user_name, known=known)
    return MembershipAdded(**_member_out(member).model_dump(), warning=warning)


@router.get("/access_groups/{id}/members", response_model=ListMembershipsResponse)
def list_group_members(
    id: Id,
    ctx: Context,
    caller: Caller,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
) -> ListMembershipsResponse:
    page = groups.list_members(ctx, caller, id, offset=offset, limit=limit)
    return ListMembershipsResponse(
        items=[_member_out(m) for m in page.items],
        offset=page.offset,
        limit=page.limit,
        total_count=page.total_count,
        has_more=page.has_more,
    )


@router.delete("/access_groups/{id}/members/{user_name:path}", response_model=MembershipOut)
def remove_user_from_group(
    id: Id,
    user_name: str,
    ctx: Context,
    caller: Caller,
) -> MembershipOut:
    return _member_out(groups.remove_member(ctx, caller, id, user=user_name))


@router.get("/users/{user_name:path}/groups", response_model=ListAccessGroupsResponse)
def list_user_groups(
    user_name: str, ctx: Context, caller: Caller, offset: Offset = 0, limit: Limit = MAX_LIMIT
) -> ListAccessGroupsResponse:
    return _groups_page(groups.list_user_groups(ctx, caller, user_name, offset=offset, limit=limit))


@router.post(
    "/workflows/{id}/access_groups/{group_id}",
    response_model=WorkflowGroupOut,
    response_model_exclude_none=True,
)
def add_workflow_to_group(
    id: Id,
    group_id: Id,
    ctx: Context,
    caller: Caller,
    body: Annotated[ShareLevelIn | None, Body()] = None,
) -> WorkflowGroupOut:
    """Share the workflow with the group; the optional body's `access` sets the level (the
    torc client sends no body: `write`). Sharing again with another level changes it."""
    access = body.level if body is not None else None
    return _share_out(groups.add_workflow(ctx, caller, id, group_id, access=access))


@router.post(
    "/workflows/{id}/access_groups",
    response_model=WorkflowGroupOut,
    response_model_exclude_none=True,
)
def add_workflow_to_group_body(
    id: Id,
    body: WorkflowGroupIn,
    ctx: Context,
    caller: Caller,
) -> WorkflowGroupOut:
    """The form in Torc's OpenAPI file: the group (and optionally the level) in the body."""
    return _share_out(groups.add_workflow(ctx, caller, id, body.group_id, access=body.level))


@router.delete("/workflows/{id}/access_groups/{group_id}", response_model=WorkflowGroupOut)
def remove_workflow_from_group(
    id: Id,
    group_id: Id,
    ctx: Context,
    caller: Caller,
) -> WorkflowGroupOut:
    return _share_out(groups.remove_workflow(ctx, caller, id, group_id))


@router.get("/workflows/{id}/access_groups", response_model=ListWorkflowGroupsResponse)
def list_workflow_groups(
    id: Id,
    ctx: Context,
    caller: Caller,
    offset: Offset = 0,
    limit: Limit = MAX_LIMIT,
) -> ListWorkflowGroupsResponse:
    """The groups the workflow is shared with, each with the share's level (`access`)."""
    page = groups.list_workflow_groups(ctx, caller, id, offset=offset, limit=limit)
    return ListWorkflowGroupsResponse(
        items=[
            WorkflowAccessGroupOut(**asdict(shared.group), access=shared.access)
            for shared in page.items
        ],
        offset=page.offset,
        limit=page.limit,
        total_count=page.total_count,
        has_more=page.has_more,
    )


@router.get("/workflows/{id}/access")
def who_can_reach_workflow(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Every user and group that can reach the workflow, with what allows each action, and
    the deny rules that take actions away (services.reach.who_workflow has the JSON shape).
    For its owner, its admin-level groups, RBAC managers and system administrators."""
    return reach.who_workflow(ctx, caller, id).as_json()


@router.get("/access_check/{workflow_id}/{user_name:path}", response_model=AccessCheckResponse)
def check_workflow_access(
    workflow_id: Id, user_name: str, ctx: Context, caller: Caller
) -> AccessCheckResponse:
    decision = workflows.check_access(ctx, caller, workflow_id, user_name)
    return AccessCheckResponse(
        has_access=decision.allowed,
        user_name=user_name,
        workflow_id=workflow_id,
        reason=decision.reason,
    )


class StepOut(BaseModel):
    check: str  # access control, caller, deny rules, owner, groups, allow rules
    matched: bool  # this check granted (deny rules: refused) access
    detail: str


class AccessExplainResponse(BaseModel):
    user_name: str
    workflow_id: int
    action: str
    allowed: bool
    reason: str
    message: str  # what a denied user is told; empty when allowed
    steps: list[StepOut]


@router.get("/access_explain/{workflow_id}/{user_name:path}", response_model=AccessExplainResponse)
def explain_workflow_access(
    workflow_id: Id,
    user_name: str,
    ctx: Context,
    caller: Caller,
    action: Annotated[str, Query(max_length=64)] = workflows.READ,
) -> AccessExplainResponse:
    """Every check on whether `user_name` may do `action` on the workflow, and the decision."""
    explained = workflows.explain_access(ctx, caller, workflow_id, user_name, action=action)
    decision = explained.decision
    return AccessExplainResponse(
        user_name=user_name,
        workflow_id=workflow_id,
        action=action,
        allowed=decision.allowed,
        reason=decision.reason,
        message=decision.message,
        steps=[StepOut(**asdict(step)) for step in explained.steps],
    )
