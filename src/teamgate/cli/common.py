"""Pieces both CLIs share: the output-format option on leaf commands and clean error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from teamgate.cli.output import dumps

F = TypeVar("F", bound=Callable[..., Any])

FORMAT = click.Choice(["table", "json"], case_sensitive=False)


def fail(exc: Exception) -> None:
    """Print a client error (the server's JSON body when there is one) and exit 1."""
    from teamgate.client.http import ApiError

    if isinstance(exc, ApiError):
        click.echo(dumps(exc.body), err=True)
    else:
        click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


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


def leaf_command(*flags: str, apply: Callable[[click.Context, str], None]) -> Callable[[F], F]:
    """A decorator giving a leaf command the format option `flags` (also accepted after the
    subcommand; `apply` stores the choice) and turning TeamgateError into a clean exit."""

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
                fail(exc)

        return wrapper  # type: ignore[return-value]

    return decorate
