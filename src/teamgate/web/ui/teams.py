"""The console's Teams section: access groups (as GET /torc-service/v1/access_groups lists
them), one group's members and what is shared with it, and the membership and sharing forms
for those `decide()` allows, through services.groups and services.units as the API calls
them. Every change is a form (with the CSRF field) answered by a redirect back (303), or, when
the service rejects it (Invalid, NotFound, Conflict), by the same page again with why and what
was typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from teamgate.domain.identity import Principal
from teamgate.domain.levels import Level
from teamgate.domain.units import normalize_path
from teamgate.errors import Invalid
from teamgate.services import abilities, group_shares, groups, units
from teamgate.services.context import ServiceContext
from teamgate.web.ui.forms import attempt
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page
from teamgate.web.ui.units import unit_href

router = console_router()

MAX_ID = 2**62
GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Form(min_length=1, max_length=255)]
AccessForm = Annotated[Literal["read", "write", "admin"], Form()]
Typed = dict[str, Any]

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
    return _teams(request, ctx, viewer, offset=offset, limit=limit, done=DONE.get(done or ""))


def _teams(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
    typed: Typed | None = None,
) -> HTMLResponse:
    found = groups.list_groups(ctx, viewer, offset=offset, limit=limit)
    return page(
        request,
        "teams.html",
        title="Teams",
        section="Teams",
        status=status,
        found=found,
        may_create=abilities.may_create_groups(ctx, viewer),
        done=done,
        error=error,
        typed=typed or {},
    )


@router.post("/teams", include_in_schema=False)
def create_team(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    name: Name,
    description: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    typed = {"name": name, "description": description}
    return attempt(
        lambda: groups.create_group(ctx, viewer, name=name, description=description or None),
        then=lambda group: _back(group.id, "created"),
        again=lambda error, status: _teams(
            request, ctx, viewer, error=error, status=status, typed=typed
        ),
    )


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
    return _team(
        request, ctx, viewer, group_id, offset=offset, limit=limit, done=DONE.get(done or "")
    )


def _team(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    group_id: int,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
    typed: Typed | None = None,
) -> HTMLResponse:
    found = groups.get_group(ctx, viewer, group_id)
    members = groups.list_members(ctx, viewer, group_id, offset=offset, limit=limit)
    shared = group_shares.list_group_shares(ctx, viewer, group_id)
    return page(
        request,
        "team.html",
        title=f"Team {found.name}",
        section="Teams",
        status=status,
        group=found,
        members=members,
        shared=shared,
        can=abilities.group_abilities(ctx, viewer, group_id),
        levels=[level.value for level in Level],
        done=done,
        error=error,
        typed=typed or {},
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


def _change(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    group_id: int,
    change: Callable[[], object],
    *,
    done: str,
    typed: Typed | None = None,
) -> Response:
    """Make `change`, then back to the team's page saying so; or its page again with why (and
    what was `typed` in the form)."""
    return attempt(
        change,
        then=lambda _made: _back(group_id, done),
        again=lambda error, status: _team(
            request, ctx, viewer, group_id, error=error, status=status, typed=typed
        ),
    )


@router.post("/teams/{group_id}/members", include_in_schema=False)
def add_member(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    user: Name,
    role: Annotated[str, Form(max_length=32)] = "member",  # the service names the roles
) -> Response:
    known = request.app.state.authenticator.knows(user)
    unknown = groups.unknown_member_warning(user, known=known)
    return _change(
        request,
        ctx,
        viewer,
        group_id,
        lambda: groups.add_member(ctx, viewer, group_id, user=user, role=role),
        done="member-unknown" if unknown else "member-added",
        typed={"user": user, "role": role},
    )


@router.post("/teams/{group_id}/members/remove", include_in_schema=False)
def remove_member(
    request: Request, ctx: Context, viewer: Viewer, group_id: GroupId, user: Name
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        group_id,
        lambda: groups.remove_member(ctx, viewer, group_id, user=user),
        done="member-removed",
    )


@router.post("/teams/{group_id}/workflows", include_in_schema=False)
def share_workflow(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    workflow_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    access: AccessForm = "write",
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        group_id,
        lambda: groups.add_workflow(ctx, viewer, workflow_id, group_id, access=Level(access)),
        done="shared",
        typed={"workflow_id": workflow_id, "access": access},
    )


@router.post("/teams/{group_id}/workflows/remove", include_in_schema=False)
def unshare_workflow(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    workflow_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        group_id,
        lambda: groups.remove_workflow(ctx, viewer, workflow_id, group_id),
        done="unshared",
    )


@router.post("/teams/{group_id}/units/remove", include_in_schema=False)
def unshare_unit(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    group_id: GroupId,
    path: Annotated[str, Form(min_length=1, max_length=1024)],
) -> Response:
    def remove() -> None:
        group = groups.get_group(ctx, viewer, group_id)
        units.unshare(ctx, viewer, normalize_path(path), group.name)

    return _change(request, ctx, viewer, group_id, remove, done="unshared")


@router.post("/teams/{group_id}/delete", include_in_schema=False)
def delete_team(request: Request, ctx: Context, viewer: Viewer, group_id: GroupId) -> Response:
    return attempt(
        lambda: groups.delete_group(ctx, viewer, group_id),
        then=lambda _group: RedirectResponse("/ui/teams?done=deleted", status_code=303),
        again=lambda error, status: _team(
            request, ctx, viewer, group_id, error=error, status=status
        ),
    )
