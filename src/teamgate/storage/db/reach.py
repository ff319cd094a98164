"""Who might reach a workflow or unit: the users `access who` asks `decide()` about.

SQL only, no decisions. A user can reach a resource only through its ownership, a group it
is shared with, or an RBAC rule (held directly or through a role of one of their groups), so
the candidates are the members of its shared groups and every user holding a role, directly
or through a group. Whether each of them really can is `decide()`'s answer, not this module's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, union

from teamgate.storage.db.tables import (
    access_group,
    membership,
    rbac_group_role,
    rbac_user_role,
)


@dataclass(frozen=True, slots=True)
class GroupSize:
    id: int
    name: str
    members: int


def groups_with_sizes(conn: Connection, group_ids: Collection[int]) -> list[GroupSize]:
    """The groups `group_ids` names (those that still exist), by id, with their member counts."""
    if not group_ids:
        return []
    members = (
        select(func.count())
        .where(membership.c.group_id == access_group.c.id)
        .scalar_subquery()
        .label("members")
    )
    rows = conn.execute(
        select(access_group.c.id, access_group.c.name, members)
        .where(access_group.c.id.in_(sorted(group_ids)))
        .order_by(access_group.c.id)
    )
    return [GroupSize(r.id, r.name, r.members) for r in rows]


def candidates(
    conn: Connection, group_ids: Collection[int], *, limit: int
) -> tuple[list[str], bool]:
    """Up to `limit` user names, sorted, that might reach a resource shared with `group_ids`:
    the members of those groups, the users holding an RBAC role, and the members of the
    groups holding one; and whether there were more than `limit`."""
    parts = [
        select(rbac_user_role.c.user_name.label("user_name")),
        select(membership.c.user_name.label("user_name")).where(
            membership.c.group_id.in_(select(rbac_group_role.c.group_id))
        ),
    ]
    if group_ids:
        parts.append(
            select(membership.c.user_name.label("user_name")).where(
                membership.c.group_id.in_(sorted(group_ids))
            )
        )
    users = union(*parts).subquery()
    rows = conn.execute(
        select(users.c.user_name).order_by(users.c.user_name).limit(limit + 1)
    ).scalars()
    names = list(rows)
    return names[:limit], len(names) > limit
