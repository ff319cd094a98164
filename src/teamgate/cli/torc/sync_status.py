"""`torc workflows sync-status ID`: recover, now, the jobs of a workflow whose runners are gone
(stopped sending heartbeats), as the server's own sweep would after its heartbeat timeout."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument


@click.command(
    "sync-status",
    epilog=examples(
        "torc workflows sync-status 1",
        "torc workflows sync-status 1 --force",
        "torc -f json workflows sync-status 1",
    ),
)
@workflow_argument
@click.option(
    "--force",
    is_flag=True,
    help="Also recover jobs left pending or running on compute nodes that are already "
    "inactive (a runner that signed off or was declared lost without recovering them).",
)
@command
@pass_options
def sync_status(opts: Options, workflow_id: int | None, force: bool) -> None:
    """Repair jobs left running by runners that are gone.

    A runner whose heartbeat is older than the server's heartbeat timeout is marked lost and
    its jobs are recovered by the server's lost-job policy: running jobs ready again (requeue)
    or failed (fail); claimed jobs that never started are ready again. Needs the right to run
    the workflow.
    """
    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        found = client.sync_status(workflow_id, force=force)
    if opts.json:
        echo_json(found)
        return
    click.echo(_summary(found))
    if found["recovered_jobs"]:
        rows = [
            (j["job_id"], j["name"], j["was"], j["status"], j["attempt_id"], j["compute_node_id"])
            for j in found["recovered_jobs"]
        ]
        headers = ("Job ID", "Name", "Was", "Now", "Lost Attempt", "Compute Node")
        click.echo(render_table(headers, rows))


def _summary(found: dict[str, Any]) -> str:
    nodes = found["lost_compute_nodes"]
    lost = ", ".join(f"{n['hostname']} pid {n['pid']} (node {n['id']})" for n in nodes)
    head = f"Workflow {found['workflow_id']}: "
    head += f"runners lost: {len(nodes)} ({lost})" if nodes else "no runner newly lost"
    head += f"; jobs recovered: {len(found['recovered_jobs'])} (policy {found['policy']})"
    if found.get("canceled_jobs"):
        head += f"; dependents canceled: {len(found['canceled_jobs'])}"
    return head
