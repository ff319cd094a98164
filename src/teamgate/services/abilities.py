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
from teamgate.domain.policy import decide
from teamgate.services.context import ServiceContext, facts_for
from teamgate.services.rbac import RBAC_RESOURCE


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
