"""`torc audit list`: the audit log (system administrators only)."""

from __future__ import annotations

import click

from teamgate.cli import audit as audit_cli
from teamgate.cli.torc.common import Options, command, pass_options


@click.group(epilog=audit_cli.epilog("torc", "-f"))
def audit() -> None:
    """The audit log: administrative changes, denials, failed logins."""


@audit.command("list", help=audit_cli.HELP, epilog=audit_cli.epilog("torc", "-f"))
@audit_cli.filter_options
@command
@pass_options
def audit_list(opts: Options, /, limit: int, **filters: str | None) -> None:
    audit_cli.list_events(opts, limit, filters)
