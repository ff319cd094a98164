"""`torc results list`: the recorded result of each job attempt."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument
from teamgate.cli.torc.runs import echo_list, list_items, paging
from teamgate.domain.jobs import STATUSES


@click.group(epilog=examples("torc results list 1", "torc results list 1 --failed"))
def results() -> None:
    """The results of a workflow's job attempts."""


def peak_memory(value: Any) -> str:
    """`12.3MB`, `1.50GB`, `-` (as Torc's table)."""
    if not value:
        return "-"
    megabytes = value / (1 << 20)
    return f"{megabytes / 1024:.2f}GB" if megabytes >= 1024 else f"{megabytes:.1f}MB"


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    cpu = r.get("peak_cpu_percent")
    return (
        r["id"],
        r["job_id"],
        r.get("job_name") or "",
        r["workflow_id"],
        r["run_id"],
        r.get("attempt_id") or 1,
        r["return_code"],
        f"{float(r.get('exec_time_minutes') or 0):.2f}",
        peak_memory(r.get("peak_memory_bytes")),
        "-" if cpu is None else f"{float(cpu):.1f}",
        r.get("completion_time"),
        str(r.get("status", "")).capitalize(),
    )


HEADERS = (
    "ID",
    "Job ID",
    "Job Name",
    "WF ID",
    "Run ID",
    "Attempt",
    "Return Code",
    "Exec Time",
    "Peak Mem",
    "Peak CPU %",
    "Completion Time",
    "Status",
)


@results.command(
    "list",
    epilog=examples(
        "torc results list 1",
        "torc results list 1 --failed",
        "torc results list 1 -j 7 --all-runs",
        "torc -f json results list 1 | jq '.results[].return_code'",
    ),
)
@workflow_argument
@click.option("-j", "--job-id", type=int, help="Only this job's results.")
@click.option("-r", "--run-id", type=int, help="Only this run's results.")
@click.option("--return-code", type=int, help="Only results with this return code.")
@click.option("-s", "--status", type=click.Choice(STATUSES), help="Only results with this status.")
@click.option("--failed", is_flag=True, help="Only results with a non-zero return code.")
@click.option("--all-runs", is_flag=True, help="Results of earlier runs too.")
@paging
@command
@pass_options
def results_list(
    opts: Options,
    workflow_id: int | None,
    job_id: int | None,
    run_id: int | None,
    return_code: int | None,
    status: str | None,
    failed: bool,
    all_runs: bool,
    limit: int,
    offset: int,
) -> None:
    """List a workflow's results: return code, time, peak memory and CPU of each attempt."""
    workflow_id = opts.workflow(workflow_id)
    filters = {
        "workflow_id": workflow_id,
        "job_id": job_id,
        "run_id": run_id,
        "return_code": return_code,
        "status": status,
        "all_runs": "true" if all_runs else None,
    }
    with opts.client() as client:
        items = list_items(client, "/results", offset=offset, limit=limit, **filters)
    if failed:  # Torc filters here too: a failure is any non-zero return code
        items = [r for r in items if r.get("return_code") != 0]
    echo_list(
        opts.json,
        "results",
        items,
        HEADERS,
        _row,
        title=f"Results for workflow ID {workflow_id}:",
        empty=f"No results found for workflow ID: {workflow_id}",
        noun="result",
    )
