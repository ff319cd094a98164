"""What `torc run`, `torc watch` and the run-reading commands share: the progress display, the
closing summary line and exit code, and the paged list with Torc's `-l/--limit` and `--offset`.

rich is imported only when a progress bar is drawn (on a terminal), so `--help` stays light.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from teamgate.cli.output import counted, dumps, render_table
from teamgate.domain.jobs import DONE, STATUSES

if TYPE_CHECKING:
    from teamgate.client.torc import TorcClient

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = {2: 130, 15: 143}  # SIGINT, SIGTERM: the shell's 128 + signal


def paging(func: F) -> F:
    """Torc's list options: `-l/--limit` (default 10000) and `--offset` (default 0)."""
    func = click.option(
        "--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many."
    )(func)
    return click.option(
        "-l",
        "--limit",
        type=click.IntRange(min=1),
        default=10_000,
        show_default=True,
        help="Show at most this many.",
    )(func)


def list_items(
    client: TorcClient, path: str, *, offset: int, limit: int, **filters: Any
) -> list[Any]:
    """Up to `limit` items of a workflow's list from `offset` (fetched page by page)."""
    return client.pages(path, offset=offset, limit=limit, **filters)


def echo_list(
    json_mode: bool,
    key: str,
    items: list[dict[str, Any]],
    headers: tuple[str, ...],
    row: Callable[[dict[str, Any]], tuple[Any, ...]],
    *,
    title: str,
    empty: str,
    noun: str,
) -> None:
    """Print a list: `{key: [...]}` as JSON, else a title, a rounded table and its total."""
    if json_mode:
        click.echo(dumps({key: items}))
    elif not items:
        click.echo(empty)
    else:
        click.echo(title)
        click.echo(render_table(headers, [row(item) for item in items]))
        click.echo(f"\nTotal: {counted(len(items), noun)}")


def counts_of(summary: dict[str, Any]) -> dict[str, int]:
    found = summary.get("jobs_by_status") or {}
    return {s: int(found.get(s) or 0) for s in STATUSES}


def summary_line(summary: dict[str, Any]) -> str:
    """`Workflow 3: 2 of 2 jobs completed` / `…: 1 completed, 1 failed, 1 canceled of 3 jobs`."""
    counts = counts_of(summary)
    total = int(summary.get("total_jobs") or sum(counts.values()))
    workflow = f"Workflow {summary.get('workflow_id')}"
    if counts["completed"] == total:
        return f"{workflow}: {counts['completed']} of {counted(total, 'job')} completed"
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f"{workflow}: {', '.join(parts)} of {counted(total, 'job')}"


def exit_code(summary: dict[str, Any]) -> int:
    """0 when every job completed, 1 otherwise (some failed, were canceled or never ran)."""
    counts = counts_of(summary)
    total = int(summary.get("total_jobs") or sum(counts.values()))
    return 0 if counts["completed"] == total else 1


class Progress:
    """The run's progress: a bar on a terminal (done/failed/running of total, on stderr);
    piped, a line for each job that did not complete. Implements the runner's Listener."""

    def __init__(self, *, enabled: bool, plain_lines: bool = True) -> None:
        self.counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.total = 0
        self.plain_lines = plain_lines
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("jobs", total=None, detail="")

    def status(self, summary: dict[str, Any]) -> None:
        self.counts = counts_of(summary)
        self.total = int(summary.get("total_jobs") or sum(self.counts.values()))
        self._draw()

    def started(self, job: dict[str, Any]) -> None:
        self.counts["running"] += 1
        self._draw()

    def finished(self, job: dict[str, Any], status: str, return_code: int) -> None:
        self.counts["running"] = max(self.counts["running"] - 1, 0)
        self.counts[status] = self.counts.get(status, 0) + 1
        if status != "completed" and self.plain_lines:
            self.echo(f"Job {job['id']} ({job['name']}) {status}: return code {return_code}")
        self._draw()

    def echo(self, line: str) -> None:
        """A line on stderr that does not tear the bar."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            click.echo(line, err=True)

    def _draw(self) -> None:
        if self._bar is None:
            return
        c = self.counts
        done = sum(c[s] for s in DONE)
        detail = f"✓ {c['completed']}  ✗ {c['failed'] + c['canceled'] + c['terminated']}"
        detail += f"  ▶ {c['running']}"
        self._bar.update(self._task, completed=done, total=self.total or None, detail=detail)

    def close(self) -> None:
        if self._bar is not None:
            self._draw()
            self._bar.stop()
            self._bar = None


def progress_wanted(json_mode: bool) -> bool:
    return not json_mode and sys.stderr.isatty()
