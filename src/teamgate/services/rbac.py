"""RBAC administration: init, permissions, roles, assignments to users and access groups,
me, test."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection

from teamgate.domain.actions import Action, rule_actions_help
from teamgate.domain.explanations import Explanation, Step, explain
from teamgate.domain.identity import Principal
from teamgate.domain.policy import RBAC_MANAGE, Decision, Facts, Resource, decide
from teamgate.domain.rules import ACTIONS, Effect, parse_rule
from teamgate.domain.text import has_control
from teamgate.domain.units import normalize_path
from teamgate.errors import Conflict, Invalid
from teamgate.services import audit, unit_access
from teamgate.services.context import (
    ServiceContext,
    access_change,
    check_page,
    facts_for,
    require,
)
from teamgate.services.groups import NAME_MAX as GROUP_NAME_MAX
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import rbac as store
from teamgate.storage.db.groups import Page
from teamgate.storage.db.rbac import GroupRole, Permission, Role, UserRoles

RBAC_RESOURCE = Resource(kind="rbac", id="*", name="*")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
BUILTIN = {
    "admin": ("Administrator", "Full access to every unit, workflow and RBAC", "allow:*:*"),
    "default": ("Default", "Read access to every unit", "allow:unit.read:*"),
}


def _manage(ctx: ServiceContext, principal: Principal) -> Decision:
    with ctx.db.read() as conn:
        facts = facts_for(ctx, conn, principal)
    return require(decide(principal, RBAC_MANAGE, RBAC_RESOURCE, facts=facts, enforce=ctx.enforce))


def _check_id(kind: str, value: str) -> str:
    if not ID_RE.match(value):
        raise Invalid(
            f"invalid {kind} id '{value}': use 1-128 letters, digits, '.', '_', '@', '+' or '-'"
        )
    return value


@contextmanager
def _edit(
    ctx: ServiceContext, principal: Principal, action: str, resource: str, detail: str | None = None
) -> Iterator[Connection]:
    """An RBAC change: needs rbac.manage, bumps the version (serialising concurrent edits)
    and records `action` in the audit log in its transaction, and drops cached rules once it
    has committed."""
    decision = _manage(ctx, principal)
    with access_change(ctx) as conn:
        yield conn
        audit.record(conn, principal, f"rbac.{action}", f"rbac/{resource}", decision, detail)


def init(ctx: ServiceContext, principal: Principal) -> str:
    """Create the built-in permissions and roles and make the caller an RBAC admin."""
    facts = Facts(admins_configured=ctx.has_admins)
    decision = decide(principal, Action.RBAC_INIT, facts=facts, enforce=ctx.enforce)
    if principal.name is None:  # refused before anything is read
        require(decision)
    with access_change(ctx) as conn:
        initialized, _ = store.state(conn)
        if initialized:
            raise Conflict("RBAC is already initialised")
        require(decision)
        user = principal.display  # never anonymous: the decision refuses that
        store.mark_initialized(conn, user)
        for role_id, (name, description, rule) in BUILTIN.items():
            store.create_permission(
                conn,
                id=role_id,
                name=name,
                description=description,
                rules=[rule],
                by=user,
            )
            store.create_role(conn, id=role_id, name=name, description=description, by=user)
            store.add_role_permission(conn, role_id, role_id)
        store.assign_role(conn, user, "admin")
        detail = f"role 'admin' assigned to {user}"
        audit.record(conn, principal, "rbac.init", "rbac", decision, detail)
    return user


def create_permission(
    ctx: ServiceContext,
    principal: Principal,
    *,
    id: str,
    name: str,
    description: str | None,
    rules: Sequence[str],
) -> Permission:
    _check_id("permission", id)
    if not rules:
        raise Invalid(
            f"permission '{id}' needs at least one rule (--rule effect:actions:resources)"
        )
    canonical = [parse_rule(rule).text for rule in rules]
    with _edit(
        ctx, principal, "permission.create", f"permission/{id}", "; ".join(canonical)
    ) as conn:
        created = store.create_permission(
            conn,
            id=id,
            name=name or id,
            description=description,
            rules=canonical,
            by=principal.name,
        )
    return created


def list_permissions(ctx: ServiceContext, principal: Principal) -> list[Permission]:
    _manage(ctx, principal)
    with ctx.db.read() as conn:
        return store.list_permissions(conn)


def delete_permission(ctx: ServiceContext, principal: Principal, permission_id: str) -> None:
    with _edit(ctx, principal, "permission.delete", f"permission/{permission_id}") as conn:
        store.delete_permission(conn, permission_id)
        _keep_a_manager(conn, removed=f"permission '{permission_id}'", advice=_another_way())


def create_role(
    ctx: ServiceContext, principal: Principal, *, id: str, name: str, description: str | None
) -> Role:
    _check_id("role", id)
    with _edit(ctx, principal, "role.create", f"role/{id}") as conn:
        created = store.create_role(
            conn, id=id, name=name or id, description=description, by=principal.name
        )
    return created


def list_roles(ctx: ServiceContext, principal: Principal) -> list[Role]:
    _manage(ctx, principal)
    with ctx.db.read() as conn:
        return store.list_roles(conn)


def delete_role(ctx: ServiceContext, principal: Principal, role_id: str) -> None:
    with _edit(ctx, principal, "role.delete", f"role/{role_id}") as conn:
        store.delete_role(conn, role_id)
        _keep_a_manager(conn, removed=f"role '{role_id}'", advice=_another_way())


def assign_permission(
    ctx: ServiceContext, principal: Principal, role_id: str, permission_id: str
) -> None:
    detail = f"permission '{permission_id}'"
    with _edit(ctx, principal, "role.permission.assign", f"role/{role_id}", detail) as conn:
        store.add_role_permission(conn, role_id, permission_id)


def revoke_permission(
    ctx: ServiceContext, principal: Principal, role_id: str, permission_id: str
) -> None:
    detail = f"permission '{permission_id}'"
    with _edit(ctx, principal, "role.permission.revoke", f"role/{role_id}", detail) as conn:
        store.remove_role_permission(conn, role_id, permission_id)
        removed = f"permission '{permission_id}' from role '{role_id}'"
        _keep_a_manager(conn, removed=removed, advice=_another_way())


def assign_role(ctx: ServiceContext, principal: Principal, user: str, role_id: str) -> bool:
    _check_user(user)
    with _edit(ctx, principal, "user.assign", f"user/{user}", f"role '{role_id}'") as conn:
        added = store.assign_role(conn, user, role_id)
    return added


def revoke_role(ctx: ServiceContext, principal: Principal, user: str, role_id: str) -> None:
    with _edit(ctx, principal, "user.revoke", f"user/{user}", f"role '{role_id}'") as conn:
        store.revoke_role(conn, user, role_id)
        advice = f"assign role '{role_id}' (or another role with rbac.manage) to someone else first"
        _keep_a_manager(conn, removed=f"role '{role_id}' from '{user}'", advice=advice)


def list_users(ctx: ServiceContext, principal: Principal) -> list[UserRoles]:
    _manage(ctx, principal)
    with ctx.db.read() as conn:
        return store.list_user_roles(conn)


def assign_group_role(
    ctx: ServiceContext, principal: Principal, group: str, role_id: str
) -> GroupRole:
    """Give every member of access group `group` (by name) the role, for as long as they are
    members; decided and audited as assigning a role to a user is.

    A group's roles never count as the way RBAC stays manageable (`_keep_a_manager`): a
    group's admins change its members without rbac.manage."""
    _check_group(group)
    with _edit(ctx, principal, "group.assign", f"group/{group}", f"role '{role_id}'") as conn:
        assigned = store.assign_group_role(conn, group, role_id, by=principal.name)
    return assigned


def revoke_group_role(ctx: ServiceContext, principal: Principal, group: str, role_id: str) -> None:
    """Take the role away from group `group`: its members lose it within the access window."""
    _check_group(group)
    with _edit(ctx, principal, "group.revoke", f"group/{group}", f"role '{role_id}'") as conn:
        store.revoke_group_role(conn, group, role_id)


def list_group_roles(
    ctx: ServiceContext, principal: Principal, *, offset: int, limit: int
) -> Page[GroupRole]:
    _manage(ctx, principal)
    check_page(offset, limit)
    with ctx.db.read() as conn:
        return store.list_group_roles(conn, offset=offset, limit=limit)


def _check_group(group: str) -> None:
    if not group.strip() or len(group) > GROUP_NAME_MAX or has_control(group):
        raise Invalid(f"group name must be 1-{GROUP_NAME_MAX} printable characters")


def _check_user(user: str) -> None:
    if not user.strip() or len(user) > 255 or has_control(user):
        raise Invalid("user name (email) must be 1-255 printable characters")


def _another_way() -> str:
    """What to do before removing a role or permission that is the last way to rbac.manage:
    assigning that same role to someone else would not help."""
    return (
        "first give rbac.manage to someone through another role, e.g. "
        "taco rbac permission create rbac-admins 'RBAC admins' --rule 'allow:rbac.manage:*'; "
        "taco rbac role create rbac-admin 'RBAC admin'; "
        "taco rbac role assign-permission rbac-admin rbac-admins; "
        "taco rbac user assign USER rbac-admin"
    )


def _keep_a_manager(conn: Connection, *, removed: str, advice: str) -> None:
    """Refuse a change that leaves RBAC with nobody allowed rbac.manage (when RBAC is on)."""
    initialized, _ = store.state(conn)
    if not initialized:
        return
    holders: dict[str, tuple[bool, bool]] = {}
    for user, row in store.all_grants(conn):
        rule = parse_rule(row.rule)
        if not rule.matches(RBAC_MANAGE, "*"):
            continue
        allow, deny = holders.get(user, (False, False))
        holders[user] = (allow or rule.effect is Effect.ALLOW, deny or rule.effect is Effect.DENY)
    if not any(allow and not deny for allow, deny in holders.values()):
        raise Conflict(f"Removing {removed} would leave nobody with rbac.manage: {advice}")


@dataclass(frozen=True, slots=True)
class Me:
    user: str | None
    rbac_enabled: bool
    system_admin: bool
    roles: list[str]
    permissions: list[str]
    rules: list[str]
    group_roles: list[tuple[str, str]] = field(default_factory=list)  # (group, role)


def me(ctx: ServiceContext, principal: Principal) -> Me:
    with ctx.db.read() as conn:
        initialized, _ = store.state(conn)
        if principal.name is None:
            return Me(None, initialized, False, [], [], [])
        grants = store.grants_of(conn, principal.name) + store.group_grants_of(conn, principal.name)
        roles = store.roles_of(conn, principal.name)
        group_roles = store.group_roles_of(conn, principal.name)
        if principal.idp_groups:  # the access groups of their IdP groups (no membership rows)
            member_of = {g for g, _role in group_roles}
            named = group_store.groups_named(conn, sorted(principal.idp_groups))
            ids = [gid for gid, name in named if name not in member_of]
            grants += store.grants_of_groups(conn, ids)
            group_roles = sorted({*group_roles, *store.group_roles_of_groups(conn, ids)})
    return Me(
        user=principal.name,
        rbac_enabled=initialized,
        system_admin=principal.is_admin,
        roles=roles,
        permissions=sorted({g.permission for g in grants}),
        rules=list(dict.fromkeys(g.rule for g in grants)),
        group_roles=group_roles,
    )


@dataclass(frozen=True, slots=True)
class TestResult:
    decision: Decision
    roles: list[str]
    permissions: list[str]
    steps: tuple[Step, ...] = ()  # every check on the way to `decision` (explanations.explain)
    rbac_enabled: bool = True
    user_found: bool = True  # false: RBAC is initialised and the user has no role
    group_roles: list[tuple[str, str]] = field(default_factory=list)  # (group, role) held


UNIT_ACTIONS = frozenset(
    {Action.UNIT_READ, Action.UNIT_WRITE, Action.UNIT_LOCK, Action.UNIT_DELETE}
)


def test(
    ctx: ServiceContext,
    principal: Principal,
    *,
    user: str,
    action: str,
    resource: str | None,
    prefix: str | None = None,
) -> TestResult:
    """What the server would answer `user` doing `action` on `resource`; changes nothing.

    Decided as with access control on, over the facts the server enforces with: a unit's
    real owner and shares; unit.read without a unit (or on `*`, as OpenTaco's `ls` asks)
    is what `unit ls [prefix]` would show. Testing someone else needs rbac.manage.
    """
    if user != principal.name:
        _manage(ctx, principal)
    if action not in ACTIONS:
        raise Invalid(f"unknown action '{action}': use one of {rule_actions_help()}")
    _check_user(user)
    subject = Principal(name=user, is_admin=user in ctx.admin_users)
    explained = _explain(ctx, principal, subject, action, resource, prefix)
    with ctx.db.read() as conn:
        initialized, _ = store.state(conn)
        roles = store.roles_of(conn, user)
        group_roles = store.group_roles_of(conn, user)
        grants = facts_for(replace(ctx, enforce=True), conn, subject).rules.grants
    name = _rule_name(action, resource)
    applicable = sorted(
        {g.permission for g in grants if g.rule.matches(action, name)}
        if name is not None
        else {g.permission for g in grants if g.rule.covers_action(action)}
    )
    found = bool(roles) or bool(group_roles) or not initialized
    decision = explained.decision
    if not found and not decision.allowed:  # no role, so no rule: a mistyped name shows here
        decision = decision._replace(reason=_not_found(user))
    return TestResult(decision, roles, applicable, explained.steps, initialized, found, group_roles)


def _rule_name(action: str, resource: str | None) -> str | None:
    """The name rules are matched against for `rbac test` (None: a listing, any name)."""
    if action == RBAC_MANAGE:
        return RBAC_RESOURCE.name
    if action == Action.UNIT_READ and resource in (None, "*"):
        return None
    if resource is not None and action in UNIT_ACTIONS:
        return normalize_path(resource)
    return resource


def _not_found(user: str) -> str:
    return (
        f"user not found: '{user}' has no roles assigned; check the user name or e-mail "
        "(taco rbac user list shows who has roles)"
    )


def _explain(
    ctx: ServiceContext,
    principal: Principal,
    subject: Principal,
    action: str,
    resource: str | None,
    prefix: str | None,
) -> Explanation:
    if action == RBAC_MANAGE:
        with ctx.db.read() as conn:
            facts = facts_for(replace(ctx, enforce=True), conn, subject)
        return explain(subject, action, RBAC_RESOURCE, facts=facts, enforce=True)
    if action == Action.UNIT_READ and resource in (None, "*"):
        return unit_access.explain_listing(ctx, subject, prefix)
    if prefix is not None:
        raise Invalid(f"a prefix goes with {Action.UNIT_READ} and no resource (unit ls)")
    if resource is None:
        raise Invalid(f"{action} needs a resource: a unit path (or a workflow's owner/name)")
    if action in UNIT_ACTIONS:
        return unit_access.explain_unit(ctx, principal, subject, resource, action)
    # Other rule actions name a workflow by `owner/name`: their rules decide.
    kind = "workflow" if action.startswith("workflow.") else "unit"
    with ctx.db.read() as conn:
        facts = facts_for(replace(ctx, enforce=True), conn, subject)
    target = Resource(kind=kind, id=resource, name=resource)
    return explain(subject, action, target, facts=facts, enforce=True)
