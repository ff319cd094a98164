"""The console's RBAC section, for RBAC managers: permissions, roles and who holds them.

Every list and change calls the same `services.rbac` function as the /v1/rbac routes (and
`taco rbac ...`), which decides (rbac.manage) and audits; a non-manager's page is refused by
the list functions themselves. Before `rbac init`, whoever may initialise RBAC is offered the
button. A change answers with a redirect back to the page (POST, then GET) and a message; a
change the service rejects (Invalid, NotFound, Conflict) shows the page again with why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from teamgate.domain.actions import rule_actions_help
from teamgate.domain.identity import Principal
from teamgate.errors import Forbidden, Invalid, NotFound
from teamgate.services import rbac
from teamgate.services.abilities import may_init_rbac
from teamgate.services.context import ServiceContext
from teamgate.web.ui.forms import attempt
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, page

router = console_router()

Id = Annotated[str, Form(min_length=1, max_length=128)]
Name = Annotated[str, Form(max_length=255)]
Description = Annotated[str, Form(max_length=4096)]
Subject = Annotated[str, Form(min_length=1, max_length=255)]
MAX_RULES_TEXT = 64 * 1024
MAX_RULES = 1000

# What a change did, by its `done` code: the page shows the sentence, never text from the URL
# other than the one name it is about.
DONE = {
    "init": "RBAC initialised: you hold role '{}'.",
    "permission.create": "Permission '{}' created.",
    "permission.delete": "Permission '{}' deleted.",
    "role.create": "Role '{}' created.",
    "role.delete": "Role '{}' deleted.",
    "role.permission.assign": "Permission given to role '{}'.",
    "role.permission.revoke": "Permission taken from role '{}'.",
    "user.assign": "Role assigned to user '{}'.",
    "user.revoke": "Role revoked from user '{}'.",
    "group.assign": "Role assigned to group '{}'.",
    "group.revoke": "Role revoked from group '{}'.",
}


def _render(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    groups_offset: int = 0,
) -> HTMLResponse:
    me = rbac.me(ctx, viewer)
    values: dict[str, Any] = {
        "notice": notice,
        "error": error,
        "rbac_enabled": me.rbac_enabled,
        "may_init": not me.rbac_enabled and may_init_rbac(ctx, viewer),
        "rules_help": rule_actions_help(),
    }
    try:
        permissions = rbac.list_permissions(ctx, viewer)
    except Forbidden:
        if values["may_init"]:  # nothing to list yet, but this viewer may start RBAC
            values["manager"] = False
            return page(request, "rbac.html", title="RBAC", section="RBAC", status=status, **values)
        raise
    group_roles = rbac.list_group_roles(ctx, viewer, offset=groups_offset, limit=PAGE_SIZE)
    values.update(
        manager=True,
        permissions=permissions,
        roles=rbac.list_roles(ctx, viewer),
        users=rbac.list_users(ctx, viewer),
        group_roles=group_roles,
    )
    return page(request, "rbac.html", title="RBAC", section="RBAC", status=status, **values)


def _change(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    done: str,
    about: str,
    change: Callable[[], object],
) -> Response:
    """Make `change`; back to the page with what it did, or the page with why it was not made
    (a refusal is the 403 page, audited as the API audits it)."""
    query = urlencode({"done": done, "about": about})
    return attempt(
        change,
        then=lambda _made: RedirectResponse(f"/ui/rbac?{query}", status_code=303),
        again=lambda error, status: _render(request, ctx, viewer, error=error, status=status),
    )


@router.get("/rbac", include_in_schema=False)
def rbac_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    done: Annotated[str | None, Query(max_length=64)] = None,
    about: Annotated[str | None, Query(max_length=255)] = None,
    groups_offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> HTMLResponse:
    notice = DONE[done].format(about or "") if done in DONE else None
    return _render(request, ctx, viewer, notice=notice, groups_offset=groups_offset)


@router.post("/rbac/init", include_in_schema=False)
def rbac_init(request: Request, ctx: Context, viewer: Viewer) -> Response:
    return _change(request, ctx, viewer, "init", "admin", lambda: rbac.init(ctx, viewer))


@router.post("/rbac/permissions", include_in_schema=False)
def create_permission(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    id: Id,
    rules: Annotated[str, Form(min_length=1, max_length=MAX_RULES_TEXT)],
    name: Name = "",
    description: Description = "",
) -> Response:
    lines = [line.strip() for line in rules.splitlines() if line.strip()]

    def create() -> object:
        if len(lines) > MAX_RULES:
            raise Invalid(f"a permission holds at most {MAX_RULES} rules")
        return rbac.create_permission(
            ctx, viewer, id=id, name=name, description=description or None, rules=lines
        )

    return _change(request, ctx, viewer, "permission.create", id, create)


@router.post("/rbac/permissions/delete", include_in_schema=False)
def delete_permission(request: Request, ctx: Context, viewer: Viewer, id: Id) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        "permission.delete",
        id,
        lambda: rbac.delete_permission(ctx, viewer, id),
    )


@router.post("/rbac/roles", include_in_schema=False)
def create_role(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    id: Id,
    name: Name = "",
    description: Description = "",
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        "role.create",
        id,
        lambda: rbac.create_role(ctx, viewer, id=id, name=name, description=description or None),
    )


@router.post("/rbac/roles/delete", include_in_schema=False)
def delete_role(request: Request, ctx: Context, viewer: Viewer, id: Id) -> Response:
    return _change(
        request, ctx, viewer, "role.delete", id, lambda: rbac.delete_role(ctx, viewer, id)
    )


Pairing = Callable[[ServiceContext, Principal, str, str], object]


def _pick(verb: str, assign: Pairing, revoke: Pairing) -> Pairing:
    """The service function an `.../assign` or `.../revoke` address names."""
    if verb == "assign":
        return assign
    if verb == "revoke":
        return revoke
    raise NotFound("There is no such page")


@router.post("/rbac/roles/permissions/{verb}", include_in_schema=False)
def role_permission(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    verb: str,
    role_id: Id,
    permission_id: Id,
) -> Response:
    """Give (`assign`) or take (`revoke`) a permission to or from a role."""
    act = _pick(verb, rbac.assign_permission, rbac.revoke_permission)
    done = f"role.permission.{verb}"
    return _change(
        request, ctx, viewer, done, role_id, lambda: act(ctx, viewer, role_id, permission_id)
    )


@router.post("/rbac/users/{verb}", include_in_schema=False)
def user_role(
    request: Request, ctx: Context, viewer: Viewer, verb: str, user: Subject, role_id: Id
) -> Response:
    """Assign or revoke a user's role."""
    act = _pick(verb, rbac.assign_role, rbac.revoke_role)
    return _change(
        request, ctx, viewer, f"user.{verb}", user, lambda: act(ctx, viewer, user, role_id)
    )


@router.post("/rbac/groups/{verb}", include_in_schema=False)
def group_role(
    request: Request, ctx: Context, viewer: Viewer, verb: str, group: Subject, role_id: Id
) -> Response:
    """Assign or revoke an access group's role."""
    act = _pick(verb, rbac.assign_group_role, rbac.revoke_group_role)
    return _change(
        request, ctx, viewer, f"group.{verb}", group, lambda: act(ctx, viewer, group, role_id)
    )
