"""The console's Teams section: access groups (as GET /torc-service/v1/access_groups lists
them), one group's members and what is shared with it, and the membership and sharing forms
for those `decide()` allows, through services.groups and services.units as the API calls
them. Every change is a form (with the CSRF field) answered by a redirect back (303)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from teamgate.domain.levels import Level
from teamgate.domain.units import normalize_path
from teamgate.errors import Invalid
from teamgate.services import abilities, group_shares, groups, units
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page
from teamgate.web.ui.units import unit_href

router = console_router()

MAX_ID = 2**62
GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Form(min_length=1, max_length=255)]
AccessForm = Annotated[Literal["read", "write", "admin"], Form()]

DONE = {
    "created": "The group was created.",
    "member-added": "The member was added.",
    "member-unknown": (
        "The member was added, but the server's htpasswd file does not know this user yet: "
        "they cannot sign in until they are added to it (or check the spelling)."
    ),
    "member-removed": "The member was removed.",
    "shared": "The workflow is shared with the group.",
    "unshared": "The share was removed.",
    "deleted": "The group was deleted.",
}


@router.get("/teams", include_in_schema=False)
def team_list(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: int = PAGE_SIZE,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    offset, limit = clamp_page(offset, limit)
    found = groups.list_groups(ctx, viewer, offset=offset, limit=limit)
    return page(
        request,
        "teams.html",
        title="Teams",
        section="Teams",
        found=found,
        may_create=abilities.may_create_groups(ctx, viewer),
        done=DONE.get(done or ""),
    )


@router.post("/teams", include_in_schema=False)
def create_team(
    ctx: Context,
    viewer: Viewer,
    name: Name,
    description: Annotated[str, Form(max_length=4096)] = "",
) -> RedirectResponse:
    group = groups.create_group(ctx, viewer, name=name, description=description or None)
    return _back(group.id, "created")


@router.get("/teams/{group}", include_in_schema=False)
def team_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group: Annotated[str, Path(max_length=255)],
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: int = PAGE_SIZE,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """A group by id (digits) or by name: its members, what is shared with it."""
    group_id = _group_id(ctx, group)
    offset, limit = clamp_page(offset, limit)
    found = groups.get_group(ctx, viewer, group_id)
    members = groups.list_members(ctx, viewer, group_id, offset=offset, limit=limit)
    shared = group_shares.list_group_shares(ctx, viewer, group_id)
    return page(
        request,
        "team.html",
        title=f"Team {found.name}",
        section="Teams",
        group=found,
        members=members,
        shared=shared,
        can=abilities.group_abilities(ctx, viewer, group_id),
        levels=[level.value for level in Level],
        done=DONE.get(done or ""),
        unit_href=unit_href,
        limit=limit,
    )


def _group_id(ctx: Context, group: str) -> int:
    if group.isascii() and group.isdigit():
        if not 1 <= int(group) <= MAX_ID:
            raise Invalid(f"There is no group {group}: group ids are positive numbers")
        return int(group)
    return group_shares.find_group_id(ctx, group)


def _back(group_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/teams/{group_id}?done={done}", status_code=303)


@router.post("/teams/{group_id}/members", include_in_schema=False)
def add_member(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    user: Name,
    role: Annotated[Literal["member", "admin"], Form()] = "member",
) -> RedirectResponse:
    groups.add_member(ctx, viewer, group_id, user=user, role=role)
    known = request.app.state.authenticator.knows(user)
    warning = groups.unknown_member_warning(user, known=known)
    return _back(group_id, "member-unknown" if warning else "member-added")


@router.post("/teams/{group_id}/members/remove", include_in_schema=False)
def remove_member(ctx: Context, viewer: Viewer, group_id: GroupId, user: Name) -> RedirectResponse:
    groups.remove_member(ctx, viewer, group_id, user=user)
    return _back(group_id, "member-removed")


@router.post("/teams/{group_id}/workflows", include_in_schema=False)
def share_workflow(
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    workflow_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    access: AccessForm = "write",
) -> RedirectResponse:
    groups.add_workflow(ctx, viewer, workflow_id, group_id, access=Level(access))
    return _back(group_id, "shared")


@router.post("/teams/{group_id}/workflows/remove", include_in_schema=False)
def unshare_workflow(
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    workflow_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> RedirectResponse:
    groups.remove_workflow(ctx, viewer, workflow_id, group_id)
    return _back(group_id, "unshared")


@router.post("/teams/{group_id}/units/remove", include_in_schema=False)
def unshare_unit(
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    path: Annotated[str, Form(min_length=1, max_length=1024)],
) -> RedirectResponse:
    group = groups.get_group(ctx, viewer, group_id)
    units.unshare(ctx, viewer, normalize_path(path), group.name)
    return _back(group_id, "unshared")


@router.post("/teams/{group_id}/delete", include_in_schema=False)
def delete_team(ctx: Context, viewer: Viewer, group_id: GroupId) -> RedirectResponse:
    groups.delete_group(ctx, viewer, group_id)
    return RedirectResponse("/ui/teams?done=deleted", status_code=303)
