"""Access groups, memberships and workflow shares: SQL only, no decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from teamgate.domain.levels import DEFAULT_LEVEL, Level
from teamgate.errors import AlreadyExists, NotFound
from teamgate.storage.db.tables import access_group, membership, workflow_share
from teamgate.storage.db.util import now_text


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    description: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class Membership:
    id: int
    user_name: str
    group_id: int
    role: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Share:
    workflow_id: int
    group_id: int
    created_at: str
    access: str = DEFAULT_LEVEL.value  # the share's level (domain.levels)
    changed_from: str | None = None  # set when sharing again changed the level: the old one


@dataclass(frozen=True, slots=True)
class SharedGroup:
    """A group a resource is shared with, and the share's level."""

    group: Group
    access: str


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    offset: int
    limit: int
    total_count: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total_count


def _group(row: object) -> Group:
    return Group(**row._mapping)  # type: ignore[attr-defined]


def find_group(conn: Connection, group_id: int) -> Group | None:
    row = conn.execute(select(access_group).where(access_group.c.id == group_id)).first()
    return _group(row) if row else None


def get_group(conn: Connection, group_id: int) -> Group:
    group = find_group(conn, group_id)
    if group is None:
        raise NotFound(f"Group not found with ID: {group_id}")
    return group


def find_groups_by_name(conn: Connection, names: Sequence[str]) -> dict[str, Group]:
    """The groups with these names (those that exist), by name; no query for no names."""
    if not names:
        return {}
    rows = conn.execute(select(access_group).where(access_group.c.name.in_(list(names))))
    return {row.name: _group(row) for row in rows}


def create_group(conn: Connection, *, name: str, description: str | None) -> Group:
    created = now_text()
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(access_group)
                .values(name=name, description=description, created_at=created)
                .returning(access_group.c.id)
            )
            group_id = result.scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"Group '{name}' already exists") from None
    return Group(id=group_id, name=name, description=description, created_at=created)


def delete_group(conn: Connection, group_id: int) -> Group:
    group = get_group(conn, group_id)
    conn.execute(delete(access_group).where(access_group.c.id == group_id))
    return group


def _group_page(
    conn: Connection,
    *,
    source: FromClause,
    where: ColumnElement[bool] | None,
    offset: int,
    limit: int,
) -> Page[Group]:
    """One page of groups from `source` (a table or join), ordered by id, with the total."""
    count = select(func.count()).select_from(source)
    rows = select(access_group).select_from(source)
    if where is not None:
        count, rows = count.where(where), rows.where(where)
    total = conn.execute(count).scalar_one()
    page = conn.execute(rows.order_by(access_group.c.id).offset(offset).limit(limit))
    return Page([_group(r) for r in page], offset, limit, total)


def list_groups(conn: Connection, *, offset: int, limit: int) -> Page[Group]:
    return _group_page(conn, source=access_group, where=None, offset=offset, limit=limit)


def list_user_groups(
    conn: Connection, user: str, *, offset: int, limit: int, idp_groups: Sequence[str] = ()
) -> Page[Group]:
    """The groups `user` is a member of; with `idp_groups` (an IdP sign-in's groups), also
    the groups of those names (members for that request, with no membership row)."""
    if idp_groups:
        member_of = select(membership.c.group_id).where(membership.c.user_name == user)
        where = or_(access_group.c.id.in_(member_of), access_group.c.name.in_(sorted(idp_groups)))
        return _group_page(conn, source=access_group, where=where, offset=offset, limit=limit)
    joined = access_group.join(membership, membership.c.group_id == access_group.c.id)
    where = membership.c.user_name == user
    return _group_page(conn, source=joined, where=where, offset=offset, limit=limit)


def groups_named(conn: Connection, names: Sequence[str]) -> list[tuple[int, str]]:
    """(group id, group name) of the groups with these names (those that exist), by id."""
    return sorted((g.id, g.name) for g in find_groups_by_name(conn, names).values())


def user_memberships(conn: Connection, user: str) -> list[tuple[int, str, str]]:
    """(group id, group name, role) for every group `user` belongs to."""
    rows = conn.execute(
        select(access_group.c.id, access_group.c.name, membership.c.role)
        .select_from(access_group.join(membership, membership.c.group_id == access_group.c.id))
        .where(membership.c.user_name == user)
    )
    return [(r.id, r.name, r.role) for r in rows]


def add_member(conn: Connection, group_id: int, *, user: str, role: str) -> Membership:
    get_group(conn, group_id)
    created = now_text()
    try:
        with conn.begin_nested():
            member_id = conn.execute(
                insert(membership)
                .values(user_name=user, group_id=group_id, role=role, created_at=created)
                .returning(membership.c.id)
            ).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"User '{user}' is already a member of group {group_id}") from None
    return Membership(member_id, user, group_id, role, created)


def remove_member(conn: Connection, group_id: int, *, user: str) -> Membership:
    get_group(conn, group_id)
    row = conn.execute(
        delete(membership)
        .where(membership.c.group_id == group_id, membership.c.user_name == user)
        .returning(*membership.c)
    ).first()
    if row is None:
        raise NotFound(f"Membership not found for user '{user}' in group {group_id}")
    return Membership(**row._mapping)


def list_members(conn: Connection, group_id: int, *, offset: int, limit: int) -> Page[Membership]:
    get_group(conn, group_id)
    where = membership.c.group_id == group_id
    total = conn.execute(select(func.count()).select_from(membership).where(where)).scalar_one()
    rows = conn.execute(
        select(membership).where(where).order_by(membership.c.id).offset(offset).limit(limit)
    )
    return Page([Membership(**r._mapping) for r in rows], offset, limit, total)


def share_workflow(
    conn: Connection, workflow_id: int, group_id: int, *, access: Level | None = None
) -> Share:
    """Share the workflow with the group at `access` (None: the default level). Sharing it
    again with a level changes the share's level; without one, or with the same, it is an
    AlreadyExists as before levels existed."""
    created = now_text()
    level = access or DEFAULT_LEVEL
    try:
        with conn.begin_nested():
            conn.execute(
                insert(workflow_share).values(
                    workflow_id=workflow_id, group_id=group_id, created_at=created, access=level
                )
            )
    except IntegrityError:
        where = (workflow_share.c.workflow_id == workflow_id, workflow_share.c.group_id == group_id)
        row = conn.execute(select(workflow_share).where(*where)).first()
        if row is None or access is None or row.access == access:
            raise AlreadyExists(
                f"Workflow {workflow_id} is already associated with group {group_id}"
                + (f" ({row.access})" if row is not None else "")
            ) from None
        conn.execute(update(workflow_share).where(*where).values(access=level))
        return Share(workflow_id, group_id, row.created_at, level.value, changed_from=row.access)
    return Share(workflow_id, group_id, created, level.value)


def unshare_workflow(conn: Connection, workflow_id: int, group_id: int) -> Share:
    row = conn.execute(
        delete(workflow_share)
        .where(workflow_share.c.workflow_id == workflow_id, workflow_share.c.group_id == group_id)
        .returning(*workflow_share.c)
    ).first()
    if row is None:
        raise NotFound(f"Association not found for workflow {workflow_id} in group {group_id}")
    return Share(**row._mapping)


# Built once: every decision on a workflow (each job call of a run) asks for its shares.
_SHARE_GROUPS = select(workflow_share.c.group_id, workflow_share.c.access).where(
    workflow_share.c.workflow_id == bindparam("workflow_id")
)


def workflow_group_ids(conn: Connection, workflow_id: int) -> dict[int, str]:
    """The groups the workflow is shared with: group id → the share's level."""
    rows = conn.execute(_SHARE_GROUPS, {"workflow_id": workflow_id})
    return {r.group_id: r.access for r in rows}


def list_workflow_groups(
    conn: Connection, workflow_id: int, *, offset: int, limit: int
) -> Page[SharedGroup]:
    """One page of the groups the workflow is shared with (by id), each with its level."""
    joined = access_group.join(workflow_share, workflow_share.c.group_id == access_group.c.id)
    where = workflow_share.c.workflow_id == workflow_id
    total = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(
        select(access_group, workflow_share.c.access)
        .select_from(joined)
        .where(where)
        .order_by(access_group.c.id)
        .offset(offset)
        .limit(limit)
    )
    items = [SharedGroup(Group(r.id, r.name, r.description, r.created_at), r.access) for r in rows]
    return Page(items, offset, limit, total)


def workflow_groups(conn: Connection, workflow_id: int, *, limit: int) -> list[Group]:
    """The first `limit` groups (by id) that a workflow is shared with: the rows of
    `list_workflow_groups` without its count, in one query."""
    joined = access_group.join(workflow_share, workflow_share.c.group_id == access_group.c.id)
    rows = conn.execute(
        select(access_group)
        .select_from(joined)
        .where(workflow_share.c.workflow_id == workflow_id)
        .order_by(access_group.c.id)
        .limit(limit)
    )
    return [_group(r) for r in rows]


def workflow_group_names(conn: Connection, workflow_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of the groups each of `workflow_ids` is shared with, in group id order (one
    query for a page of workflows); a workflow shared with none is left out."""
    if not workflow_ids:
        return {}
    joined = workflow_share.join(access_group, access_group.c.id == workflow_share.c.group_id)
    rows = conn.execute(
        select(workflow_share.c.workflow_id, access_group.c.name)
        .select_from(joined)
        .where(workflow_share.c.workflow_id.in_(workflow_ids))
        .order_by(workflow_share.c.workflow_id, access_group.c.id)
    )
    names: dict[int, list[str]] = {}
    for row in rows:
        names.setdefault(row.workflow_id, []).append(row.name)
    return names
