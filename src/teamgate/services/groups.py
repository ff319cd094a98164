"""Access groups: create, list, membership, sharing workflows with groups."""

from __future__ import annotations

from sqlalchemy import Connection

from teamgate.domain.identity import Principal
from teamgate.domain.policy import ADMIN, GROUP_MEMBERS, SHARE, Decision, decide
from teamgate.errors import Forbidden, Invalid
from teamgate.services import audit
from teamgate.services.context import (
    ServiceContext,
    access_change,
    check_page,
    facts_for,
    require,
    workflows_change,
)
from teamgate.services.workflows import authorize_workflow, workflow_resource
from teamgate.storage.db import groups as store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.groups import Group, Membership, Page, Share

ROLES = ("member", "admin")
NAME_MAX = 255


def _admin(ctx: ServiceContext, principal: Principal) -> Decision:
    return require(decide(principal, ADMIN, enforce=ctx.enforce))


def _validate_name(name: str) -> str:
    if not name.strip():
        raise Invalid("group name must not be empty")
    if name != name.strip():
        raise Invalid(f"group name '{name}' must not start or end with spaces")
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise Invalid(f"group name must be at most {NAME_MAX} printable characters")
    return name


def create_group(
    ctx: ServiceContext, principal: Principal, *, name: str, description: str | None
) -> Group:
    decision = _admin(ctx, principal)
    with ctx.db.write() as conn:
        group = store.create_group(conn, name=_validate_name(name), description=description)
        detail = f"name '{group.name}'"
        audit.record(conn, principal, "group.create", f"group/{group.id}", decision, detail)
        return group


def delete_group(ctx: ServiceContext, principal: Principal, group_id: int) -> Group:
    decision = _admin(ctx, principal)
    with access_change(ctx) as conn:
        group = store.delete_group(conn, group_id)
        detail = f"name '{group.name}'"
        audit.record(conn, principal, "group.delete", f"group/{group_id}", decision, detail)
        return group


def _can_see_all(ctx: ServiceContext, principal: Principal) -> bool:
    return not ctx.enforce or principal.is_admin


def _can_read_group(
    ctx: ServiceContext, principal: Principal, group_id: int, conn: Connection
) -> None:
    if _can_see_all(ctx, principal):
        return
    if principal.name is None:
        raise Forbidden("Anonymous access not allowed when access control is enabled")
    facts = facts_for(ctx, conn, principal)
    if group_id not in facts.groups:
        raise Forbidden(f"User '{principal.name}' is not a member of group {group_id}")


def get_group(ctx: ServiceContext, principal: Principal, group_id: int) -> Group:
    with ctx.db.read() as conn:
        group = store.get_group(conn, group_id)
        _can_read_group(ctx, principal, group_id, conn)
        return group


def list_groups(
    ctx: ServiceContext, principal: Principal, *, offset: int, limit: int
) -> Page[Group]:
    """All groups for administrators; a user's own groups otherwise."""
    check_page(offset, limit)
    with ctx.db.read() as conn:
        if _can_see_all(ctx, principal):
            return store.list_groups(conn, offset=offset, limit=limit)
        if principal.name is None:
            raise Forbidden("Anonymous access not allowed when access control is enabled")
        return store.list_user_groups(conn, principal.name, offset=offset, limit=limit)


def list_user_groups(
    ctx: ServiceContext, principal: Principal, user: str, *, offset: int, limit: int
) -> Page[Group]:
    check_page(offset, limit)
    if not _can_see_all(ctx, principal) and principal.name != user:
        raise Forbidden(
            f"User '{principal.display}' may only list their own groups "
            "(system administrators may list anyone's)"
        )
    with ctx.db.read() as conn:
        return store.list_user_groups(conn, user, offset=offset, limit=limit)


def add_member(
    ctx: ServiceContext, principal: Principal, group_id: int, *, user: str, role: str
) -> Membership:
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}': use 'member' or 'admin'")
    if not user.strip() or user != user.strip() or ":" in user or any(ord(c) < 32 for c in user):
        raise Invalid(
            f"invalid user name {user!r}: it must be non-empty, printable, without ':' "
            "and without leading or trailing spaces"
        )
    with access_change(ctx) as conn:
        store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        decision = require(
            decide(principal, GROUP_MEMBERS, facts=facts, enforce=ctx.enforce, group=group_id)
        )
        member = store.add_member(conn, group_id, user=user, role=role)
        detail = f"user '{user}' as {role}"
        audit.record(conn, principal, "group.member.add", f"group/{group_id}", decision, detail)
        return member


def remove_member(
    ctx: ServiceContext, principal: Principal, group_id: int, *, user: str
) -> Membership:
    with access_change(ctx) as conn:
        store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        decision = require(
            decide(principal, GROUP_MEMBERS, facts=facts, enforce=ctx.enforce, group=group_id)
        )
        member = store.remove_member(conn, group_id, user=user)
        detail = f"user '{user}' ({member.role})"
        audit.record(conn, principal, "group.member.remove", f"group/{group_id}", decision, detail)
        return member


def list_members(
    ctx: ServiceContext, principal: Principal, group_id: int, *, offset: int, limit: int
) -> Page[Membership]:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        store.get_group(conn, group_id)
        _can_read_group(ctx, principal, group_id, conn)
        return store.list_members(conn, group_id, offset=offset, limit=limit)


def _share_decision(
    ctx: ServiceContext, principal: Principal, workflow_id: int, group_id: int, conn: Connection
) -> Decision:
    found = workflow_store.get_workflow(conn, workflow_id)
    store.get_group(conn, group_id)
    resource = workflow_resource(found, store.workflow_group_ids(conn, workflow_id))
    facts = facts_for(ctx, conn, principal)
    return require(
        decide(principal, SHARE, resource, facts=facts, enforce=ctx.enforce, group=group_id)
    )


def _record_share(
    conn: Connection, principal: Principal, action: str, share: Share, decision: Decision
) -> None:
    group = store.get_group(conn, share.group_id)
    detail = f"group {group.id} '{group.name}'"
    resource = f"workflow/{share.workflow_id}"
    audit.record(conn, principal, action, resource, decision, detail)


def add_workflow(
    ctx: ServiceContext, principal: Principal, workflow_id: int, group_id: int
) -> Share:
    with workflows_change(ctx) as conn:
        decision = _share_decision(ctx, principal, workflow_id, group_id, conn)
        share = store.share_workflow(conn, workflow_id, group_id)
        _record_share(conn, principal, "workflow.share", share, decision)
        return share


def remove_workflow(
    ctx: ServiceContext, principal: Principal, workflow_id: int, group_id: int
) -> Share:
    with workflows_change(ctx) as conn:
        decision = _share_decision(ctx, principal, workflow_id, group_id, conn)
        share = store.unshare_workflow(conn, workflow_id, group_id)
        _record_share(conn, principal, "workflow.unshare", share, decision)
        return share


def list_workflow_groups(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, offset: int, limit: int
) -> Page[Group]:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        if not principal.is_admin:
            authorize_workflow(ctx, principal, conn, workflow_id, "workflow.read")
        workflow_store.get_workflow(conn, workflow_id)
        return store.list_workflow_groups(conn, workflow_id, offset=offset, limit=limit)
