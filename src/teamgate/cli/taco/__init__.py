"""`taco`: the OpenTaco command-line client (login, RBAC, units).

This package holds the main group and the login commands; `rbac` and `units` hold those command
groups and `common` what they share. The client (httpx) and the stdlib modules that click does
not load anyway are imported inside the commands that use them, so `taco --help` starts fast;
tests/cli/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import os
from typing import Any

import click

from teamgate import __version__
from teamgate.cli import oidc_login
from teamgate.cli.common import FORMAT, examples, read_password, skip_httpx_cli
from teamgate.cli.completion import completion_command
from teamgate.cli.output import echo_json
from teamgate.cli.taco.audit import audit
from teamgate.cli.taco.common import AliasGroup, Options, command, oidc_store, pass_options
from teamgate.cli.taco.rbac import rbac
from teamgate.cli.taco.tokens import token
from teamgate.cli.taco.units import unit

DEFAULT_SERVER = "http://localhost:8080"
EPILOG = """
\b
Environment:
  OPENTACO_SERVER     server URL (default http://localhost:8080)
  OPENTACO_TOKEN      API token to use instead of the one saved by 'taco login'
  OPENTACO_USERNAME   user name for 'taco login', and with OPENTACO_PASSWORD
  OPENTACO_PASSWORD   HTTP Basic credentials when there is no token
  SSL_CERT_FILE       CA certificates for an https server with a private CA
\b
Examples:
  taco login --username alice
  taco rbac permission create dev-access "Developer Access" "dev units" \\
      --rule "allow:unit.read,unit.write,unit.lock:dev/*"
  taco rbac test bob@example.com pull dev/app
  taco -o json unit ls dev
  eval "$(taco completion bash)"
"""


@click.group(
    cls=AliasGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--server",
    envvar="OPENTACO_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    help="Server URL [env: OPENTACO_SERVER].",
)
@click.option(
    "-o",
    "--output",
    "output_format",
    type=FORMAT,
    default="table",
    help="Output format (table or json); also accepted after the subcommand.",
)
# the version string, not package_name: looking it up in the metadata costs ~45 ms
@click.version_option(__version__, prog_name="taco (teamgate)")
@click.pass_context
def cli(ctx: click.Context, server: str, output_format: str) -> None:
    """OpenTaco client: Terraform state units and role-based access control."""
    ctx.obj = Options(server=server.strip().rstrip("/"), output=output_format.lower())


cli.add_command(rbac)
cli.add_command(unit)
cli.add_command(completion_command("taco"))
cli.add_command(audit)
cli.add_command(token)


# -- login, logout, whoami -----------------------------------------------------------------


@cli.command(
    help=f"""Sign in to the server and save the sign-in for it.

{oidc_login.LOGIN_HELP}

With --username (or OPENTACO_USERNAME), or on a server without an identity provider: user name
and password (htpasswd), saving an API token for this server.""",
    epilog=examples(
        "taco login                      # the server's identity provider, in a browser",
        "taco login --device             # a code to enter on any device (SSH sessions)",
        "taco login --username alice --ttl-days 7",
        "taco --server https://taco.example.com login -u alice",
        "OPENTACO_USERNAME=alice OPENTACO_PASSWORD=secret taco login   # no prompts",
    ),
)
@click.option("--username", "-u", envvar="OPENTACO_USERNAME", help="[env: OPENTACO_USERNAME]")
@click.option(
    "--password",
    envvar="OPENTACO_PASSWORD",
    help="[env: OPENTACO_PASSWORD] Visible to other local users; prefer the env var or the prompt.",
)
@click.option("--ttl-days", type=click.IntRange(1, 365), help="Token lifetime (server default 30).")
@oidc_login.login_options
@command
@click.pass_context
def login(
    ctx: click.Context,
    username: str | None,
    password: str | None,
    ttl_days: int | None,
    device: bool,
    no_browser: bool,
    timeout: int,
) -> None:
    import socket

    from teamgate.client.taco import CredentialStore, SavedToken

    opts = ctx.find_object(Options)
    assert opts is not None
    if not username and password is None and ttl_days is None:
        config = oidc_login.server_config(opts.server)
        if config is not None:
            _oidc_login(opts, device=device, no_browser=no_browser, timeout=timeout, config=config)
            return
    if device or no_browser:
        raise click.UsageError(
            "--device and --no-browser sign in through the server's identity provider: "
            + ("not with a user name or password" if username or password else "it has none")
        )
    if password is not None and (
        ctx.get_parameter_source("password") is click.core.ParameterSource.COMMANDLINE
    ):
        click.echo(
            "Warning: --password is visible to other users in the process list; "
            "prefer OPENTACO_PASSWORD or the prompt.",
            err=True,
        )
    if not username:
        username = click.prompt("Username", default=os.environ.get("USER") or None, err=True)
    if password is None:
        password = read_password()
    assert username is not None and password is not None
    with opts.client(basic=(username, password)) as client:
        issued = client.issue_token(
            description=f"taco on {socket.gethostname()}", ttl_days=ttl_days
        )
    saved = SavedToken(issued["token"], issued["user"], issued.get("expires_at"), issued.get("id"))
    CredentialStore().save(opts.server, saved)
    oidc_login.forget(oidc_store(), opts.server)  # one sign-in per server: this one
    if opts.json:
        echo_json({k: v for k, v in issued.items() if k != "token"} | {"server": opts.server})
    else:
        click.echo(f"Logged in to {opts.server} as {saved.user} (token expires {saved.expires_at})")


def _oidc_login(opts: Options, **how: Any) -> None:
    """Sign in through the server's identity provider; replaces a password sign-in's token."""
    session, me = oidc_login.sign_in("taco", opts.server, oidc_store(), **how)
    _revoke_saved_token(opts.server)
    if opts.json:
        echo_json(
            {
                "server": opts.server,
                "user": session.user,
                "auth": "oidc",
                "issuer": session.issuer,
                "idp_groups": me.get("idp_groups", []),
                "expires_at": me.get("expires_at") or session.expires_at,
            }
        )
        return
    click.echo(
        f"Logged in to {opts.server} as {session.user} through {session.issuer} "
        f"(ID token expires {oidc_login.expiry_text(session.expires_at)}; renewed with the "
        "refresh token)"
        if session.refresh_token
        else f"Logged in to {opts.server} as {session.user} through {session.issuer} (expires "
        f"{oidc_login.expiry_text(session.expires_at)}; the identity provider gave no refresh "
        "token: run 'taco login' again then)"
    )


def _revoke_saved_token(server: str) -> bool:
    """Revoke on the server the API token a password `taco login` saved, and forget it;
    whether there was one."""
    from teamgate.client.http import ApiError
    from teamgate.client.taco import CredentialStore, TacoClient

    store = CredentialStore()
    saved = store.find(server)
    if saved is None:
        return False
    with TacoClient(server, headers={"Authorization": f"Bearer {saved.token}"}) as client:
        try:
            client.revoke_token()
        except ApiError as exc:
            if exc.status != 401:  # 401: already expired or revoked; forgetting it is enough
                raise
    store.remove(server)
    return True


@cli.command()
@command
@pass_options
def logout(opts: Options) -> None:
    """Forget this server's sign-in: revoke the saved API token on the server, or the
    identity provider's refresh token at the IdP (where it can), and delete them here."""
    from teamgate.client.http import ApiError
    from teamgate.client.taco import CredentialStore, TacoClient

    signed_out = oidc_login.forget(oidc_store(), opts.server) is not None
    store = CredentialStore()
    saved = store.find(opts.server)
    if saved is None:
        click.echo(f"{'Logged out of' if signed_out else 'Not logged in to'} {opts.server}")
        return
    with TacoClient(opts.server, headers={"Authorization": f"Bearer {saved.token}"}) as client:
        try:
            client.revoke_token()
        except ApiError as exc:
            if exc.status != 401:  # 401: already expired or revoked; forgetting it is enough
                raise
    store.remove(opts.server)
    click.echo(f"Logged out of {opts.server}")


@cli.command()
@command
@pass_options
def whoami(opts: Options) -> None:
    """Show the identity the server sees for your credentials: the user, how they signed in,
    their identity provider groups and when the sign-in expires."""
    with opts.client() as client:
        me = client.whoami()
    if opts.json:
        echo_json(me)
        return
    click.echo(f"Server: {opts.server}")
    if not me.get("user"):
        click.echo("User: anonymous (no credentials; run 'taco login')")
        return
    session = oidc_store().find(opts.server) if me.get("auth") == "oidc" else None
    for line in oidc_login.whoami_lines(me, session):
        click.echo(line)


def main() -> None:
    skip_httpx_cli()
    cli(prog_name="taco")
