"""What a caller may do, asked in advance: which controls a page (or an API answer) offers.

Each answer comes from `decide()`, the same function that decides the action itself when it
is taken; showing a control is only a courtesy, the action is refused anyway if it is not
allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.policy import NO_SHARES, Facts, decide
from teamgate.errors import NotFound
from teamgate.services.context import ServiceContext, facts_for
from teamgate.services.rbac import RBAC_RESOURCE
from teamgate.services.units import unit_resource
from teamgate.services.workflows import explain_workflow, workflow_resource
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import units as unit_store
from teamgate.storage.db import workflows as workflow_store


@dataclass(frozen=True, slots=True)
class Sections:
    """The parts of the console beyond what everyone signed in sees."""

    rbac: bool  # RBAC managers: permissions, roles, assignments
    audit: bool  # system administrators: the audit log


def sections(ctx: ServiceContext, principal: Principal) -> Sections:
    with ctx.db.read() as conn:
        facts = facts_for(ctx, conn, principal)
    manage = decide(principal, Action.RBAC_MANAGE, RBAC_RESOURCE, facts=facts, enforce=ctx.enforce)
    audit = decide(principal, Action.AUDIT_READ, enforce=ctx.enforce)
    return Sections(rbac=manage.allowed, audit=audit.allowed)


def allowed(decisions: Iterable[tuple[str, bool]]) -> frozenset[str]:
    """The names of the allowed ones among (action, allowed) pairs."""
    return frozenset(action for action, ok in decisions if ok)


WORKFLOW_ABILITIES = (
    Action.WORKFLOW_READ,
    Action.WORKFLOW_WRITE,
    Action.WORKFLOW_DELETE,
    Action.WORKFLOW_SHARE,
    Action.WORKFLOW_SHARES,
    Action.ACCESS_WHO,  # ask who can reach it
)


def workflow_abilities(
    ctx: ServiceContext, principal: Principal, workflow_id: int
) -> frozenset[str]:
    """What the caller may do on the workflow (workflow.write: run, cancel, reset ...).

    NotFound for an unknown workflow; an empty set for one the caller may not read.
    """
    with ctx.db.read() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        shares = group_store.workflow_group_ids(conn, workflow_id) if ctx.enforce else NO_SHARES
        return allowed(
            (action, explain_workflow(ctx, principal, conn, found, action, shares=shares).allowed)
            for action in WORKFLOW_ABILITIES
        )


def workflow_unshares(
    ctx: ServiceContext, principal: Principal, workflow_id: int, group_ids: Iterable[int]
) -> frozenset[int]:
    """Which of these groups' shares of the workflow the caller may remove."""
    with ctx.db.read() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        shares = group_store.workflow_group_ids(conn, workflow_id) if ctx.enforce else NO_SHARES
        facts = facts_for(ctx, conn, principal)
    resource = workflow_resource(found, shares)
    return frozenset(
        group_id
        for group_id in group_ids
        if decide(
            principal,
            Action.WORKFLOW_UNSHARE,
            resource,
            facts=facts,
            enforce=ctx.enforce,
            group=group_id,
        ).allowed
    )


UNIT_ABILITIES = (
    Action.UNIT_READ,
    Action.UNIT_WRITE,
    Action.UNIT_LOCK,  # also forcing an unlock (an unlock without the lock's ID)
    Action.UNIT_DELETE,
    Action.UNIT_SHARE,
    Action.ACCESS_WHO,  # ask who can reach it
)


def unit_abilities(ctx: ServiceContext, principal: Principal, path: str) -> frozenset[str]:
    """What the caller may do on the unit at `path` (normalised), and which of its shares
    they may remove: `unit.unshare:<group name>` for each.

    NotFound for a missing unit; only a caller who may read it learns anything more.
    """
    with ctx.db.read() as conn:
        found, resource = unit_resource(ctx, conn, path)
        if found is None:
            raise NotFound(f"Unit '{path}' not found")
        facts = facts_for(ctx, conn, principal)

        def may(action: str, group: int | None = None) -> bool:
            return decide(
                principal, action, resource, facts=facts, enforce=ctx.enforce, group=group
            ).allowed

        if not may(Action.UNIT_READ):
            return frozenset()
        names = [name for name, _level in unit_store.share_names(conn, found.id)]
        unshares = (
            (f"{Action.UNIT_UNSHARE}:{name}", may(Action.UNIT_UNSHARE, group.id))
            for name, group in group_store.find_groups_by_name(conn, names).items()
        )
        return allowed([*((a, may(a)) for a in UNIT_ABILITIES), *unshares])


GROUP_ABILITIES = (Action.GROUP_READ, Action.GROUP_MEMBERS, Action.GROUP_DELETE)


def group_abilities(ctx: ServiceContext, principal: Principal, group_id: int) -> frozenset[str]:
    """What the caller may do on the access group: read it (its members and what is shared
    with it), change its members (its admins), delete it (system administrators)."""
    with ctx.db.read() as conn:
        group_store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        return allowed(
            (a, decide(principal, a, facts=facts, enforce=ctx.enforce, group=group_id).allowed)
            for a in GROUP_ABILITIES
        )


def readable_groups(
    ctx: ServiceContext, principal: Principal, group_ids: Iterable[int]
) -> frozenset[int]:
    """Which of these access groups the caller may open (group.read: members, admins)."""
    with ctx.db.read() as conn:
        facts = facts_for(ctx, conn, principal)
    return frozenset(
        group_id
        for group_id in group_ids
        if decide(
            principal, Action.GROUP_READ, facts=facts, enforce=ctx.enforce, group=group_id
        ).allowed
    )


def may_create_groups(ctx: ServiceContext, principal: Principal) -> bool:
    """Whether the caller may create access groups (system administrators)."""
    return decide(principal, Action.GROUP_CREATE, enforce=ctx.enforce).allowed


def may_init_rbac(ctx: ServiceContext, principal: Principal) -> bool:
    """Whether the caller may initialise RBAC (as `rbac.init` decides it; RBAC being
    initialised already is a Conflict, not a refusal)."""
    facts = Facts(admins_configured=ctx.has_admins)
    return decide(principal, Action.RBAC_INIT, facts=facts, enforce=ctx.enforce).allowed
