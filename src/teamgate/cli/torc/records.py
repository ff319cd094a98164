"""`torc events list` and `torc files list`: the records around a workflow's run."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument
from teamgate.cli.torc.runs import echo_list, list_items, paging


@click.group(epilog=examples("torc events list 1", "torc events list 1 -f json"))
def events() -> None:
    """A workflow's events."""


def _local_time(timestamp_ms: Any) -> str:
    from datetime import datetime

    try:
        return datetime.fromtimestamp(int(timestamp_ms) / 1000).strftime("%Y-%m-%d %H:%M:%S.%f")[
            :-3
        ]
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp_ms)


def _event_field(data: Any, *names: str, default: str = "") -> str:
    if isinstance(data, dict):
        for name in names:
            if data.get(name):
                return str(data[name])
    return default


@events.command(
    "list",
    epilog=examples("torc events list 1", "torc events list 1 --category job_completed"),
)
@workflow_argument
@click.option("-t", "--category", "--type", "category", help="Only events of this category.")
@paging
@command
@pass_options
def events_list(
    opts: Options, workflow_id: int | None, category: str | None, limit: int, offset: int
) -> None:
    """List a workflow's events, oldest first."""
    workflow_id = opts.workflow(workflow_id)
    import json

    with opts.client() as client:
        items = list_items(
            client,
            "/events",
            offset=offset,
            limit=limit,
            workflow_id=workflow_id,
            category=category,
        )
    for event in items:
        event["timestamp_formatted"] = _local_time(event.get("timestamp"))
    echo_list(
        opts.json,
        "events",
        items,
        ("Timestamp", "Level", "Event Type", "Data"),
        lambda e: (
            e["timestamp_formatted"],
            _event_field(e.get("data"), "severity", "level", default="info"),
            _event_field(e.get("data"), "type", "event_type", "category", "action"),
            json.dumps(e.get("data"), separators=(",", ":")),
        ),
        title=f"Events for workflow ID {workflow_id}:",
        empty=f"No events found for workflow ID: {workflow_id}",
        noun="event",
    )


@click.group(epilog=examples("torc files list 1", "torc files list 1 -f json"))
def files() -> None:
    """A workflow's files."""


@files.command(
    "list", epilog=examples("torc files list 1", "torc files list 1 --produced-by-job-id 4")
)
@workflow_argument
@click.option("--produced-by-job-id", type=int, help="Only the files this job writes.")
@paging
@command
@pass_options
def files_list(
    opts: Options, workflow_id: int | None, produced_by_job_id: int | None, limit: int, offset: int
) -> None:
    """List a workflow's files: name, path and when they last changed."""
    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        items = list_items(
            client,
            "/files",
            offset=offset,
            limit=limit,
            workflow_id=workflow_id,
            produced_by_job_id=produced_by_job_id,
        )

    def row(f: dict[str, Any]) -> tuple[Any, ...]:
        mtime = f.get("st_mtime")
        when = "-" if mtime is None else _local_time(float(mtime) * 1000)
        return (f["id"], f["name"], f["path"], when)

    echo_list(
        opts.json,
        "files",
        items,
        ("ID", "Name", "Path", "Modified Time"),
        row,
        title=f"Files for workflow ID {workflow_id}:",
        empty=f"No files found for workflow ID: {workflow_id}",
        noun="file",
    )
