"""`torc workflows`: create, list, show and delete workflows."""

from __future__ import annotations

import sys
from typing import Any

import click

from teamgate.cli.common import answer, examples, warn
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options


@click.group(
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
    warn(created)
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

    def text(items: list[dict[str, Any]]) -> str:
        if not items:
            return "No workflows found"
        rows = [(w["id"], w["name"], w.get("description"), w["user"]) for w in items]
        return render_table(("ID", "Name", "Description", "User"), rows)

    answer(opts, lambda client: client.list_workflows(), text)


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
        noun = "workflow" if len(workflow_ids) == 1 else "workflows"
        click.confirm(f"Delete {noun} {', '.join(map(str, workflow_ids))}?", abort=True)
    deleted = []
    with opts.client() as client:
        for workflow_id in workflow_ids:
            deleted.append(client.delete_workflow(workflow_id))
    if opts.json:
        echo_json(deleted)
    else:
        for w in deleted:
            click.echo(f"Deleted workflow {w['id']} ({w['name']}, owner {w['user']})")
