"""What is shared with an access group, as one of its readers may see it.

For the console's team page: the group's readers (its members, system administrators) see
the workflows and units shared with it, each only if `decide()` lets them read it, and
whether they may remove the share.
"""

from __future__ import annotations

from dataclasses import dataclass

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.policy import Resource, decide
from teamgate.errors import NotFound
from teamgate.services.context import ServiceContext, facts_for, require
from teamgate.services.units import unit_resource
from teamgate.services.workflows import workflow_resource
from teamgate.storage.db import group_shares as store
from teamgate.storage.db import groups as group_store

SHOWN = 200  # items of each kind a page shows


@dataclass(frozen=True, slots=True)
class SharedItem:
    """A workflow (`id` its number) or a unit (`id` its path) shared with the group."""

    kind: str  # "workflow" or "unit"
    id: str
    name: str
    owner: str
    access: str  # the share's level
    may_unshare: bool


@dataclass(frozen=True, slots=True)
class GroupShares:
    workflows: list[SharedItem]
    units: list[SharedItem]
    more: bool  # some kind has more than SHOWN shares


def list_group_shares(
    ctx: ServiceContext, principal: Principal, group_id: int, *, limit: int = SHOWN
) -> GroupShares:
    """The workflows and units shared with the group that the caller may read (NotFound for
    an unknown group, Forbidden for a caller who may not read it)."""
    with ctx.db.read() as conn:
        group_store.get_group(conn, group_id)
        facts = facts_for(ctx, conn, principal)
        require(
            decide(principal, Action.GROUP_READ, facts=facts, enforce=ctx.enforce, group=group_id)
        )

        def may(action: str, resource: Resource) -> bool:
            return decide(
                principal, action, resource, facts=facts, enforce=ctx.enforce, group=group_id
            ).allowed

        flows = store.shared_workflows(conn, group_id, limit=limit + 1)
        workflows = []
        for found, access in flows[:limit]:
            resource = workflow_resource(found, group_store.workflow_group_ids(conn, found.id))
            if may(Action.WORKFLOW_READ, resource):
                unshare = may(Action.WORKFLOW_UNSHARE, resource)
                item = SharedItem(
                    "workflow", str(found.id), found.name, found.user, access, unshare
                )
                workflows.append(item)
        paths = store.shared_units(conn, group_id, limit=limit + 1)
        units = []
        for unit, access in paths[:limit]:
            resource = unit_resource(ctx, conn, unit.path)[1]
            if may(Action.UNIT_READ, resource):
                unshare = may(Action.UNIT_UNSHARE, resource)
                units.append(SharedItem("unit", unit.path, unit.path, unit.owner, access, unshare))
        return GroupShares(workflows, units, len(flows) > limit or len(paths) > limit)


def find_group_id(ctx: ServiceContext, name: str) -> int:
    """The id of the group called `name` (NotFound otherwise); reading it is decided by
    whoever then asks for the group."""
    with ctx.db.read() as conn:
        found = group_store.find_groups_by_name(conn, [name]).get(name)
    if found is None:
        raise NotFound(f"Access group '{name}' not found")
    return found.id
