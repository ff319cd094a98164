"""`taco rbac`: permissions, roles and user assignments, and `rbac test` to ask about access."""

from __future__ import annotations

import click

from teamgate.cli.common import examples
from teamgate.cli.explain import step_lines
from teamgate.cli.output import echo_json
from teamgate.cli.taco.common import (
    AliasGroup,
    Options,
    alias,
    command,
    echo_table,
    pass_options,
    when,
)
from teamgate.domain.actions import rule_actions_help


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "taco rbac init",
        'taco rbac permission create dev-access "Developer Access" \\',
        '    --rule "allow:unit.read,unit.write,unit.lock:dev/*"',
        "taco rbac role create developer Developer",
        "taco rbac role assign-permission developer dev-access",
        "taco rbac user assign bob@example.com developer",
        "taco rbac test bob@example.com push dev/app",
    ),
)
def rbac() -> None:
    """Role-based access control: permissions, roles, user assignments."""


@rbac.command("init")
@command
@pass_options
def rbac_init(opts: Options) -> None:
    """Create the built-in admin and default roles and make you the RBAC administrator."""
    with opts.client() as client:
        result = client.rbac_init()
    if opts.json:
        echo_json(result)
        return
    click.echo("RBAC system initialized successfully!")
    click.echo(f"Admin role assigned to: {result.get('admin')}")
    click.echo("Default permissions and roles created.")


@rbac.command("me")
@command
@pass_options
def rbac_me(opts: Options) -> None:
    """Show your roles, permissions and rules."""
    import json

    with opts.client() as client:
        me = client.rbac_me()
    click.echo(json.dumps(me, indent=2, sort_keys=True, ensure_ascii=False))


# operation → (action, needs a unit); `ls`/`list` take an optional prefix, `manage` nothing.
# The page's action names (unit.read, …) are accepted as they are.
OPERATIONS: dict[str, tuple[str, bool | None]] = {
    "read": ("unit.read", True),
    "pull": ("unit.read", True),
    "unit.read": ("unit.read", True),
    "write": ("unit.write", True),
    "push": ("unit.write", True),
    "create": ("unit.write", True),
    "unit.write": ("unit.write", True),
    "lock": ("unit.lock", True),
    "unlock": ("unit.lock", True),
    "unit.lock": ("unit.lock", True),
    "delete": ("unit.delete", True),
    "rm": ("unit.delete", True),
    "unit.delete": ("unit.delete", True),
    "ls": ("unit.read", None),
    "list": ("unit.read", None),
    "manage": ("rbac.manage", False),
    "rbac.manage": ("rbac.manage", False),
}


def _operation(operation: str, unit: str | None) -> str:
    """The action that `rbac test` asks about; a usage error when the operation makes no sense."""
    known = OPERATIONS.get(operation.lower())
    if known is None:
        raise click.UsageError(
            f"unknown operation '{operation}'; use one of: {', '.join(OPERATIONS)}"
        )
    action, needs_unit = known
    if needs_unit and not unit:
        raise click.UsageError(
            f"operation '{operation}' needs a unit path, e.g. "
            f"'taco rbac test bob@example.com {operation} myapp/prod' "
            "('ls' asks what unit ls would show)"
        )
    if needs_unit is False and unit:
        raise click.UsageError(f"operation '{operation}' takes no unit")
    return action


@rbac.command(
    "test",
    epilog=examples(
        "taco rbac test bob@example.com pull dev/app",
        "taco rbac test bob@example.com unit.delete prod/db",
        "taco rbac test bob@example.com create dev/new",
        "taco rbac test bob@example.com ls",
        "taco rbac test bob@example.com ls dev",
        "taco rbac test alice@example.com manage",
        "taco rbac test bob@example.com rm dev/app --explain",
        "taco -o json rbac test bob@example.com push dev/app | jq .steps",
    ),
)
@click.argument("email")
@click.argument("operation")
@click.argument("unit", required=False)
@click.option(
    "-e",
    "--explain",
    is_flag=True,
    help="Also print every check the server made, in order (always in -o json as 'steps').",
)
@command
@pass_options
def rbac_test(opts: Options, email: str, operation: str, unit: str | None, explain: bool) -> None:
    """Would EMAIL be allowed OPERATION on UNIT, and why? Changes nothing.

    OPERATION: read|pull, write|push|create, lock|unlock, delete|rm (these need UNIT),
    ls|list [PREFIX] (would unit ls show EMAIL anything?) or manage; or the page's action
    names unit.read, unit.write, unit.lock, unit.delete, rbac.manage. The answer uses the
    unit's real owner and shares, as the server does; a unit you may not read is answered
    without them. A user with no role is reported as "user not found" (check the e-mail).
    With --explain, ends with the decision path as `torc access explain` prints it: the
    deny rules and allow rules that match (with their permission and role), owner and
    groups (✓ grants, ✗ a deny rule refuses, · nothing found).
    """
    action = _operation(operation, unit)
    listing = OPERATIONS[operation.lower()][1] is None
    with opts.client() as client:
        if listing:
            result = client.rbac_test(email, action, None, prefix=unit)
        else:
            result = client.rbac_test(email, action, unit or "*")
    if opts.json:
        echo_json(result)
        return
    click.echo(f"Testing operation for user: {email}")
    click.echo(f"Operation: {operation}{f' {unit}' if unit else ''}")
    click.echo(f"Result: {result['status']}")
    if result.get("reason"):
        click.echo(f"Reason: {result['reason']}")
    click.echo(f"User roles: {_roles(result)}")
    permissions = result.get("applicable_permissions") or []
    click.echo(f"Applicable permissions: {', '.join(permissions) or 'none'}")
    steps = result.get("steps") or []
    if explain and steps:
        click.echo("Decision path: checked in this order")
        click.echo("\n".join(step_lines(steps)))


def _roles(result: dict[str, object]) -> str:
    roles = result.get("user_roles") or []
    assert isinstance(roles, list)
    if roles:
        return ", ".join(map(str, roles))
    if result.get("rbac_enabled") is False:
        return "none (RBAC is not initialised: taco rbac init)"
    if result.get("user_found") is False:
        return "none (user not found: no roles assigned)"
    return "none"


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
    with opts.client() as client:
        created = client.create_permission(
            permission_id, name=name, description=description, rules=list(rules)
        )
    if opts.json:
        echo_json(created)
    else:
        click.echo(f"Permission '{created['id']}' created successfully")


@rbac_permission.command("list")
@command
@pass_options
def permission_list(opts: Options) -> None:
    """List permissions with their rules."""
    with opts.client() as client:
        items = client.list_permissions()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No permissions found")
    else:
        rows = (
            (
                p["id"],
                p["name"],
                p.get("description"),
                "; ".join(p["rules"]),
                when(p["created_at"]),
            )
            for p in items
        )
        headers = ("ID", "NAME", "DESCRIPTION", "RULES", "CREATED")
        echo_table(headers, rows, f"Total: {len(items)} permissions")


@rbac_permission.command("delete")
@click.argument("permission_id")
@command
@pass_options
def permission_delete(opts: Options, permission_id: str) -> None:
    """Delete a permission (and remove it from every role)."""
    with opts.client() as client:
        result = client.delete_permission(permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' deleted successfully")


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
    """Roles: sets of permissions given to users."""


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
    with opts.client() as client:
        created = client.create_role(role_id, name=name, description=description)
    if opts.json:
        echo_json(created)
    else:
        click.echo(f"Role {created['id']} created successfully: {created['name']}")


@rbac_role.command("list")
@command
@pass_options
def role_list(opts: Options) -> None:
    """List roles with their permissions."""
    with opts.client() as client:
        items = client.list_roles()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No roles found")
    else:
        rows = (
            (
                r["id"],
                r["name"],
                r.get("description"),
                ", ".join(r["permissions"]),
                when(r["created_at"]),
            )
            for r in items
        )
        headers = ("ID", "NAME", "DESCRIPTION", "PERMISSIONS", "CREATED")
        echo_table(headers, rows, f"Total: {len(items)} roles")


@rbac_role.command("delete")
@click.argument("role_id")
@command
@pass_options
def role_delete(opts: Options, role_id: str) -> None:
    """Delete a role (and take it away from every user)."""
    with opts.client() as client:
        result = client.delete_role(role_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Role {role_id} deleted successfully")


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
    with opts.client() as client:
        result = client.assign_permission(role_id, permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' assigned to role '{role_id}' successfully")


@rbac_role.command("revoke-permission")
@click.argument("role_id")
@click.argument("permission_id")
@command
@pass_options
def role_revoke_permission(opts: Options, role_id: str, permission_id: str) -> None:
    """Remove a permission from a role."""
    with opts.client() as client:
        result = client.revoke_permission(role_id, permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' revoked from role '{role_id}' successfully")


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
    with opts.client() as client:
        result = client.assign_role(email, role_id)
    if opts.json:
        echo_json(result)
    elif result.get("changed", True):
        click.echo(f"Role {role_id} assigned to {email}")
    else:
        click.echo(f"Role {role_id} was already assigned to {email}")


@rbac_user.command("unassign")
@click.argument("email")
@click.argument("role_id")
@command
@pass_options
def user_unassign(opts: Options, email: str, role_id: str) -> None:
    """Take a role away from a user."""
    with opts.client() as client:
        result = client.revoke_role(email, role_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Role {role_id} revoked from {email}")


@rbac_user.command("list")
@command
@pass_options
def user_list(opts: Options) -> None:
    """List users and their roles."""
    with opts.client() as client:
        items = client.list_users()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No user assignments found")
    else:
        rows = (
            (u["subject"], u["email"], ", ".join(u["roles"]), when(u.get("updated_at")))
            for u in items
        )
        headers = ("SUBJECT", "EMAIL", "ROLES", "UPDATED")
        echo_table(headers, rows, f"Total: {len(items)} user assignments")


alias(rbac_user, "unassign", "revoke")
alias(rbac_user, "list", "ls")
