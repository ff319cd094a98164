"""RBAC permissions, roles and their assignments to users and access groups: SQL only, no
decisions.

Every change (and every group-membership change, see services/groups.py) bumps
`rbac_state.version` in the same transaction: it serialises concurrent
edits (a row lock on PostgreSQL, the write lock on SQLite) and tells caches to refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from teamgate.errors import AlreadyExists, Conflict, NotFound
from teamgate.storage.db.groups import Page
from teamgate.storage.db.tables import (
    access_group,
    membership,
    rbac_group_role,
    rbac_permission,
    rbac_permission_rule,
    rbac_role,
    rbac_role_permission,
    rbac_state,
    rbac_user_role,
)
from teamgate.storage.db.util import now_text


@dataclass(frozen=True, slots=True)
class Permission:
    id: str
    name: str
    description: str | None
    rules: list[str]
    created_at: str
    created_by: str | None


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str
    description: str | None
    permissions: list[str]
    created_at: str
    created_by: str | None


@dataclass(frozen=True, slots=True)
class UserRoles:
    user: str
    roles: list[str] = field(default_factory=list)
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class GroupRole:
    """A role held by every member of an access group while they are members."""

    group: str
    group_id: int
    role: str
    created_at: str
    created_by: str | None


@dataclass(frozen=True, slots=True)
class GrantRow:
    rule: str
    permission: str
    role: str
    group: str | None = None  # the access group the role comes through; None: the user's own


def state(conn: Connection) -> tuple[bool, int]:
    """(initialised?, version) of the RBAC data."""
    row = conn.execute(select(rbac_state.c.initialized, rbac_state.c.version)).one()
    return bool(row.initialized), int(row.version)


def version(conn: Connection) -> int:
    return int(conn.execute(select(rbac_state.c.version)).scalar_one())


def bump(conn: Connection) -> None:
    """Mark a change (and take the RBAC write lock for this transaction)."""
    conn.execute(update(rbac_state).values(version=rbac_state.c.version + 1))


def versions(conn: Connection) -> tuple[int, int]:
    """(access version, workflows version): what a workflow list's count depends on besides
    the request itself."""
    row = conn.execute(select(rbac_state.c.version, rbac_state.c.workflows_version)).one()
    return int(row.version), int(row.workflows_version)


def bump_workflows(conn: Connection) -> None:
    """Mark a change to what workflow lists count (and take the same row lock as `bump`)."""
    state = rbac_state.c
    conn.execute(update(rbac_state).values(workflows_version=state.workflows_version + 1))


def mark_initialized(conn: Connection, user: str) -> None:
    result = conn.execute(
        update(rbac_state)
        .where(rbac_state.c.initialized.is_(False))
        .values(initialized=True, init_user=user, init_time=now_text())
    )
    if result.rowcount != 1:
        raise Conflict("RBAC is already initialised")


def _insert(conn: Connection, statement: object, conflict: str) -> None:
    try:
        with conn.begin_nested():
            conn.execute(statement)  # type: ignore[call-overload]
    except IntegrityError:
        raise AlreadyExists(conflict) from None


def create_permission(
    conn: Connection,
    *,
    id: str,
    name: str,
    description: str | None,
    rules: list[str],
    by: str | None,
) -> Permission:
    created = now_text()
    _insert(
        conn,
        insert(rbac_permission).values(
            id=id, name=name, description=description, created_at=created, created_by=by
        ),
        f"Permission '{id}' already exists",
    )
    conn.execute(
        insert(rbac_permission_rule),
        [{"permission_id": id, "position": i, "rule": r} for i, r in enumerate(rules)],
    )
    return Permission(id, name, description, rules, created, by)


def list_permissions(conn: Connection) -> list[Permission]:
    rules: dict[str, list[str]] = {}
    for row in conn.execute(
        select(rbac_permission_rule).order_by(
            rbac_permission_rule.c.permission_id, rbac_permission_rule.c.position
        )
    ):
        rules.setdefault(row.permission_id, []).append(row.rule)
    rows = conn.execute(select(rbac_permission).order_by(rbac_permission.c.id))
    return [
        Permission(r.id, r.name, r.description, rules.get(r.id, []), r.created_at, r.created_by)
        for r in rows
    ]


def delete_permission(conn: Connection, permission_id: str) -> None:
    result = conn.execute(delete(rbac_permission).where(rbac_permission.c.id == permission_id))
    if result.rowcount != 1:
        raise NotFound(f"Permission '{permission_id}' not found")


def create_role(
    conn: Connection, *, id: str, name: str, description: str | None, by: str | None
) -> Role:
    created = now_text()
    _insert(
        conn,
        insert(rbac_role).values(
            id=id, name=name, description=description, created_at=created, created_by=by
        ),
        f"Role '{id}' already exists",
    )
    return Role(id, name, description, [], created, by)


def find_role(conn: Connection, role_id: str) -> bool:
    return conn.execute(select(rbac_role.c.id).where(rbac_role.c.id == role_id)).first() is not None


def _require_role(conn: Connection, role_id: str) -> None:
    if not find_role(conn, role_id):
        raise NotFound(f"Role '{role_id}' not found")


def _require_permission(conn: Connection, permission_id: str) -> None:
    query = select(rbac_permission.c.id).where(rbac_permission.c.id == permission_id)
    if conn.execute(query).first() is None:
        raise NotFound(f"Permission '{permission_id}' not found")


def list_roles(conn: Connection) -> list[Role]:
    perms: dict[str, list[str]] = {}
    for row in conn.execute(
        select(rbac_role_permission).order_by(
            rbac_role_permission.c.role_id, rbac_role_permission.c.permission_id
        )
    ):
        perms.setdefault(row.role_id, []).append(row.permission_id)
    rows = conn.execute(select(rbac_role).order_by(rbac_role.c.id))
    return [
        Role(r.id, r.name, r.description, perms.get(r.id, []), r.created_at, r.created_by)
        for r in rows
    ]


def delete_role(conn: Connection, role_id: str) -> None:
    result = conn.execute(delete(rbac_role).where(rbac_role.c.id == role_id))
    if result.rowcount != 1:
        raise NotFound(f"Role '{role_id}' not found")


def add_role_permission(conn: Connection, role_id: str, permission_id: str) -> None:
    _require_role(conn, role_id)
    _require_permission(conn, permission_id)
    _insert(
        conn,
        insert(rbac_role_permission).values(role_id=role_id, permission_id=permission_id),
        f"Permission '{permission_id}' is already assigned to role '{role_id}'",
    )


def remove_role_permission(conn: Connection, role_id: str, permission_id: str) -> None:
    _require_role(conn, role_id)
    result = conn.execute(
        delete(rbac_role_permission).where(
            rbac_role_permission.c.role_id == role_id,
            rbac_role_permission.c.permission_id == permission_id,
        )
    )
    if result.rowcount != 1:
        raise NotFound(f"Permission '{permission_id}' is not assigned to role '{role_id}'")


def assign_role(conn: Connection, user: str, role_id: str) -> bool:
    """Give `user` the role; False when they already had it."""
    _require_role(conn, role_id)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(rbac_user_role).values(
                    user_name=user, role_id=role_id, created_at=now_text()
                )
            )
    except IntegrityError:
        return False
    return True


def revoke_role(conn: Connection, user: str, role_id: str) -> None:
    result = conn.execute(
        delete(rbac_user_role).where(
            rbac_user_role.c.user_name == user, rbac_user_role.c.role_id == role_id
        )
    )
    if result.rowcount != 1:
        raise NotFound(f"User '{user}' does not have role '{role_id}'")


def list_user_roles(conn: Connection) -> list[UserRoles]:
    users: dict[str, UserRoles] = {}
    rows = conn.execute(
        select(rbac_user_role).order_by(rbac_user_role.c.user_name, rbac_user_role.c.role_id)
    )
    for row in rows:
        entry = users.setdefault(row.user_name, UserRoles(row.user_name, [], row.created_at))
        entry.roles.append(row.role_id)
        if row.created_at > entry.updated_at:
            users[row.user_name] = UserRoles(row.user_name, entry.roles, row.created_at)
    return list(users.values())


def roles_of(conn: Connection, user: str) -> list[str]:
    rows = conn.execute(
        select(rbac_user_role.c.role_id)
        .where(rbac_user_role.c.user_name == user)
        .order_by(rbac_user_role.c.role_id)
    )
    return [r.role_id for r in rows]


def _grant_rows() -> Select[Any]:
    """Rules joined to the permissions and roles that carry them, and to their users."""
    source = rbac_user_role.join(
        rbac_role_permission, rbac_role_permission.c.role_id == rbac_user_role.c.role_id
    ).join(
        rbac_permission_rule,
        rbac_permission_rule.c.permission_id == rbac_role_permission.c.permission_id,
    )
    return select(
        rbac_user_role.c.user_name,
        rbac_permission_rule.c.rule,
        rbac_role_permission.c.permission_id,
        rbac_user_role.c.role_id,
    ).select_from(source)


def grants_of(conn: Connection, user: str) -> list[GrantRow]:
    """Every rule `user` holds, with the permission and role it comes through."""
    query = (
        _grant_rows()
        .where(rbac_user_role.c.user_name == user)
        .order_by(
            rbac_user_role.c.role_id,
            rbac_role_permission.c.permission_id,
            rbac_permission_rule.c.position,
        )
    )
    return [GrantRow(r.rule, r.permission_id, r.role_id) for r in conn.execute(query)]


def all_grants(conn: Connection) -> list[tuple[str, GrantRow]]:
    """(user, grant) for every user: used to check who still holds rbac.manage."""
    rows = conn.execute(_grant_rows())
    return [(r.user_name, GrantRow(r.rule, r.permission_id, r.role_id)) for r in rows]


def _group_id(conn: Connection, group: str) -> int:
    """The id of the access group named `group` (NotFound when there is none)."""
    found = conn.execute(select(access_group.c.id).where(access_group.c.name == group)).first()
    if found is None:
        raise NotFound(f"Group '{group}' not found (torc access-groups list shows the groups)")
    return int(found.id)


def assign_group_role(conn: Connection, group: str, role_id: str, *, by: str | None) -> GroupRole:
    """Give every member of `group` the role; AlreadyExists when the group has it already."""
    group_id = _group_id(conn, group)
    _require_role(conn, role_id)
    created = now_text()
    _insert(
        conn,
        insert(rbac_group_role).values(
            group_id=group_id, role_id=role_id, created_at=created, created_by=by
        ),
        f"Group '{group}' already has role '{role_id}'",
    )
    return GroupRole(group, group_id, role_id, created, by)


def revoke_group_role(conn: Connection, group: str, role_id: str) -> None:
    group_id = _group_id(conn, group)
    result = conn.execute(
        delete(rbac_group_role).where(
            rbac_group_role.c.group_id == group_id, rbac_group_role.c.role_id == role_id
        )
    )
    if result.rowcount != 1:
        raise NotFound(f"Group '{group}' does not have role '{role_id}'")


def list_group_roles(conn: Connection, *, offset: int, limit: int) -> Page[GroupRole]:
    """One page of (group, role) assignments in the table's key order (group id, role)."""
    total = conn.execute(select(func.count()).select_from(rbac_group_role)).scalar_one()
    rows = conn.execute(
        select(rbac_group_role, access_group.c.name)
        .select_from(rbac_group_role.join(access_group))
        .order_by(rbac_group_role.c.group_id, rbac_group_role.c.role_id)
        .offset(offset)
        .limit(limit)
    )
    items = [GroupRole(r.name, r.group_id, r.role_id, r.created_at, r.created_by) for r in rows]
    return Page(items, offset, limit, total)


def group_roles_of(conn: Connection, user: str) -> list[tuple[str, str]]:
    """(group name, role) for every role `user` holds through the groups they are in."""
    rows = conn.execute(
        select(access_group.c.name, rbac_group_role.c.role_id)
        .select_from(
            membership.join(
                rbac_group_role, rbac_group_role.c.group_id == membership.c.group_id
            ).join(access_group, access_group.c.id == membership.c.group_id)
        )
        .where(membership.c.user_name == user)
        .order_by(access_group.c.name, rbac_group_role.c.role_id)
    )
    return [(r.name, r.role_id) for r in rows]


def group_roles_of_groups(conn: Connection, group_ids: Sequence[int]) -> list[tuple[str, str]]:
    """(group name, role) for every role of the groups `group_ids` (an IdP sign-in's groups:
    their members hold them with no membership row)."""
    if not group_ids:
        return []
    rows = conn.execute(
        select(access_group.c.name, rbac_group_role.c.role_id)
        .select_from(
            rbac_group_role.join(access_group, access_group.c.id == rbac_group_role.c.group_id)
        )
        .where(rbac_group_role.c.group_id.in_(sorted(group_ids)))
        .order_by(access_group.c.name, rbac_group_role.c.role_id)
    )
    return [(r.name, r.role_id) for r in rows]


def grants_of_groups(conn: Connection, group_ids: Sequence[int]) -> list[GrantRow]:
    """Every rule held through the roles of the groups `group_ids` (an IdP sign-in's groups),
    as `group_grants_of` gives them for a member's groups."""
    if not group_ids:
        return []
    source = rbac_group_role.join(access_group, access_group.c.id == rbac_group_role.c.group_id)
    return _group_grants(conn, source, rbac_group_role.c.group_id.in_(sorted(group_ids)))


def group_grants_of(conn: Connection, user: str) -> list[GrantRow]:
    """Every rule `user` holds through the roles of the groups they are members of, with the
    group, role and permission it comes through. Each join follows a key or an index:
    membership (user, group) → rbac_group_role (group, role) → rbac_role_permission (role,
    permission) → rbac_permission_rule (permission, position), and access_group by id."""
    source = membership.join(
        rbac_group_role, rbac_group_role.c.group_id == membership.c.group_id
    ).join(access_group, access_group.c.id == membership.c.group_id)
    return _group_grants(conn, source, membership.c.user_name == user)


def _group_grants(
    conn: Connection, groups: FromClause, where: ColumnElement[bool]
) -> list[GrantRow]:
    """The rules of the group roles in `groups` (rbac_group_role joined with access_group)
    that `where` picks, with the group's name, by group, role, permission and position."""
    source = groups.join(
        rbac_role_permission, rbac_role_permission.c.role_id == rbac_group_role.c.role_id
    ).join(
        rbac_permission_rule,
        rbac_permission_rule.c.permission_id == rbac_role_permission.c.permission_id,
    )
    query = (
        select(
            access_group.c.name,
            rbac_permission_rule.c.rule,
            rbac_role_permission.c.permission_id,
            rbac_group_role.c.role_id,
        )
        .select_from(source)
        .where(where)
        .order_by(
            access_group.c.name,
            rbac_group_role.c.role_id,
            rbac_role_permission.c.permission_id,
            rbac_permission_rule.c.position,
        )
    )
    return [GrantRow(r.rule, r.permission_id, r.role_id, r.name) for r in conn.execute(query)]
