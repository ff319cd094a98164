"""`taco audit list`: the audit log (system administrators only)."""

from __future__ import annotations

import click

from teamgate.cli import audit as audit_cli
from teamgate.cli.taco.common import AliasGroup, Options, command, pass_options


@click.group(cls=AliasGroup, epilog=audit_cli.epilog("taco", "-o"))
def audit() -> None:
    """The audit log: administrative changes, denials, failed logins."""


@audit.command("list", help=audit_cli.HELP, epilog=audit_cli.epilog("taco", "-o"))
@audit_cli.filter_options
@command
@pass_options
def audit_list(opts: Options, /, limit: int, **filters: str | None) -> None:
    audit_cli.list_events(opts, limit, filters)
