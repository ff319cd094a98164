"""`torc reports summary` and `torc watch`: how far a workflow's run has come."""

from __future__ import annotations

import sys
from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument
from teamgate.cli.torc.runs import (
    Progress,
    counts_of,
    exit_code,
    progress_wanted,
    summary_line,
)
from teamgate.domain.jobs import FAILED


def duration(seconds: float) -> str:
    """`45s`, `12m 3s`, `2h 5m 0s`."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def summary_text(s: dict[str, Any]) -> str:
    counts = counts_of(s)
    marks = {"completed": "✓", **dict.fromkeys(FAILED, "✗")}
    lines = [
        "Workflow Summary",
        "================",
        f"Workflow ID: {s.get('workflow_id')}",
        f"Name: {s.get('workflow_name')}",
        f"User: {s.get('workflow_user')}",
        "",
        "Jobs by status:",
        *(
            f"  {marks.get(name, ' ')} {name.replace('_', ' ').capitalize()}: {n}"
            for name, n in counts.items()
            if n
        ),
        f"Total jobs: {s.get('total_jobs', sum(counts.values()))}",
        "",
        f"Total execution time: {duration(float(s.get('total_exec_time_minutes') or 0) * 60)}",
    ]
    if s.get("walltime_seconds") is not None:
        lines.append(f"Walltime: {duration(float(s['walltime_seconds']))}")
    lines.append(f"Active compute nodes: {s.get('active_compute_nodes', 0)}")
    lines.append("")
    bad = sum(counts[b] for b in FAILED)
    if exit_code(s) == 0:
        lines.append("✓ All jobs completed successfully")
    elif bad:
        lines.append(f"✗ {bad} jobs did not complete (failed, canceled or terminated)")
    else:
        lines.append("… Workflow still in progress" if not s.get("is_complete") else "")
    return "\n".join(lines)


@click.group(epilog=examples("torc reports summary 1", "torc reports summary 1 -f json"))
def reports() -> None:
    """Reports on a workflow's run."""


@reports.command("summary", epilog=examples("torc reports summary 1"))
@workflow_argument
@command
@pass_options
def reports_summary(opts: Options, workflow_id: int | None) -> None:
    """Summarise a workflow: jobs by status, execution time and the verdict."""
    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        summary = client.workflow_status(workflow_id)
    if opts.json:
        minutes = float(summary.get("total_exec_time_minutes") or 0)
        extra = {"total_exec_time_formatted": duration(minutes * 60)}
        if summary.get("walltime_seconds") is not None:
            extra["walltime_formatted"] = duration(float(summary["walltime_seconds"]))
        echo_json({**summary, **extra})
    else:
        click.echo(summary_text(summary))


@click.command(
    "watch",
    epilog=examples("torc watch 1", "torc watch 1 --poll-interval 10"),
)
@workflow_argument
@click.option(
    "-p",
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between status checks.",
)
@command
@pass_options
def watch(opts: Options, workflow_id: int | None, poll_interval: float) -> None:
    """Follow a workflow until it completes: a progress bar on a terminal, a line per
    change when piped. Exits 0 when every job completed, 1 otherwise."""
    workflow_id = opts.workflow(workflow_id)
    import time

    progress = Progress(enabled=progress_wanted(opts.json))
    last = ""
    try:
        with opts.client() as client:
            while True:
                summary = client.workflow_status(workflow_id)
                progress.status(summary)
                line = summary_line(summary)
                if not progress_wanted(opts.json) and line != last:
                    click.echo(line, err=opts.json)
                    last = line
                if summary.get("is_complete"):
                    break
                time.sleep(poll_interval)
    except KeyboardInterrupt:
        progress.close()
        sys.exit(130)
    progress.close()
    if opts.json:
        echo_json(summary)
    elif progress_wanted(opts.json):
        click.echo(summary_line(summary))
    sys.exit(exit_code(summary))
