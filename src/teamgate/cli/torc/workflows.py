"""`torc workflows`: create, list, show and delete workflows."""

from __future__ import annotations

import sys
from typing import Any

import click

from teamgate.cli.common import answer, examples, warn
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument


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
@workflow_argument
@command
@pass_options
def workflows_get(opts: Options, workflow_id: int | None) -> None:
    """Show one workflow."""
    workflow_id = opts.workflow(workflow_id)
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


@workflows.command(
    "status", epilog=examples("torc workflows status 1", "torc workflows status 1 -f json")
)
@workflow_argument
@command
@pass_options
def workflows_status(opts: Options, workflow_id: int | None) -> None:
    """Show a workflow's run: jobs by status, run id and whether it was canceled."""
    workflow_id = opts.workflow(workflow_id)
    from teamgate.cli.torc.runs import counts_of

    with opts.client() as client:
        summary = client.workflow_status(workflow_id)
        if summary.get("run_id") is None:  # Torc's own servers keep it on the workflow
            summary = {**summary, "run_id": client.get_workflow(workflow_id).get("run_id")}
    run_id = summary["run_id"]
    if opts.json:
        echo_json(summary)
        return
    rows: list[tuple[str, Any]] = [
        ("Run ID", run_id),
        ("Is Canceled", summary.get("is_canceled")),
        ("Is Complete", summary.get("is_complete")),
        ("Total Jobs", summary.get("total_jobs")),
    ]
    rows += [(status, n) for status, n in counts_of(summary).items() if n]
    click.echo(f"Workflow Status for ID {workflow_id}:")
    click.echo(render_table(("Field", "Value"), rows))


@workflows.command(
    "cancel", epilog=examples("torc workflows cancel 1", "torc workflows cancel 1 -f json")
)
@workflow_argument
@command
@pass_options
def workflows_cancel(opts: Options, workflow_id: int | None) -> None:
    """Cancel a workflow: its running jobs are stopped by their runners, nothing new starts,
    and its Slurm allocations are canceled (scancel)."""
    from teamgate.cli.torc.slurm import cancel_allocations

    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        client.cancel_workflow(workflow_id)
        slurm_jobs, warning = cancel_allocations(client, workflow_id)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if opts.json:
        echo_json(
            {"status": "success", "workflow_id": workflow_id, "slurm_jobs_canceled": slurm_jobs}
        )
    else:
        click.echo(f"Successfully canceled workflow {workflow_id}")
        if slurm_jobs:
            click.echo(f"Canceled Slurm jobs: {', '.join(slurm_jobs)}")


@workflows.command(
    "reset-status",
    epilog=examples(
        "torc workflows reset-status 1 --failed-only",
        "torc workflows reset-status 1 --yes",
    ),
)
@workflow_argument
@click.option(
    "--failed-only",
    is_flag=True,
    help="Reset only failed, canceled and terminated jobs (and the jobs after them).",
)
@click.option("--force", is_flag=True, help="Reset even while jobs are running.")
@click.option("-y", "--yes", "--no-prompts", "yes", is_flag=True, help="Do not ask to confirm.")
@command
@pass_options
def workflows_reset_status(
    opts: Options, workflow_id: int | None, failed_only: bool, force: bool, yes: bool
) -> None:
    """Reset a workflow's jobs so that `torc run ID` runs them again (a new run)."""
    workflow_id = opts.workflow(workflow_id)
    if not yes and not opts.json and sys.stdin.isatty():
        which = "failed jobs" if failed_only else "all jobs"
        click.confirm(f"Reset {which} of workflow {workflow_id}?", abort=True)
    with opts.client() as client:
        client.reset_workflow_status(workflow_id, force=force)
        reset = client.reset_job_status(workflow_id, failed_only=failed_only)
    count = reset.get("updated_count") if isinstance(reset, dict) else None
    if opts.json:
        echo_json(
            {
                "status": "success",
                "workflow_id": workflow_id,
                "failed_only": failed_only,
                "updated_count": count,
            }
        )
        return
    which = "failed jobs" if failed_only else "jobs"
    reset_count = "" if count is None else f" ({count} reset)"
    click.echo(f"Successfully reset {which} of workflow {workflow_id}{reset_count}")
    click.echo(f"Run them with: torc run {workflow_id}")
