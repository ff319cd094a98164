"""`torc`: the Torc command-line client (workflows and access groups).

The client (httpx), spec parsing (PyYAML) and the stdlib modules that click does not load
anyway are imported inside the commands that use them, so `torc --help` starts fast;
tests/cli/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from teamgate import __version__
from teamgate.cli import audit as audit_cli
from teamgate.cli.common import FORMAT, examples, leaf_command, skip_httpx_cli
from teamgate.cli.completion import completion_command
from teamgate.cli.output import echo_json, render_table

if TYPE_CHECKING:
    from teamgate.client.torc import TorcClient

EPILOG = """
\b
Environment:
  TORC_API_URL    server URL (default http://localhost:8080/torc-service/v1)
  TORC_USERNAME   user name (default: $USER, then $USERNAME)
  TORC_PASSWORD   password (sent only when set; prefer this or --prompt-password)
\b
Examples:
  torc ping
  torc access-groups create ml-team --description "Machine Learning Team"
  torc workflows create spec.yaml -f json | jq -r '.id'
  torc -f json workflows list
  torc access explain carol 1
  eval "$(torc completion bash)"
"""


class Options:
    """The group's options, handed to every command."""

    def __init__(
        self, *, url: str, username: str | None, password: str | None, format: str = "table"
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.format = format

    def client(self) -> TorcClient:
        from teamgate.client.torc import TorcClient

        auth = (self.username or "", self.password) if self.password is not None else None
        return TorcClient(self.url, auth=auth)

    @property
    def json(self) -> bool:
        return self.format == "json"


def _default_user() -> str | None:
    return os.environ.get("USER") or os.environ.get("USERNAME")


def _store_format(ctx: click.Context, value: str) -> None:
    ctx.find_object(Options).format = value  # type: ignore[union-attr]


command = leaf_command("-f", "--format", apply=_store_format)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="TORC_API_URL",
    default="http://localhost:8080/torc-service/v1",
    show_default=True,
    help="Torc API URL [env: TORC_API_URL].",
)
@click.option(
    "--username", envvar="TORC_USERNAME", help="User name [env: TORC_USERNAME; default $USER]."
)
@click.option(
    "--password",
    envvar="TORC_PASSWORD",
    show_envvar=False,
    help="Password [env: TORC_PASSWORD]. Visible to other local users; "
    "prefer the env var or --prompt-password.",
)
@click.option("--prompt-password", is_flag=True, help="Ask for the password (no echo).")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=FORMAT,
    default="table",
    help="Output format (table or json); also accepted after the subcommand.",
)
# the version string, not package_name: looking it up in the metadata costs ~45 ms
@click.version_option(__version__, prog_name="torc (teamgate)")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str,
    username: str | None,
    password: str | None,
    prompt_password: bool,
    output_format: str,
) -> None:
    """Torc client: workflows and team access groups."""
    source = ctx.get_parameter_source("password")
    if password is not None and source is click.core.ParameterSource.COMMANDLINE:
        click.echo(
            "Warning: --password is visible to other users in the process list; "
            "prefer TORC_PASSWORD or --prompt-password.",
            err=True,
        )
    if prompt_password:
        password = click.prompt("Password", hide_input=True, err=True)
    ctx.obj = Options(
        url=url,
        username=username or _default_user(),
        password=password,
        format=output_format.lower(),
    )


pass_options = click.make_pass_decorator(Options)


@cli.command()
@command
@pass_options
def ping(opts: Options) -> None:
    """Check that the server answers."""
    import json

    with opts.client() as client:
        click.echo(json.dumps(client.ping()))


# -- workflows -------------------------------------------------------------------


@cli.group(
    epilog=examples(
        "torc workflows create ml_training.yaml",
        "torc workflows list",
        "torc workflows get 1",
        "torc -f json workflows list | jq -r '.[].name'",
        "torc workflows delete 1 2 --yes",
    )
)
def workflows() -> None:
    """Create, list, show and delete workflows."""


@workflows.command(
    "create",
    epilog=examples(
        "torc workflows create ml_training.yaml",
        "torc workflows create pipeline.json -f json | jq -r '.id'",
    ),
)
@click.argument("spec_file", type=click.Path(dir_okay=False))
@command
@pass_options
def workflows_create(opts: Options, spec_file: str) -> None:
    """Create a workflow from a YAML or JSON spec file."""
    from pathlib import Path

    from teamgate.cli.specs import load_spec_file

    spec = load_spec_file(Path(spec_file))
    with opts.client() as client:
        created = client.create_workflow_from_spec(spec)
    if opts.json:
        echo_json(created)
    else:
        click.echo(f"Created workflow {created['id']}")


@workflows.command(
    "list",
    epilog=examples("torc workflows list", "torc workflows list -f json | jq -r '.[].id'"),
)
@command
@pass_options
def workflows_list(opts: Options) -> None:
    """List the workflows you may read (yours and those shared with your groups)."""
    with opts.client() as client:
        items = client.list_workflows()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No workflows found")
    else:
        rows = [(w["id"], w["name"], w.get("description"), w["user"]) for w in items]
        click.echo(render_table(("ID", "Name", "Description", "User"), rows))


@workflows.command("get", epilog=examples("torc workflows get 1", "torc workflows get 1 -f json"))
@click.argument("workflow_id", type=int)
@command
@pass_options
def workflows_get(opts: Options, workflow_id: int) -> None:
    """Show one workflow."""
    with opts.client() as client:
        found = client.get_workflow(workflow_id)
    if opts.json:
        echo_json(found)
        return
    rows = [
        ("ID", found["id"]),
        ("Name", found["name"]),
        ("User", found["user"]),
        ("Description", found.get("description")),
    ]
    click.echo(render_table(("Field", "Value"), rows))


@workflows.command(
    "delete", epilog=examples("torc workflows delete 3", "torc workflows delete 3 4 5 --yes")
)
@click.argument("workflow_ids", type=int, nargs=-1, required=True)
@click.option("-y", "--yes", "--no-prompts", "yes", is_flag=True, help="Do not ask to confirm.")
@command
@pass_options
def workflows_delete(opts: Options, workflow_ids: tuple[int, ...], yes: bool) -> None:
    """Delete workflows (asks first on a terminal)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete workflow(s) {', '.join(map(str, workflow_ids))}?", abort=True)
    deleted = []
    with opts.client() as client:
        for workflow_id in workflow_ids:
            deleted.append(client.delete_workflow(workflow_id))
    if opts.json:
        echo_json(deleted)
    else:
        for w in deleted:
            click.echo(f"Deleted workflow {w['id']} ({w['name']}, owner {w['user']})")


# -- access groups -----------------------------------------------------------------


@cli.group(
    "access-groups",
    epilog=examples(
        'torc access-groups create ml-team --description "Machine Learning Team"',
        "torc access-groups add-user 1 bob",
        "torc access-groups add-workflow 1 2",
        "torc access-groups list-workflow-groups 1",
        "torc access-groups list-user-groups alice",
    ),
)
def access_groups() -> None:
    """Manage access groups (teams) and what is shared with them."""


def _group_table(groups: list[dict[str, Any]]) -> str:
    rows = [(g["id"], g["name"], g.get("description")) for g in groups]
    return render_table(("ID", "Name", "Description"), rows)


def _show_group(title: str, group: dict[str, Any]) -> None:
    click.echo(title)
    click.echo(f"  ID: {group['id']}")
    click.echo(f"  Name: {group['name']}")
    if group.get("description"):
        click.echo(f"  Description: {group['description']}")


@access_groups.command(
    "create",
    epilog=examples(
        'torc access-groups create ml-team --description "Machine Learning Team"',
        "torc access-groups create data-team -f json | jq -r '.id'",
    ),
)
@click.argument("name")
@click.option("-d", "--description", help="What the group is for.")
@command
@pass_options
def groups_create(opts: Options, name: str, description: str | None) -> None:
    """Create a group (system administrators only)."""
    with opts.client() as client:
        group = client.create_group(name, description)
    echo_json(group) if opts.json else _show_group("Successfully created access group:", group)


@access_groups.command(
    "list", epilog=examples("torc access-groups list", "torc access-groups list -f json")
)
@command
@pass_options
def groups_list(opts: Options) -> None:
    """List groups (all for administrators, your own otherwise)."""
    with opts.client() as client:
        groups = client.list_groups()
    if opts.json:
        echo_json(groups)
    else:
        click.echo(_group_table(groups) if groups else "No access groups found")


@access_groups.command("get")
@click.argument("group_id", type=int)
@command
@pass_options
def groups_get(opts: Options, group_id: int) -> None:
    """Show one group."""
    with opts.client() as client:
        group = client.get_group(group_id)
    if opts.json:
        echo_json(group)
    else:
        _show_group("Access group:", group)
        click.echo(f"  Created: {group['created_at']}")


@access_groups.command("delete")
@click.argument("group_id", type=int)
@command
@pass_options
def groups_delete(opts: Options, group_id: int) -> None:
    """Delete a group with its memberships and shares (system administrators only)."""
    with opts.client() as client:
        group = client.delete_group(group_id)
    echo_json(group) if opts.json else _show_group("Successfully deleted access group:", group)


@access_groups.command(
    "add-user",
    epilog=examples(
        "torc access-groups add-user 1 bob",
        "torc access-groups add-user 2 carol --role admin",
    ),
)
@click.argument("group_id", type=int)
@click.argument("user_name")
@click.option(
    "-r",
    "--role",
    type=click.Choice(["member", "admin"]),
    default="member",
    show_default=True,
    help="admin: may manage this group's members.",
)
@command
@pass_options
def groups_add_user(opts: Options, group_id: int, user_name: str, role: str) -> None:
    """Add a user to a group."""
    with opts.client() as client:
        member = client.add_member(group_id, user_name, role)
    if opts.json:
        echo_json(member)
        return
    click.echo("Successfully added user to group:")
    click.echo(f"  User: {member['user_name']}")
    click.echo(f"  Group ID: {member['group_id']}")
    click.echo(f"  Role: {member['role']}")


@access_groups.command("remove-user")
@click.argument("group_id", type=int)
@click.argument("user_name")
@command
@pass_options
def groups_remove_user(opts: Options, group_id: int, user_name: str) -> None:
    """Remove a user from a group."""
    with opts.client() as client:
        member = client.remove_member(group_id, user_name)
    if opts.json:
        echo_json(member)
    else:
        click.echo(f"Successfully removed user '{user_name}' from group {group_id}")


@access_groups.command("list-members", epilog=examples("torc access-groups list-members 1"))
@click.argument("group_id", type=int)
@command
@pass_options
def groups_list_members(opts: Options, group_id: int) -> None:
    """List a group's members and their roles."""
    with opts.client() as client:
        members = client.list_members(group_id)
    if opts.json:
        echo_json(members)
    elif not members:
        click.echo(f"No members found in group {group_id}")
    else:
        rows = [(m["user_name"], m["role"]) for m in members]
        click.echo(render_table(("User Name", "Role"), rows))


@access_groups.command("list-user-groups")
@click.argument("user_name")
@command
@pass_options
def groups_list_user_groups(opts: Options, user_name: str) -> None:
    """List the groups a user belongs to."""
    with opts.client() as client:
        groups = client.list_user_groups(user_name)
    if opts.json:
        echo_json(groups)
    else:
        click.echo(
            _group_table(groups) if groups else f"User '{user_name}' is not a member of any groups"
        )


@access_groups.command(
    "add-workflow",
    epilog=examples(
        "torc access-groups add-workflow 1 2   # share workflow 1 with group 2",
        "torc access-groups list-workflow-groups 1",
    ),
)
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@command
@pass_options
def groups_add_workflow(opts: Options, workflow_id: int, group_id: int) -> None:
    """Share a workflow with a group (owner, system admin or group admin)."""
    with opts.client() as client:
        share = client.add_workflow(workflow_id, group_id)
    if opts.json:
        echo_json(share)
        return
    click.echo("Successfully added workflow to group:")
    click.echo(f"  Workflow ID: {share['workflow_id']}")
    click.echo(f"  Group ID: {share['group_id']}")


@access_groups.command("remove-workflow")
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@command
@pass_options
def groups_remove_workflow(opts: Options, workflow_id: int, group_id: int) -> None:
    """Stop sharing a workflow with a group."""
    with opts.client() as client:
        share = client.remove_workflow(workflow_id, group_id)
    if opts.json:
        echo_json(share)
    else:
        click.echo(f"Successfully removed workflow {workflow_id} from group {group_id}")


@access_groups.command("list-workflow-groups")
@click.argument("workflow_id", type=int)
@command
@pass_options
def groups_list_workflow_groups(opts: Options, workflow_id: int) -> None:
    """List the groups a workflow is shared with."""
    with opts.client() as client:
        groups = client.list_workflow_groups(workflow_id)
    if opts.json:
        echo_json(groups)
    else:
        click.echo(
            _group_table(groups)
            if groups
            else f"Workflow {workflow_id} is not associated with any groups"
        )


@cli.group(
    epilog=examples(
        "torc access check 1 carol",
        "torc access explain carol 1",
        "torc access explain carol 1 --action delete",
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
    with opts.client() as client:
        result = client.check_access(workflow_id, user_name)
    if opts.json:
        echo_json(result)
    else:
        verdict = "allowed" if result["has_access"] else "denied"
        click.echo(f"User '{user_name}' → workflow {workflow_id}: {verdict} ({result['reason']})")


EXPLAIN_ACTIONS = {"read": "workflow.read", "write": "workflow.write", "delete": "workflow.delete"}


@access.command(
    "explain",
    epilog=examples(
        "torc access explain carol 1",
        "torc access explain carol 1 --action delete",
        "torc access explain carol 1 -f json | jq '.steps[] | select(.matched)'",
    ),
)
@click.argument("user_name")
@click.argument("workflow_id", type=int)
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
def access_explain(opts: Options, user_name: str, workflow_id: int, action: str) -> None:
    """Why may (or may not) USER_NAME use the workflow? Every check, in order.

    Shows whether access control is on, who asks, the RBAC deny rules that match (with
    permission and role), the owner, the groups the workflow is shared with and which of them
    USER_NAME is in, the allow rules that match, then the decision and its reason
    (✓ grants, ✗ a deny rule refuses, · nothing found). Your own access, or anyone's for
    system administrators.
    """
    from teamgate.cli.explain import decision_line, step_lines

    with opts.client() as client:
        result = client.explain_access(workflow_id, user_name, action=EXPLAIN_ACTIONS[action])
    if opts.json:
        echo_json(result)
        return
    click.echo(f"User '{user_name}' → {result['action']} on workflow {workflow_id}:")
    click.echo("\n".join(step_lines(result["steps"])))
    click.echo(decision_line(result))


cli.add_command(completion_command("torc"))


# -- audit log -------------------------------------------------------------------


@cli.group(epilog=audit_cli.epilog("torc", "-f"))
def audit() -> None:
    """The audit log: administrative changes, denials, failed logins."""


@audit.command("list", help=audit_cli.HELP, epilog=audit_cli.epilog("torc", "-f"))
@audit_cli.filter_options
@command
@pass_options
def audit_list(opts: Options, /, limit: int, **filters: str | None) -> None:
    with opts.client() as client:
        events = client.list_audit(limit=limit, **audit_cli.filters_of(filters))
    echo_json(events) if opts.json else click.echo(audit_cli.render_events(events))


def main() -> None:
    skip_httpx_cli()
    cli(prog_name="torc")
