"""`torc access-groups`: access groups (teams), their members and the workflows shared with them."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import access_option, answer, examples, warn
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options


@click.group(
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


def _echo_groups(opts: Options, groups: list[dict[str, Any]], *, empty: str) -> None:
    """`groups` as JSON, else as a table, or the line `empty` when there are none."""
    if opts.json:
        echo_json(groups)
    elif not groups:
        click.echo(empty)
    else:
        rows = [(g["id"], g["name"], g.get("description")) for g in groups]
        click.echo(render_table(("ID", "Name", "Description"), rows))


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
    _echo_groups(opts, groups, empty="No access groups found")


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


# -- members -------------------------------------------------------------------------------


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
    warn(member)
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
    answer(
        opts,
        lambda client: client.remove_member(group_id, user_name),
        lambda _: f"Successfully removed user '{user_name}' from group {group_id}",
    )


@access_groups.command("list-members", epilog=examples("torc access-groups list-members 1"))
@click.argument("group_id", type=int)
@command
@pass_options
def groups_list_members(opts: Options, group_id: int) -> None:
    """List a group's members and their roles."""

    def text(members: list[dict[str, Any]]) -> str:
        if not members:
            return f"No members found in group {group_id}"
        rows = [(m["user_name"], m["role"]) for m in members]
        return render_table(("User Name", "Role"), rows)

    answer(opts, lambda client: client.list_members(group_id), text)


@access_groups.command("list-user-groups")
@click.argument("user_name")
@command
@pass_options
def groups_list_user_groups(opts: Options, user_name: str) -> None:
    """List the groups a user belongs to."""
    with opts.client() as client:
        groups = client.list_user_groups(user_name)
    _echo_groups(opts, groups, empty=f"User '{user_name}' is not a member of any groups")


# -- shared workflows ----------------------------------------------------------------------


@access_groups.command(
    "add-workflow",
    epilog=examples(
        "torc access-groups add-workflow 1 2   # share workflow 1 with group 2 (write)",
        "torc access-groups add-workflow 1 2 --access read",
        "torc access-groups list-workflow-groups 1",
    ),
)
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@access_option("workflow")
@command
@pass_options
def groups_add_workflow(opts: Options, workflow_id: int, group_id: int, access: str | None) -> None:
    """Share a workflow with a group, at a level: read, write (the default) or admin.

    Sharing needs the right to share the workflow: its owner, a group it is shared with at
    admin level, an RBAC grant of workflow.share, or a system administrator. Sharing it again
    with another level changes the level.
    """
    with opts.client() as client:
        share = client.add_workflow(workflow_id, group_id, access=access)
    if opts.json:
        echo_json(share)
        return
    if share.get("previous_access"):
        click.echo(
            f"Group {share['group_id']} now has {share['access']} access to workflow "
            f"{share['workflow_id']} (was {share['previous_access']})"
        )
        return
    click.echo("Successfully added workflow to group:")
    click.echo(f"  Workflow ID: {share['workflow_id']}")
    click.echo(f"  Group ID: {share['group_id']}")
    click.echo(f"  Access: {share.get('access', 'write')}")


@access_groups.command("remove-workflow")
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@command
@pass_options
def groups_remove_workflow(opts: Options, workflow_id: int, group_id: int) -> None:
    """Stop sharing a workflow with a group."""
    answer(
        opts,
        lambda client: client.remove_workflow(workflow_id, group_id),
        lambda _: f"Successfully removed workflow {workflow_id} from group {group_id}",
    )


@access_groups.command("list-workflow-groups")
@click.argument("workflow_id", type=int)
@command
@pass_options
def groups_list_workflow_groups(opts: Options, workflow_id: int) -> None:
    """List the groups a workflow is shared with, and each share's level."""
    with opts.client() as client:
        groups = client.list_workflow_groups(workflow_id)
    if opts.json or not groups:
        empty = f"Workflow {workflow_id} is not associated with any groups"
        _echo_groups(opts, groups, empty=empty)
        return
    rows = [(g["id"], g["name"], g.get("access"), g.get("description")) for g in groups]
    click.echo(render_table(("ID", "Name", "Access", "Description"), rows))
