"""Pieces both CLIs share: the output-format option on leaf commands and clean error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from teamgate.cli.output import dumps

if TYPE_CHECKING:
    from teamgate.client.http import ApiError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
C = TypeVar("C", covariant=True)
# What to tell the user about a failed request, from what only the CLI knows (the user name it
# signed in as and where that came from, the URL it was given); None when nothing helps.
Hint = Callable[[click.Context, "ApiError"], str | None]

FORMAT = click.Choice(["table", "json"], case_sensitive=False)


def fail(exc: Exception, hint: Hint | None = None) -> None:
    """Print a client error (the server's JSON body when there is one, with `hint`'s advice
    as its `hint` field) and exit 1."""
    from teamgate.client.http import ApiError

    if isinstance(exc, ApiError):
        advice = hint(click.get_current_context(), exc) if hint else None
        click.echo(dumps({**exc.body, "hint": advice} if advice else exc.body), err=True)
    else:
        click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


class Asking(Protocol[C]):
    """What `answer` needs of either CLI's options: the format chosen and a client."""

    @property
    def json(self) -> bool: ...

    def client(self) -> AbstractContextManager[C]: ...


def answer(opts: Asking[C], call: Callable[[C], T], text: Callable[[T], str]) -> None:
    """Ask the server (`call`), then print its answer: as JSON with the json format, else
    `text(answer)`, and any warning it carries on stderr. The one shape of a command that
    fetches and prints."""
    with opts.client() as client:
        result = call(client)
    click.echo(dumps(result) if opts.json else text(result))
    warn(result)


def read_password(prompt: str = "Password") -> str:
    """Ask on the terminal without echo; from a pipe (`echo pw | torc --prompt-password …`),
    read one line quietly: there is no echo to turn off and no one to prompt."""
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, err=True))
    line = sys.stdin.readline()
    if not line:
        raise click.UsageError("no password on standard input (it is not a terminal)")
    return line.rstrip("\r\n")


def warn(answer: Any) -> None:
    """Print the `warning` a server answer carries (a request that succeeded, with a catch)."""
    if isinstance(answer, dict) and answer.get("warning"):
        click.echo(f"Warning: {answer['warning']}", err=True)


def access_option(kind: str) -> Callable[[F], F]:
    """`--access read|write|admin`: the level of a share of a `kind` (workflow or unit)."""
    what = {
        "workflow": "read: see it, its jobs, results and events; write: also run, cancel, "
        "reset and change it; admin: also delete and re-share it",
        "unit": "read: read state and versions; write: also write, lock and restore; "
        "admin: also delete and re-share it",
    }[kind]
    return click.option(
        "--access",
        type=click.Choice(["read", "write", "admin"]),
        default=None,
        help=f"The share's level [default: write]. {what}.",
    )


def examples(*lines: str) -> str:
    """A help epilog of example command lines, kept as written (click's \\b)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def skip_httpx_cli() -> None:
    """Keep `import httpx` from loading httpx's own command-line client in this process.

    httpx imports its CLI module (rich and pygments, ~60 ms) whenever those happen to be
    installed, and falls back to a stub when that import fails; a None entry in sys.modules
    makes it fail. Only the teamgate CLIs' entry points call this: they never run httpx's CLI.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: import fails


def leaf_command(
    *flags: str, apply: Callable[[click.Context, str], None], hint: Hint | None = None
) -> Callable[[F], F]:
    """A decorator giving a leaf command the format option `flags` (also accepted after the
    subcommand; `apply` stores the choice) and turning TeamgateError into a clean exit (with
    `hint`'s advice on a refused request)."""

    def set_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            apply(ctx, value.lower())

    def decorate(func: F) -> F:
        @click.option(
            *flags,
            "output_format",
            type=FORMAT,
            expose_value=False,
            callback=set_format,
            help="Output format (table or json).",
        )
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from teamgate.errors import TeamgateError

            try:
                return func(*args, **kwargs)
            except TeamgateError as exc:
                fail(exc, hint)

        return wrapper  # type: ignore[return-value]

    return decorate
