"""`audit list`, shared by torc and taco: the filter options and the events table."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json, render_table

F = TypeVar("F", bound=Callable[..., Any])

DECISIONS = ("allowed", "denied", "failed-login")
HEADERS = ("Time", "User", "Client", "Action", "Resource", "Decision", "Reason", "Detail")
FILTERS = ("user", "action", "resource", "since", "until", "decision")
HELP = """List the audit log, newest first (system administrators only).

Administrative changes (groups, members, shares, RBAC, tokens, unit deletes and force-unlocks),
denied requests and failed logins. Times are UTC; --since is inclusive, --until exclusive.
"""


def epilog(prog: str, json_flag: str) -> str:
    return examples(
        f"{prog} audit list",
        f"{prog} audit list --user carol --decision denied --since 2024-05-01",
        f"{prog} audit list --action group. --resource group/1",
        f"{prog} audit list --decision failed-login {json_flag} json --limit 1000",
    )


def filter_options(func: F) -> F:
    """The options of `audit list` (passed on to the server as query parameters)."""
    options = [
        click.option("--user", help="Only this user ('anonymous': events without a user)."),
        click.option("--action", help="Action or its prefix, e.g. group.create, rbac., GET."),
        click.option("--resource", help="Resource prefix of whole segments, e.g. group/1."),
        click.option("--since", help="ISO 8601 time or date (UTC unless given), inclusive."),
        click.option("--until", help="ISO 8601 time or date (UTC unless given), exclusive."),
        click.option("--decision", type=click.Choice(DECISIONS), help="Only this outcome."),
        click.option(
            "--limit",
            type=click.IntRange(1, 1_000_000),
            default=100,
            show_default=True,
            help="Most events to show (the newest).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _AuditClient(Protocol):
    def list_audit(self, *, limit: int = 100, **filters: Any) -> list[Any]: ...


class _Options(Protocol):
    """What `list_events` needs of either CLI's options."""

    @property
    def json(self) -> bool: ...

    def client(self) -> AbstractContextManager[_AuditClient]: ...


def list_events(opts: _Options, limit: int, values: dict[str, Any]) -> None:
    """Print the events the command's filter options select, as a table or JSON."""
    with opts.client() as client:
        events = client.list_audit(limit=limit, **filters_of(values))
    echo_json(events) if opts.json else click.echo(render_events(events))


def filters_of(values: dict[str, Any]) -> dict[str, Any]:
    """The query parameters among a command's keyword arguments (unset ones left out)."""
    return {k: values[k] for k in FILTERS if values.get(k) is not None}


def render_events(events: list[dict[str, Any]]) -> str:
    if not events:
        return "No audit events found"
    rows = [
        (
            e["time"],
            e.get("user") or "-",
            e.get("client") or "-",
            e["action"],
            e["resource"],
            e["decision"],
            e.get("reason"),
            e.get("detail"),
        )
        for e in events
    ]
    return render_table(HEADERS, rows)
