"""The OpenTaco API under /v1: RBAC and the caller's identity (API tokens: tokens_api)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Query, Request, status
from pydantic import Field

from teamgate.domain.actions import rule_actions_help
from teamgate.services import rbac
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db.rbac import GroupRole, Permission, Role
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID, StrictIn

router = api_router(prefix="/v1")

ACTIONS_HELP = rule_actions_help()


class PermissionIn(StrictIn):
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(default="", max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    rules: list[str] = Field(min_length=1, max_length=1000)


class RoleIn(StrictIn):
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(default="", max_length=255)
    description: str | None = Field(default=None, max_length=4096)


class RolePermissionIn(StrictIn):
    permission_id: str = Field(min_length=1, max_length=128)
    role_id: str | None = None


class AssignmentIn(StrictIn):
    email: str = Field(min_length=1, max_length=255)
    role_id: str = Field(min_length=1, max_length=128)


class GroupAssignmentIn(StrictIn):
    group: str = Field(min_length=1, max_length=255, description="the access group's name")
    role_id: str = Field(min_length=1, max_length=128)


class TestIn(StrictIn):
    email: str | None = Field(default=None, max_length=255)
    action: str = Field(min_length=1, max_length=64, description=ACTIONS_HELP)
    resource: str | None = Field(
        default=None,
        max_length=1024,
        description="a unit path (a workflow's owner/name for workflow.*); for unit.read, "
        "none or '*' asks what `unit ls` would show",
    )
    prefix: str | None = Field(
        default=None, max_length=1024, description="with unit.read and no resource: unit ls PREFIX"
    )


def _permission(p: Permission) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "rules": p.rules,
        "created_at": p.created_at,
        "created_by": p.created_by,
    }


def _role(r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "permissions": r.permissions,
        "created_at": r.created_at,
        "created_by": r.created_by,
    }


@router.get("/auth/me")
def auth_me(caller: Caller) -> dict[str, Any]:
    """Who the server takes the caller for: `auth` is password, token, oidc or anonymous;
    `issuer` and `idp_groups` (sorted) for an identity provider's sign-in (or a token minted
    after one); `expires_at` when the credential stops being accepted (null: a password)."""
    return {
        "user": caller.name,
        "system_admin": caller.is_admin,
        "auth": caller.method,
        "issuer": caller.idp,
        "idp_groups": sorted(caller.idp_groups),
        "expires_at": caller.expires_at,
    }


@router.post("/rbac/init")
def rbac_init(ctx: Context, caller: Caller) -> dict[str, str]:
    user = rbac.init(ctx, caller)
    return {"message": "RBAC initialized successfully", "admin": user}


@router.get("/rbac/me")
def rbac_me(ctx: Context, caller: Caller) -> dict[str, Any]:
    me = rbac.me(ctx, caller)
    return {
        "rbac_enabled": me.rbac_enabled,
        "subject": me.user or "anonymous",
        "email": me.user or "",
        "system_admin": me.system_admin,
        "roles": me.roles,
        "permissions": me.permissions,
        "rules": me.rules,
        "group_roles": [{"group": g, "role": r} for g, r in me.group_roles],
    }


@router.post("/rbac/test")
def rbac_test(body: TestIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    """What the server would answer EMAIL (the caller when absent) doing ACTION; changes
    nothing. Someone else's answer needs rbac.manage; a unit the caller may not read is
    explained without its owner or shares."""
    user = body.email or caller.display
    result = rbac.test(
        ctx, caller, user=user, action=body.action, resource=body.resource, prefix=body.prefix
    )
    return {
        "email": user,
        "action": body.action,
        "resource": body.resource,
        "status": "allowed" if result.decision.allowed else "denied",
        "reason": result.decision.reason,
        "user_roles": result.roles,
        "group_roles": [{"group": g, "role": r} for g, r in result.group_roles],
        "applicable_permissions": result.permissions,
        "rbac_enabled": result.rbac_enabled,
        "user_found": result.user_found,
        "steps": [asdict(step) for step in result.steps],
    }


@router.post("/rbac/permissions", status_code=status.HTTP_201_CREATED)
def create_permission(body: PermissionIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    created = rbac.create_permission(
        ctx, caller, id=body.id, name=body.name, description=body.description, rules=body.rules
    )
    return _permission(created)


@router.get("/rbac/permissions")
def list_permissions(ctx: Context, caller: Caller) -> list[dict[str, Any]]:
    return [_permission(p) for p in rbac.list_permissions(ctx, caller)]


@router.delete("/rbac/permissions/{permission_id}")
def delete_permission(permission_id: str, ctx: Context, caller: Caller) -> dict[str, str]:
    rbac.delete_permission(ctx, caller, permission_id)
    return {"message": f"Permission '{permission_id}' deleted"}


@router.post("/rbac/roles", status_code=status.HTTP_201_CREATED)
def create_role(body: RoleIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return _role(
        rbac.create_role(ctx, caller, id=body.id, name=body.name, description=body.description)
    )


@router.get("/rbac/roles")
def list_roles(ctx: Context, caller: Caller) -> list[dict[str, Any]]:
    return [_role(r) for r in rbac.list_roles(ctx, caller)]


@router.delete("/rbac/roles/{role_id}")
def delete_role(role_id: str, ctx: Context, caller: Caller) -> dict[str, str]:
    rbac.delete_role(ctx, caller, role_id)
    return {"message": f"Role '{role_id}' deleted"}


@router.post("/rbac/roles/{role_id}/permissions")
def assign_permission(
    role_id: str, body: RolePermissionIn, ctx: Context, caller: Caller
) -> dict[str, str]:
    rbac.assign_permission(ctx, caller, role_id, body.permission_id)
    return {"message": f"Permission '{body.permission_id}' assigned to role '{role_id}'"}


@router.delete("/rbac/roles/{role_id}/permissions/{permission_id}")
def revoke_permission(
    role_id: str, permission_id: str, ctx: Context, caller: Caller
) -> dict[str, str]:
    rbac.revoke_permission(ctx, caller, role_id, permission_id)
    return {"message": f"Permission '{permission_id}' revoked from role '{role_id}'"}


@router.get("/rbac/users")
def list_users(ctx: Context, caller: Caller) -> list[dict[str, Any]]:
    return [
        {"subject": u.user, "email": u.user, "roles": u.roles, "updated_at": u.updated_at}
        for u in rbac.list_users(ctx, caller)
    ]


@router.post("/rbac/users/assign")
def assign_role(
    body: AssignmentIn, ctx: Context, caller: Caller, request: Request
) -> dict[str, Any]:
    added = rbac.assign_role(ctx, caller, body.email, body.role_id)
    verb = "assigned to" if added else "was already assigned to"
    answer = {"message": f"Role '{body.role_id}' {verb} {body.email}", "changed": added}
    if request.app.state.authenticator.knows(body.email) is False:
        answer["warning"] = (
            f"user '{body.email}' is not in the server's htpasswd file: the role reaches whoever "
            "signs in with exactly that name (check the spelling; the assignment is kept)"
        )
    return answer


@router.post("/rbac/users/revoke")
def revoke_role(body: AssignmentIn, ctx: Context, caller: Caller) -> dict[str, str]:
    rbac.revoke_role(ctx, caller, body.email, body.role_id)
    return {"message": f"Role '{body.role_id}' revoked from {body.email}"}


def _group_role(g: GroupRole) -> dict[str, Any]:
    return {
        "group": g.group,
        "group_id": g.group_id,
        "role_id": g.role,
        "created_at": g.created_at,
        "created_by": g.created_by,
    }


@router.get("/rbac/groups")
def list_group_roles(
    ctx: Context,
    caller: Caller,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
) -> dict[str, Any]:
    """One page of the roles given to access groups, by group id then role."""
    page = rbac.list_group_roles(ctx, caller, offset=offset, limit=limit)
    return {
        "items": [_group_role(g) for g in page.items],
        "offset": page.offset,
        "limit": page.limit,
        "total_count": page.total_count,
        "has_more": page.has_more,
    }


@router.post("/rbac/groups/assign")
def assign_group_role(body: GroupAssignmentIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Give every member of GROUP the role while they are members (409 if it has it)."""
    assigned = rbac.assign_group_role(ctx, caller, body.group, body.role_id)
    return {
        "message": f"Role '{body.role_id}' assigned to group '{body.group}'",
        **_group_role(assigned),
    }


@router.post("/rbac/groups/revoke")
def revoke_group_role(body: GroupAssignmentIn, ctx: Context, caller: Caller) -> dict[str, str]:
    rbac.revoke_group_role(ctx, caller, body.group, body.role_id)
    return {"message": f"Role '{body.role_id}' revoked from group '{body.group}'"}
