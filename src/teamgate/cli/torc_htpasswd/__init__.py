"""`torc-htpasswd`: create and edit htpasswd files, in Apache's form and in Torc's subcommand form.

The first argument that is not an option picks the form: a Torc subcommand name selects that
subcommand; anything else is Apache's `[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from teamgate import __version__
from teamgate.cli.completion import completion_command
from teamgate.cli.torc_htpasswd.apache import apache
from teamgate.cli.torc_htpasswd.common import (
    APACHE_COMMAND,
    EXIT_USAGE,
    HELP,
    PROG,
    TORC_SUBCOMMANDS,
    CliError,
)
from teamgate.cli.torc_htpasswd.subcommands import add, hash_, list_users, remove, verify


class HtpasswdCommand(click.Group):
    """Routes the Apache form to a hidden subcommand and prints every error as one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # resilient: shell completion asking
            click.echo(ctx.get_help(), err=True)
            ctx.exit(EXIT_USAGE)
        if is_apache_form(args) and not (ctx.resilient_parsing and not args):
            args = [APACHE_COMMAND, *args]
        return super().parse_args(ctx, args)

    def main(  # type: ignore[override]  # always exits, never returns
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name or PROG, standalone_mode=False, **extra)
        except CliError as exc:
            exc.show(did_you_mean(argv))
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            guess = did_you_mean(argv)
            message = exc.format_message()
            said = (
                f"{message.rstrip('.')}; {guess}" if guess else f"{message} (see '{PROG} --help')"
            )
            click.echo(f"{PROG}: {said}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(f"{PROG}: interrupted; nothing was changed", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def is_apache_form(args: Sequence[str]) -> bool:
    """True unless the first non-option argument names a Torc subcommand (or only help or
    the version is asked)."""
    positional = first_positional(args)
    if positional is None:
        return not any(arg in ("-h", "--help", "--version") for arg in args)
    return positional not in TORC_SUBCOMMANDS


def did_you_mean(args: Sequence[str]) -> str | None:
    """`did you mean 'torc-htpasswd add'?` when the first word is a near miss of a Torc
    subcommand (and no such file exists, which the Apache form would have meant)."""
    import difflib
    import os

    word = first_positional(args)
    if word is None or word in TORC_SUBCOMMANDS or os.path.exists(word):
        return None
    close = difflib.get_close_matches(word, sorted(TORC_SUBCOMMANDS), n=1, cutoff=0.6)
    return f"did you mean '{PROG} {close[0]}'?" if close else None


def first_positional(args: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor the value of Apache's -C."""
    remaining = iter(args)
    for arg in remaining:
        if arg == "--":
            return next(remaining, None)
        if not arg.startswith("-") or arg == "-":
            return arg
        # -C takes a value: `-C 10`, `-bC 10`; `-C10` carries it inline.
        if not arg.startswith("--") and arg.endswith("C"):
            next(remaining, None)
    return None


@click.group(
    cls=HtpasswdCommand,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
# the version string, not package_name: looking it up in the metadata costs ~45 ms
@click.version_option(__version__, prog_name=f"{PROG} (teamgate)")
def main() -> None:
    pass


for _command in (apache, add, hash_, remove, list_users, verify, completion_command(PROG)):
    main.add_command(_command)
