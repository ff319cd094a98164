"""`torc access`: would a user be allowed to use a workflow, and why (`check`, `explain`);
who can reach it (`who`)."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import answer, examples
from teamgate.cli.output import echo_json
from teamgate.cli.torc.common import Options, command, pass_options

EXPLAIN_ACTIONS = {"read": "workflow.read", "write": "workflow.write", "delete": "workflow.delete"}


@click.group(
    epilog=examples(
        "torc access check 1 carol",
        "torc access explain 1 carol",
        "torc access explain 1 carol --action delete",
        "torc access who 1",
    )
)
def access() -> None:
    """Check who may access what, and why."""


@access.command(
    "check", epilog=examples("torc access check 1 carol", "torc access check 1 carol -f json")
)
@click.argument("workflow_id", type=int)
@click.argument("user_name")
@command
@pass_options
def access_check(opts: Options, workflow_id: int, user_name: str) -> None:
    """Would USER_NAME be allowed to read the workflow, and why?"""

    def text(result: dict[str, Any]) -> str:
        verdict = "allowed" if result["has_access"] else "denied"
        return f"User '{user_name}' → workflow {workflow_id}: {verdict} ({result['reason']})"

    answer(opts, lambda client: client.check_access(workflow_id, user_name), text)


@access.command(
    "explain",
    epilog=examples(
        "torc access explain 1 carol",
        "torc access explain 1 carol --action delete",
        "torc access explain 1 carol -f json | jq '.steps[] | select(.matched)'",
    ),
)
@click.argument("workflow_id", metavar="WORKFLOW_ID")
@click.argument("user_name")
@click.option(
    "-a",
    "--action",
    type=click.Choice(list(EXPLAIN_ACTIONS)),
    default="read",
    show_default=True,
    help="What USER_NAME would do to the workflow.",
)
@command
@pass_options
def access_explain(opts: Options, workflow_id: str, user_name: str, action: str) -> None:
    """Why may (or may not) USER_NAME use the workflow? Every check, in order.

    WORKFLOW_ID comes first, as in `torc access check` and the API path
    (/access_explain/{workflow_id}/{user_name}).

    Shows whether access control is on, who asks, the RBAC deny rules that match (with
    permission and role), the owner, the groups the workflow is shared with and which of them
    USER_NAME is in, the allow rules that match, then the decision and its reason
    (✓ grants, ✗ a deny rule refuses, · nothing found). Your own access, or anyone's for
    system administrators.
    """
    from teamgate.cli.explain import decision_line, step_lines

    number, user_name = _workflow_then_user(workflow_id, user_name)
    with opts.client() as client:
        result = client.explain_access(number, user_name, action=EXPLAIN_ACTIONS[action])
    if opts.json:
        echo_json(result)
        return
    click.echo(f"User '{user_name}' → {result['action']} on workflow {number}:")
    click.echo("\n".join(step_lines(result["steps"])))
    click.echo(decision_line(result))


@access.command(
    "who",
    epilog=examples(
        "torc access who 1",
        "torc access who 1 -f json | jq -r '.users[] | select(.actions != []) | .user'",
    ),
)
@click.argument("workflow_id", type=int)
@command
@pass_options
def access_who(opts: Options, workflow_id: int) -> None:
    """Who can reach the workflow, and how: every user and group.

    Lists the groups the workflow is shared with (and their levels), every user who may read,
    change, delete or share it with what allows each action (owner, a group and its level,
    an RBAC rule and its role), the deny rules that take actions from someone, and what
    system administrators may do as such. The server asks its own access decision about each
    candidate, so this is what their requests would get. For the workflow's owner, its
    admin-level groups, RBAC managers and system administrators.
    """
    from teamgate.cli.reach import reach_text

    answer(opts, lambda client: client.who_can_reach(workflow_id), reach_text)


def _workflow_then_user(first: str, second: str) -> tuple[int, str]:
    """(workflow id, user name) from WORKFLOW_ID USER_NAME; the old order USER_NAME
    WORKFLOW_ID still works (with a note) when only the second argument is a number."""
    if _is_id(first):
        return int(first), second
    if _is_id(second):
        click.echo(
            f"Note: 'torc access explain USER_NAME WORKFLOW_ID' is deprecated; the workflow "
            f"comes first, as in 'torc access check': torc access explain {second} {first}",
            err=True,
        )
        return int(second), first
    raise click.BadParameter(f"'{first}' is not a workflow ID (a number)", param_hint="WORKFLOW_ID")


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit()
