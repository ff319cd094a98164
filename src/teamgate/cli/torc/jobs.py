"""`torc jobs`: list a workflow's jobs and show one."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument
from teamgate.cli.torc.runs import echo_list, list_items, paging
from teamgate.domain.jobs import STATUSES

# Torc's `jobs list -s` takes every status but pending_failed
LIST_STATUSES = click.Choice([s for s in STATUSES if s != "pending_failed"])


@click.group(epilog=examples("torc jobs list 1", "torc jobs list 1 -s failed", "torc jobs get 7"))
def jobs() -> None:
    """List a workflow's jobs and show one."""


@jobs.command(
    "list",
    epilog=examples(
        "torc jobs list 1",
        "torc jobs list 1 -s ready --limit 20",
        "torc -f json jobs list 1 | jq -r '.jobs[].name'",
    ),
)
@workflow_argument
@click.option("-s", "--status", type=LIST_STATUSES, help="Only jobs with this status.")
@paging
@command
@pass_options
def jobs_list(
    opts: Options, workflow_id: int | None, status: str | None, limit: int, offset: int
) -> None:
    """List a workflow's jobs: ID, name, status and command."""
    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        items = list_items(
            client, "/jobs", offset=offset, limit=limit, workflow_id=workflow_id, status=status
        )
    echo_list(
        opts.json,
        "jobs",
        items,
        ("ID", "Name", "Status", "Command"),
        lambda j: (j["id"], j["name"], j.get("status"), j["command"]),
        title=f"Jobs for workflow ID {workflow_id}:",
        empty=f"No jobs found for workflow ID: {workflow_id}",
        noun="job",
    )


def _ids(values: Any) -> str:
    return ", ".join(map(str, values)) if values else "None"


@jobs.command("get", epilog=examples("torc jobs get 7", "torc jobs get 7 -f json"))
@click.argument("job_id", type=int)
@command
@pass_options
def jobs_get(opts: Options, job_id: int) -> None:
    """Show one job."""
    with opts.client() as client:
        job = client.get_job(job_id)
    if opts.json:
        echo_json(job)
        return
    rows = [
        ("ID", job["id"]),
        ("Name", job["name"]),
        ("Command", job["command"]),
        ("Workflow ID", job["workflow_id"]),
        ("Status", job.get("status")),
        ("Attempt", job.get("attempt_id")),
        ("Priority", job.get("priority")),
        ("Blocking job IDs", _ids(job.get("depends_on_job_ids"))),
        ("Input file IDs", _ids(job.get("input_file_ids"))),
        ("Output file IDs", _ids(job.get("output_file_ids"))),
        ("Cancel on blocking job failure", job.get("cancel_on_blocking_job_failure")),
    ]
    click.echo(render_table(("Field", "Value"), rows))
