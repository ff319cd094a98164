"""What the torc command modules share: the options object and the leaf-command decorators."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from teamgate.cli.common import leaf_command

if TYPE_CHECKING:
    from teamgate.client.http import ApiError
    from teamgate.client.oidc_sessions import Session, SessionStore
    from teamgate.client.torc import TorcClient

F = TypeVar("F", bound=Callable[..., Any])
API_PATH = "/torc-service/v1"
USER_HELP = "set TORC_USERNAME or pass --username"


class Options:
    """The group's options, handed to every command."""

    def __init__(
        self,
        *,
        url: str,
        username: str | None,
        password: str | None,
        format: str = "table",
        username_from: str = "--username",
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.format = format
        self.username_from = username_from  # where the user name came from, for error hints
        self._session: Session | None = None
        self._looked_up = False

    def client(self) -> TorcClient:
        """A client signed in with the password when one is given, else with the identity
        provider sign-in `torc login` saved for this server (renewed when it expires), else
        anonymous."""
        from teamgate.client.torc import TorcClient
        from teamgate.errors import Invalid

        if self.password is None and self.session() is not None:
            from teamgate.client.oidc_sessions import OidcAuth

            session = self.session()
            assert session is not None
            return TorcClient(self.url, auth=OidcAuth(oidc_store(), self.url, session))
        if self.password is not None and not self.username:
            # Sent as is, an empty name reads "Malformed Basic credentials" on the server.
            raise Invalid(f"no user name to sign in with ($USER is unset or empty): {USER_HELP}")
        auth = (self.username or "", self.password) if self.password is not None else None
        return TorcClient(self.url, auth=auth)

    def session(self) -> Session | None:
        """The identity-provider sign-in saved for this server (read once)."""
        if not self._looked_up:
            self._looked_up = True
            self._session = oidc_store().find(self.url)
            if self._session is not None and self.password is None:
                self.username, self.username_from = self._session.user, "from 'torc login'"
        return self._session

    @property
    def json(self) -> bool:
        return self.format == "json"

    def workflow(self, workflow_id: int | None) -> int:
        """The workflow a command acts on: `workflow_id` when given; else, as in Torc, the
        caller's only workflow of their own, or one chosen at the terminal (the newest is the
        default); workflows shared with the caller are named by id."""
        if workflow_id is not None:
            return workflow_id
        from teamgate.errors import Invalid

        signed_in = (self.password is not None or self.session() is not None) and self.username
        with self.client() as client:  # anonymous callers' workflows have no owner to filter by
            owned = client.list_workflows(**({"user": self.username} if signed_in else {}))
        if not owned:
            raise Invalid(
                "no workflow to act on: give WORKFLOW_ID ('torc workflows list' shows the ones "
                "shared with you too), or create one with 'torc workflows create SPEC' or "
                "'torc run SPEC'"
            )
        if len(owned) == 1:
            return int(owned[0]["id"])
        newest = max(owned, key=lambda w: int(w["id"]))
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise Invalid(
                f"{len(owned)} workflows: give WORKFLOW_ID ('torc workflows list' shows them; "
                f"the newest is {newest['id']}, '{newest['name']}')"
            )
        for w in sorted(owned, key=lambda w: int(w["id"])):
            click.echo(f"  {w['id']:>6}  {w['name']}", err=True)
        ids = click.Choice([str(w["id"]) for w in owned])
        return int(click.prompt("Workflow ID", type=ids, default=str(newest["id"]), err=True))

    def sign_in_hint(self) -> str:
        """Who torc signed in as, and how to be someone else (for a 401)."""
        if self.password is None and self.session() is not None:
            return (
                f"torc signed in as '{self.username}' through the identity provider and the "
                "server refused the ID token: sign in again with `torc login`"
            )
        if self.password is None:
            who = f"for '{self.username}' ({self.username_from})" if self.username else "at all"
            return (
                f"torc sent no password {who}, so the server saw an anonymous caller: "
                "set TORC_PASSWORD or use --prompt-password"
            )
        return (
            f"torc signed in as '{self.username}' ({self.username_from}) and the server refused "
            f"that name and password: check TORC_PASSWORD; to sign in as another user, "
            f"{USER_HELP} (with TORC_PASSWORD set to that user's password)"
        )

    def url_hint(self) -> str | None:
        """What to set when the URL lacks the API's path (every route then is unknown)."""
        url = self.url.rstrip("/")
        if url.endswith(API_PATH):
            return None
        base = url.removesuffix("/v1")
        return f"the Torc API is under {API_PATH}: set TORC_API_URL (or --url) to {base}{API_PATH}"


def oidc_store() -> SessionStore:
    """The identity-provider sign-ins `torc login` saved: `<user config dir>/teamgate/torc`."""
    from pathlib import Path

    import platformdirs

    from teamgate.client.oidc_sessions import SessionStore

    return SessionStore(Path(platformdirs.user_config_dir("teamgate")) / "torc", "torc")


def _hint(ctx: click.Context, exc: ApiError) -> str | None:
    opts = ctx.find_object(Options)
    if opts is None:
        return None
    if exc.status == 401:
        return opts.sign_in_hint()
    if exc.status == 404 and str(exc).startswith("No such endpoint"):
        return opts.url_hint()
    return None


def _store_format(ctx: click.Context, value: str) -> None:
    ctx.find_object(Options).format = value  # type: ignore[union-attr]


def workflow_argument(f: F) -> F:
    """`[WORKFLOW_ID]`, optional as in Torc: resolve it with `Options.workflow`."""
    return click.argument("workflow_id", type=int, required=False)(f)


command = leaf_command("-f", "--format", apply=_store_format, hint=_hint)
pass_options = click.make_pass_decorator(Options)
