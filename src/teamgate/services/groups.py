"""Access groups: create, list, membership, sharing workflows with groups."""

from __future__ import annotations

from sqlalchemy import Connection

from teamgate.domain.actions import Action, DecidedBy
from teamgate.domain.identity import Principal
from teamgate.domain.levels import Level
from teamgate.domain.policy import Decision, decide, user_resource
from teamgate.domain.text import has_control, padded
from teamgate.errors import Invalid
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
from teamgate.storage.db.groups import Group, Membership, Page, Share, SharedGroup

ROLES = ("member", "admin")
NAME_MAX = 255


def _admin(ctx: ServiceContext, principal: Principal, action: Action) -> Decision:
    return require(decide(principal, action, enforce=ctx.enforce))


def _validate_name(name: str) -> str:
    if not name.strip():
        raise Invalid("group name must not be empty")
    if padded(name):
        raise Invalid(f"group name '{name}' must not start or end with spaces")
    if len(name) > NAME_MAX or has_control(name):
        raise Invalid(f"group name must be at most {NAME_MAX} printable characters")
    return name


def create_group(
    ctx: ServiceContext, principal: Principal, *, name: str, description: str | None
) -> Group:
    decision = _admin(ctx, principal, Action.GROUP_CREATE)
    # an access change: callers whose IdP groups name it are its members from now on
    with access_change(ctx) as conn:
        group = store.create_group(conn, name=_validate_name(name), description=description)
        detail = f"name '{group.name}'"
        audit.record(conn, principal, "group.create", f"group/{group.id}", decision, detail)
        return group


def delete_group(ctx: ServiceContext, principal: Principal, group_id: int) -> Group:
    decision = _admin(ctx, principal, Action.GROUP_DELETE)
    with access_change(ctx) as conn:
        group = store.delete_group(conn, group_id)
        detail = f"name '{group.name}'"
        audit.record(conn, principal, "group.delete", f"group/{group_id}", decision, detail)
        return group


def _read_groups(
    ctx: ServiceContext, principal: Principal, conn: Connection, group_id: int | None = None
) -> Decision:
    """Require reading one group (its members, system administrators) or, without a group,
    listing groups (anyone signed in: their own, or all of them for administrators)."""
    facts = facts_for(ctx, conn, principal)
    return require(
        decide(principal, Action.GROUP_READ, facts=facts, enforce=ctx.enforce, group=group_id)
    )


def get_group(ctx: ServiceContext, principal: Principal, group_id: int) -> Group:
    with ctx.db.read() as conn:
        group = store.get_group(conn, group_id)
        _read_groups(ctx, principal, conn, group_id)
        return group


def list_groups(
    ctx: ServiceContext, principal: Principal, *, offset: int, limit: int
) -> Page[Group]:
    """All groups for administrators; a user's own groups otherwise (with those their IdP
    groups name)."""
    check_page(offset, limit)
    with ctx.db.read() as conn:
        decision = _read_groups(ctx, principal, conn)
        if decision.decided_by in (DecidedBy.DISABLED, DecidedBy.ADMIN) or principal.name is None:
            return store.list_groups(conn, offset=offset, limit=limit)
        return store.list_user_groups(
            conn,
            principal.name,
            offset=offset,
            limit=limit,
            idp_groups=sorted(principal.idp_groups),
        )


def list_user_groups(
    ctx: ServiceContext, principal: Principal, user: str, *, offset: int, limit: int
) -> Page[Group]:
    check_page(offset, limit)
    require(decide(principal, Action.USER_GROUPS, user_resource(user), enforce=ctx.enforce))
    with ctx.db.read() as conn:
        return store.list_user_groups(conn, user, offset=offset, limit=limit)


def add_member(
    ctx: ServiceContext, principal: Principal, group_id: int, *, user: str, role: str
) -> Membership:
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}': use 'member' or 'admin'")
    if not user.strip() or padded(user) or ":" in user or has_control(user):
        raise Invalid(
            f"invalid user name {user!r}: it must be non-empty, printable, without ':' "
            "and without leading or trailing spaces"
        )
    with access_change(ctx) as conn:
        store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        decision = require(
            decide(
                principal, Action.GROUP_MEMBERS, facts=facts, enforce=ctx.enforce, group=group_id
            )
        )
        member = store.add_member(conn, group_id, user=user, role=role)
        detail = f"user '{user}' as {role}"
        audit.record(conn, principal, "group.member.add", f"group/{group_id}", decision, detail)
        return member


def unknown_member_warning(user: str, *, known: bool | None) -> str | None:
    """The warning for a member the htpasswd file does not know (`known` False; None: there
    is no file to ask). The membership stands: the user may be added to the file later."""
    if known is not False:
        return None
    return (
        f"user '{user}' is not in the server's htpasswd file, so they cannot sign in yet; "
        "the membership is kept (add them with torc-htpasswd, or check the spelling)"
    )


def remove_member(
    ctx: ServiceContext, principal: Principal, group_id: int, *, user: str
) -> Membership:
    with access_change(ctx) as conn:
        store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        decision = require(
            decide(
                principal, Action.GROUP_MEMBERS, facts=facts, enforce=ctx.enforce, group=group_id
            )
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
        _read_groups(ctx, principal, conn, group_id)
        return store.list_members(conn, group_id, offset=offset, limit=limit)


def _share_decision(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    group_id: int,
    conn: Connection,
    *,
    action: Action,
) -> Decision:
    found = workflow_store.get_workflow(conn, workflow_id)
    store.get_group(conn, group_id)
    resource = workflow_resource(found, store.workflow_group_ids(conn, workflow_id))
    facts = facts_for(ctx, conn, principal)
    return require(
        decide(principal, action, resource, facts=facts, enforce=ctx.enforce, group=group_id)
    )


def _record_share(
    conn: Connection, principal: Principal, action: str, share: Share, decision: Decision
) -> None:
    group = store.get_group(conn, share.group_id)
    detail = f"group {group.id} '{group.name}'"
    if action == Action.WORKFLOW_SHARE:
        was = share.changed_from
        detail += f" ({share.access})" if was is None else f" ({was} -> {share.access})"
    resource = f"workflow/{share.workflow_id}"
    audit.record(conn, principal, action, resource, decision, detail)


def add_workflow(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    group_id: int,
    *,
    access: Level | None = None,
) -> Share:
    """Share the workflow with the group at `access` (None: the default, write); sharing
    again with another level changes the level (`Share.changed_from` holds the old one)."""
    with workflows_change(ctx) as conn:
        action = Action.WORKFLOW_SHARE
        decision = _share_decision(ctx, principal, workflow_id, group_id, conn, action=action)
        share = store.share_workflow(conn, workflow_id, group_id, access=access)
        _record_share(conn, principal, action, share, decision)
        return share


def remove_workflow(
    ctx: ServiceContext, principal: Principal, workflow_id: int, group_id: int
) -> Share:
    with workflows_change(ctx) as conn:
        action = Action.WORKFLOW_UNSHARE
        decision = _share_decision(ctx, principal, workflow_id, group_id, conn, action=action)
        share = store.unshare_workflow(conn, workflow_id, group_id)
        _record_share(conn, principal, action, share, decision)
        return share


def list_workflow_groups(
    ctx: ServiceContext, principal: Principal, workflow_id: int, *, offset: int, limit: int
) -> Page[SharedGroup]:
    check_page(offset, limit)
    with ctx.db.read() as conn:
        # whoever may read the workflow, and system administrators, who manage sharing
        authorize_workflow(ctx, principal, conn, workflow_id, Action.WORKFLOW_SHARES)
        return store.list_workflow_groups(conn, workflow_id, offset=offset, limit=limit)
