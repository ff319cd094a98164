"""What the taco command modules share: the options object, alias groups and table output."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from teamgate.cli.common import leaf_command
from teamgate.cli.output import counted, render_table

if TYPE_CHECKING:
    from teamgate.client.http import ApiError
    from teamgate.client.oidc_sessions import SessionStore
    from teamgate.client.taco import LockStore, TacoClient

F = TypeVar("F", bound=Callable[..., Any])


class Options:
    """The group's options, handed to every command."""

    def __init__(self, *, server: str, output: str = "table") -> None:
        self.server = server
        self.output = output
        # How client() signed in ("none", "saved", "OPENTACO_TOKEN", "oidc" or "basic") and as whom:
        # a 401's hint names them.
        self.signed_in: tuple[str, str | None] = ("none", None)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def client(self, *, basic: tuple[str, str] | None = None) -> TacoClient:
        """A client with the first credentials found.

        In order: `basic`, OPENTACO_TOKEN, the token saved for this server, the identity
        provider sign-in saved for it (its ID token, renewed when it expires), then
        OPENTACO_USERNAME with OPENTACO_PASSWORD; none means anonymous.
        """
        from teamgate.client.taco import CredentialStore, TacoClient

        saved = (
            None
            if basic or os.environ.get("OPENTACO_TOKEN")
            else CredentialStore().find(self.server)
        )
        token = None if basic else (os.environ.get("OPENTACO_TOKEN") or (saved and saved.token))
        if token:
            self.signed_in = ("saved", saved.user) if saved else ("OPENTACO_TOKEN", None)
            wanted = os.environ.get("OPENTACO_USERNAME")
            if saved and wanted and wanted != saved.user:
                click.echo(
                    f"Warning: taco signs in with the token 'taco login' saved for "
                    f"'{saved.user}'; OPENTACO_USERNAME='{wanted}' is not used (run 'taco logout' "
                    "to sign in with OPENTACO_USERNAME and OPENTACO_PASSWORD)",
                    err=True,
                )
            return TacoClient(self.server, headers={"Authorization": f"Bearer {token}"})
        session = None if basic else oidc_store().find(self.server)
        if session is not None:
            from teamgate.client.oidc_sessions import OidcAuth

            self.signed_in = ("oidc", session.user)
            return TacoClient(self.server, auth=OidcAuth(oidc_store(), self.server, session))
        if basic is None:
            user = os.environ.get("OPENTACO_USERNAME")
            password = os.environ.get("OPENTACO_PASSWORD")
            basic = (user, password) if user and password is not None else None
        if basic is not None:
            self.signed_in = ("basic", basic[0])
        return TacoClient(self.server, auth=basic)

    def locks(self) -> LockStore:
        from teamgate.client.taco import LockStore

        return LockStore(self.server)


def oidc_store() -> SessionStore:
    """The identity-provider sign-ins `taco login` saved (next to its API tokens)."""
    from teamgate.client.oidc_sessions import SessionStore
    from teamgate.client.taco import state_dir

    return SessionStore(state_dir(), "taco")


def _store_format(ctx: click.Context, value: str) -> None:
    ctx.find_object(Options).output = value  # type: ignore[union-attr]


def _hint(ctx: click.Context, exc: ApiError) -> str | None:
    """How taco signed in (for a 401), or that OPENTACO_SERVER has a path it must not have."""
    opts = ctx.find_object(Options)
    if opts is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(opts.server)
    if exc.status == 404 and str(exc).startswith("No such endpoint") and parts.path.rstrip("/"):
        root = f"{parts.scheme}://{parts.netloc}"
        return (
            f"OPENTACO_SERVER (or --server) is the server's root URL, without "
            f"{parts.path}: set it to {root}"
        )
    missing = re.fullmatch(r"Access group '([0-9]+)' not found", str(exc))
    if exc.status == 404 and missing:
        return (
            f"taco takes an access group's name, not its id: 'torc access-groups get "
            f"{missing[1]}' shows the name of group {missing[1]}"
        )
    return _sign_in_hint(*opts.signed_in) if exc.status == 401 else None


def _sign_in_hint(how: str, user: str | None) -> str:
    if how == "none":
        return "taco sent no credentials: run 'taco login' first (or set OPENTACO_TOKEN)"
    if how == "saved":
        return (
            f"taco signed in with the token 'taco login' saved for '{user}' on this server; "
            "it has expired or was revoked: run 'taco login' again"
        )
    if how == "oidc":
        return (
            f"taco signed in as '{user}' through the identity provider and the server refused "
            "the ID token: sign in again with `taco login`"
        )
    if how == "OPENTACO_TOKEN":
        return (
            "taco signed in with the token in OPENTACO_TOKEN: check it, "
            "or unset it and run 'taco login'"
        )
    return (
        f"taco signed in as '{user}': to sign in as another user, run 'taco login "
        "--username NAME' or set OPENTACO_USERNAME and OPENTACO_PASSWORD"
    )


command = leaf_command("-o", "--output", apply=_store_format, hint=_hint)
pass_options = click.make_pass_decorator(Options)


def quiet_option(what: str) -> Callable[[F], F]:
    """`-q/--quiet`: no progress `what` (which shows only on a terminal, and not with -o json)."""
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help=f"No {what} (shown only when stderr is a terminal, never with -o json).",
    )


def local_error(message: str) -> Exception:
    """A TeamgateError for a problem found before asking the server (printed like its errors)."""
    from teamgate.errors import Invalid

    return Invalid(message)


class AliasGroup(click.Group):
    """A group whose commands may have aliases (`unit ls` = `unit list`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else _name), cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        labelled = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            extra = [a for a, target in self.aliases.items() if target == name]
            labelled.append((f"{name} ({', '.join(extra)})" if extra else name, cmd))
        if labelled:
            limit = formatter.width - 6 - max(len(label) for label, _ in labelled)
            with formatter.section("Commands"):
                formatter.write_dl([(lbl, cmd.get_short_help_str(limit)) for lbl, cmd in labelled])


def alias(group: click.Group, name: str, *aliases: str) -> None:
    """Let `aliases` stand for the command `name` of `group` (an AliasGroup)."""
    assert isinstance(group, AliasGroup) and name in group.commands
    for other in aliases:
        group.aliases[other] = name


def when(value: Any) -> str:
    """An ISO timestamp as `2006-01-02 15:04:05` (as OpenTaco prints them)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def table_total(headers: tuple[str, ...], rows: Iterable[tuple[Any, ...]], noun: str) -> str:
    """A table, a blank line, then `Total: 2 units` (`noun` in the singular)."""
    rows = list(rows)
    return f"{render_table(headers, rows)}\n\nTotal: {counted(len(rows), noun)}"


def listing(
    headers: tuple[str, ...], row: Callable[[Any], tuple[Any, ...]], noun: str
) -> Callable[[list[Any]], str]:
    """How `answer` shows a list: a table of `row(item)` with its total, or `No units found`."""

    def text(items: list[Any]) -> str:
        if not items:
            return f"No {noun}s found"
        return table_total(headers, (row(item) for item in items), noun)

    return text


def fields_table(fields: Iterable[tuple[str, Any]]) -> str:
    """A `FIELD │ VALUE` table; lists are joined with commas, empty ones shown as `-`."""
    rows = [
        (name, ", ".join(map(str, v)) or "-" if isinstance(v, list) else v) for name, v in fields
    ]
    return render_table(("FIELD", "VALUE"), rows)
