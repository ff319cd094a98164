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
from teamgate.domain.policy import NO_SHARES, decide
from teamgate.services.context import ServiceContext, facts_for
from teamgate.services.rbac import RBAC_RESOURCE
from teamgate.services.workflows import explain_workflow
from teamgate.storage.db import groups as group_store
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
