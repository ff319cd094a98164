"""`taco rbac`: permissions, roles, and their assignments to users and access groups (`rbac
test` is in rbac_test.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from teamgate.cli.common import answer, examples
from teamgate.cli.taco.common import (
    AliasGroup,
    Options,
    alias,
    command,
    fields_table,
    listing,
    pass_options,
    when,
)
from teamgate.cli.taco.rbac_test import rbac_test
from teamgate.domain.actions import rule_actions_help

if TYPE_CHECKING:
    from teamgate.client.taco import TacoClient


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "taco rbac init",
        'taco rbac permission create dev-access "Developer Access" \\',
        '    --rule "allow:unit.read,unit.write,unit.lock:dev/*"',
        "taco rbac role create developer Developer",
        "taco rbac role assign-permission developer dev-access",
        "taco rbac user assign bob@example.com developer",
        "taco rbac group assign data-team developer",
        "taco rbac test bob@example.com push dev/app",
    ),
)
def rbac() -> None:
    """Role-based access control: permissions, roles, user and group assignments."""


rbac.add_command(rbac_test)


@rbac.command("init")
@command
@pass_options
def rbac_init(opts: Options) -> None:
    """Create the built-in admin and default roles and make you the RBAC administrator."""
    answer(
        opts,
        lambda client: client.rbac_init(),
        lambda result: (
            "RBAC system initialized successfully!\n"
            f"Admin role assigned to: {result.get('admin')}\n"
            "Default permissions and roles created."
        ),
    )


@rbac.command("me")
@command
@pass_options
def rbac_me(opts: Options) -> None:
    """Show your roles, permissions and rules."""
    answer(opts, lambda client: client.rbac_me(), _me_text)


def _group_roles(held: list[dict[str, str]]) -> list[str]:
    """`role (group g)` for each role held through an access group."""
    return [f"{g['role']} (group {g['group']})" for g in held]


def _me_text(me: dict[str, Any]) -> str:
    enabled = "yes" if me.get("rbac_enabled") else "no (taco rbac init)"
    return fields_table(
        [
            ("User", me.get("subject")),
            ("RBAC enabled", enabled),
            ("System administrator", "yes" if me.get("system_admin") else "no"),
            ("Roles", me.get("roles") or []),
            ("Group roles", _group_roles(me.get("group_roles") or [])),
            ("Permissions", me.get("permissions") or []),
            ("Rules", "; ".join(me.get("rules") or []) or "-"),
        ]
    )


@rbac.group(
    "permission",
    cls=AliasGroup,
    epilog=examples(
        'taco rbac permission create dev-access "Developer Access" \\',
        '    --rule "allow:unit.read,unit.write,unit.lock:dev/*"',
        'taco rbac permission create no-delete "No Delete" --rule "deny:unit.delete:*"',
        "taco rbac permission list",
        "taco rbac permission delete no-delete",
    ),
)
def rbac_permission() -> None:
    """Permissions: named lists of effect:actions:resources rules."""


@rbac_permission.command(
    "create",
    epilog=examples(
        'taco rbac permission create dev-access "Developer Access" "dev units" \\',
        '    --rule "allow:unit.read,unit.write,unit.lock:dev/*"',
        'taco rbac permission create ops Ops --rule "allow:*:prod/*" \\',
        '    --rule "deny:unit.delete:prod/*"',
    ),
)
@click.argument("permission_id")
@click.argument("name")
@click.argument("description", required=False)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    required=True,
    help="effect:actions:resources, e.g. allow:unit.read,unit.write,unit.lock:dev/* "
    f"(repeatable; effect allow or deny; actions {rule_actions_help()}).",
)
@command
@pass_options
def permission_create(
    opts: Options,
    permission_id: str,
    name: str,
    description: str | None,
    rules: tuple[str, ...],
) -> None:
    """Create a permission from one or more rules."""
    answer(
        opts,
        lambda c: c.create_permission(
            permission_id, name=name, description=description, rules=list(rules)
        ),
        lambda created: f"Permission '{created['id']}' created successfully",
    )


@rbac_permission.command("list")
@command
@pass_options
def permission_list(opts: Options) -> None:
    """List permissions with their rules."""
    headers = ("ID", "NAME", "DESCRIPTION", "RULES", "CREATED")

    def row(p: dict[str, Any]) -> tuple[Any, ...]:
        rules = "; ".join(p["rules"])
        return (p["id"], p["name"], p.get("description"), rules, when(p["created_at"]))

    answer(opts, lambda c: c.list_permissions(), listing(headers, row, "permission"))


@rbac_permission.command("delete")
@click.argument("permission_id")
@command
@pass_options
def permission_delete(opts: Options, permission_id: str) -> None:
    """Delete a permission (and remove it from every role)."""
    answer(
        opts,
        lambda c: c.delete_permission(permission_id),
        lambda _: f"Permission '{permission_id}' deleted successfully",
    )


alias(rbac_permission, "delete", "rm")
alias(rbac_permission, "list", "ls")


@rbac.group(
    "role",
    cls=AliasGroup,
    epilog=examples(
        'taco rbac role create developer Developer "Developer role"',
        "taco rbac role assign-permission developer dev-access",
        "taco rbac role revoke-permission developer dev-access",
        "taco rbac role list",
    ),
)
def rbac_role() -> None:
    """Roles: sets of permissions given to users and access groups."""


@rbac_role.command(
    "create",
    epilog=examples(
        'taco rbac role create developer Developer "Developer role"',
        "taco rbac role assign-permission developer dev-access",
    ),
)
@click.argument("role_id")
@click.argument("name")
@click.argument("description", required=False)
@command
@pass_options
def role_create(opts: Options, role_id: str, name: str, description: str | None) -> None:
    """Create a role (then give it permissions with assign-permission)."""
    answer(
        opts,
        lambda c: c.create_role(role_id, name=name, description=description),
        lambda created: f"Role {created['id']} created successfully: {created['name']}",
    )


@rbac_role.command("list")
@command
@pass_options
def role_list(opts: Options) -> None:
    """List roles with their permissions."""
    headers = ("ID", "NAME", "DESCRIPTION", "PERMISSIONS", "CREATED")

    def row(r: dict[str, Any]) -> tuple[Any, ...]:
        permissions = ", ".join(r["permissions"])
        return (r["id"], r["name"], r.get("description"), permissions, when(r["created_at"]))

    answer(opts, lambda c: c.list_roles(), listing(headers, row, "role"))


@rbac_role.command("delete")
@click.argument("role_id")
@command
@pass_options
def role_delete(opts: Options, role_id: str) -> None:
    """Delete a role (and take it away from every user)."""
    answer(opts, lambda c: c.delete_role(role_id), lambda _: f"Role {role_id} deleted successfully")


@rbac_role.command(
    "assign-permission",
    epilog=examples(
        "taco rbac role assign-permission developer dev-access",
        "taco rbac role list",
    ),
)
@click.argument("role_id")
@click.argument("permission_id")
@command
@pass_options
def role_assign_permission(opts: Options, role_id: str, permission_id: str) -> None:
    """Add a permission to a role."""
    answer(
        opts,
        lambda c: c.assign_permission(role_id, permission_id),
        lambda _: f"Permission '{permission_id}' assigned to role '{role_id}' successfully",
    )


@rbac_role.command("revoke-permission")
@click.argument("role_id")
@click.argument("permission_id")
@command
@pass_options
def role_revoke_permission(opts: Options, role_id: str, permission_id: str) -> None:
    """Remove a permission from a role."""
    answer(
        opts,
        lambda c: c.revoke_permission(role_id, permission_id),
        lambda _: f"Permission '{permission_id}' revoked from role '{role_id}' successfully",
    )


alias(rbac_role, "assign-permission", "assign-policy")
alias(rbac_role, "delete", "rm")
alias(rbac_role, "list", "ls")


@rbac.group(
    "user",
    cls=AliasGroup,
    epilog=examples(
        "taco rbac user assign bob@example.com developer",
        "taco rbac user unassign bob@example.com developer",
        "taco rbac user list",
    ),
)
def rbac_user() -> None:
    """Give users (by user name or e-mail) roles."""


@rbac_user.command(
    "assign",
    epilog=examples(
        "taco rbac user assign bob@example.com developer",
        "taco rbac test bob@example.com push dev/app",
    ),
)
@click.argument("email")
@click.argument("role_id")
@command
@pass_options
def user_assign(opts: Options, email: str, role_id: str) -> None:
    """Give a user a role."""
    answer(
        opts,
        lambda c: c.assign_role(email, role_id),
        lambda result: (
            f"Role {role_id} assigned to {email}"
            if result.get("changed", True)
            else f"Role {role_id} was already assigned to {email}"
        ),
    )


@rbac_user.command("unassign")
@click.argument("email")
@click.argument("role_id")
@command
@pass_options
def user_unassign(opts: Options, email: str, role_id: str) -> None:
    """Take a role away from a user."""
    answer(
        opts,
        lambda c: c.revoke_role(email, role_id),
        lambda _: f"Role {role_id} revoked from {email}",
    )


@rbac_user.command("list")
@command
@pass_options
def user_list(opts: Options) -> None:
    """List users and their roles."""
    headers = ("SUBJECT", "EMAIL", "ROLES", "UPDATED")

    def row(u: dict[str, Any]) -> tuple[Any, ...]:
        return (u["subject"], u["email"], ", ".join(u["roles"]), when(u.get("updated_at")))

    answer(opts, lambda c: c.list_users(), listing(headers, row, "user assignment"))


alias(rbac_user, "unassign", "revoke")
alias(rbac_user, "list", "ls")


@rbac.group(
    "group",
    cls=AliasGroup,
    epilog=examples(
        "taco rbac group assign data-team developer",
        "taco rbac group list",
        "taco rbac group revoke data-team developer",
    ),
)
def rbac_group() -> None:
    """Give access groups (by name) roles: every member holds them while a member.

    Members are managed with `torc access-groups add-user` and `remove-user`; a member who
    leaves the group, or a role revoked from it, stops counting within a second. Deny rules
    still win, and `taco rbac test --explain` names the group a rule came through. Whoever
    administers a group chooses who holds its roles.
    """


@rbac_group.command(
    "assign",
    epilog=examples(
        "taco rbac group assign data-team developer",
        "taco rbac test bob@example.com push dev/app   # bob is in data-team",
        "taco -o json rbac group assign data-team developer",
    ),
)
@click.argument("group")
@click.argument("role_id")
@command
@pass_options
def group_assign(opts: Options, group: str, role_id: str) -> None:
    """Give every member of GROUP a role.

    Members hold ROLE_ID while they are members; an error if GROUP already has it.
    GROUP is the access group's name (torc access-groups list).
    """
    answer(
        opts,
        lambda c: c.assign_group_role(group, role_id),
        lambda _: f"Role {role_id} assigned to group {group}",
    )


@rbac_group.command(
    "revoke",
    epilog=examples(
        "taco rbac group revoke data-team developer",
        "taco rbac group list",
    ),
)
@click.argument("group")
@click.argument("role_id")
@command
@pass_options
def group_revoke(opts: Options, group: str, role_id: str) -> None:
    """Take a role away from GROUP (and so from its members)."""
    answer(
        opts,
        lambda c: c.revoke_group_role(group, role_id),
        lambda _: f"Role {role_id} revoked from group {group}",
    )


@rbac_group.command(
    "list",
    epilog=examples(
        "taco rbac group list",
        "taco -o json rbac group list | jq -r '.[] | \"\\(.group) \\(.role_id)\"'",
    ),
)
@command
@pass_options
def group_list(opts: Options) -> None:
    """List the roles given to access groups.

    One row per group and role, with who assigned it and when.
    """
    headers = ("GROUP", "ROLE", "ASSIGNED BY", "ASSIGNED")

    def row(g: dict[str, Any]) -> tuple[Any, ...]:
        return (g["group"], g["role_id"], g.get("created_by") or "-", when(g["created_at"]))

    answer(opts, _all_group_roles, listing(headers, row, "group role"))


def _all_group_roles(client: TacoClient) -> list[Any]:
    """Every page of `GET /v1/rbac/groups`, in order."""
    items: list[Any] = []
    while True:
        page = client.list_group_roles(offset=len(items))
        items.extend(page["items"])
        if not page["has_more"] or not page["items"]:
            return items


alias(rbac_group, "revoke", "unassign")
alias(rbac_group, "list", "ls")
