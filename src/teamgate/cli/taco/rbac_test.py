"""`taco rbac test`: would a user be allowed an operation on a unit, and why? Changes nothing."""

from __future__ import annotations

import functools
from typing import Any

import click

from teamgate.cli.common import answer, examples
from teamgate.cli.explain import step_lines
from teamgate.cli.taco.common import Options, command, pass_options

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


@click.command(
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
    asked = f"{operation} {unit}" if unit else operation
    text = functools.partial(_test_text, email=email, asked=asked, explain=explain)
    action = _operation(operation, unit)
    if OPERATIONS[operation.lower()][1] is None:  # ls: what unit ls [prefix] would show
        answer(opts, lambda c: c.rbac_test(email, action, None, prefix=unit), text)
    else:
        answer(opts, lambda c: c.rbac_test(email, action, unit or "*"), text)


def _test_text(result: dict[str, Any], *, email: str, asked: str, explain: bool) -> str:
    lines = [f"Testing operation for user: {email}", f"Operation: {asked}"]
    lines.append(f"Result: {result['status']}")
    if result.get("reason"):
        lines.append(f"Reason: {result['reason']}")
    lines.append(f"User roles: {_roles(result)}")
    held = result.get("group_roles") or []
    if held:
        lines.append("Group roles: " + ", ".join(f"{g['role']} (group {g['group']})" for g in held))
    permissions = result.get("applicable_permissions") or []
    lines.append(f"Applicable permissions: {', '.join(permissions) or 'none'}")
    steps = result.get("steps") or []
    if explain and steps:
        lines.append("Decision path: checked in this order")
        lines.extend(step_lines(steps))
    return "\n".join(lines)


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
