"""`torc login`, `torc logout` and `torc whoami`: signing in through the server's identity
provider (cli/oidc_login.py, shared with taco). TORC_PASSWORD, when set, still wins."""

from __future__ import annotations

import click

from teamgate.cli import oidc_login
from teamgate.cli.common import examples
from teamgate.cli.output import echo_json
from teamgate.cli.torc.common import Options, command, oidc_store, pass_options


@click.command(
    help=f"""Sign in through the server's identity provider and save the sign-in for it.

{oidc_login.LOGIN_HELP}

Commands then use it whenever TORC_PASSWORD is not set. Servers without an identity provider
take TORC_USERNAME and TORC_PASSWORD instead.""",
    epilog=examples(
        "torc login",
        "torc login --device",
        "torc --url https://torc.example.com/torc-service/v1 login --no-browser",
    ),
)
@oidc_login.login_options
@command
@pass_options
def login(opts: Options, device: bool, no_browser: bool, timeout: int) -> None:
    session, me = oidc_login.sign_in(
        "torc", opts.url, oidc_store(), device=device, no_browser=no_browser, timeout=timeout
    )
    if opts.json:
        fields = {"user": session.user, "auth": "oidc", "issuer": session.issuer}
        echo_json(
            fields
            | {
                "idp_groups": me.get("idp_groups", []),
                "expires_at": me.get("expires_at") or session.expires_at,
            }
        )
        return
    click.echo(
        f"Logged in as {session.user} through {session.issuer} "
        f"(ID token expires {oidc_login.expiry_text(session.expires_at)}"
        + ("; renewed with the refresh token)" if session.refresh_token else ")")
    )


@click.command(epilog=examples("torc logout"))
@command
@pass_options
def logout(opts: Options) -> None:
    """Forget the identity-provider sign-in saved for this server (its refresh token is
    revoked at the IdP where the IdP can)."""
    from teamgate.client.oidc_sessions import server_key

    gone = oidc_login.forget(oidc_store(), opts.url)
    click.echo(f"{'Logged out of' if gone else 'Not logged in to'} {server_key(opts.url)}")


@click.command(epilog=examples("torc whoami", "torc -f json whoami"))
@command
@pass_options
def whoami(opts: Options) -> None:
    """Show the identity the server sees: the user, how they signed in, their identity
    provider groups and when the sign-in expires."""
    with opts.client() as client:
        me = client.whoami()
    if opts.json:
        echo_json(me)
        return
    if not me.get("user"):
        click.echo("User: anonymous (no credentials: run 'torc login' or set TORC_PASSWORD)")
        return
    session = opts.session() if me.get("auth") == "oidc" else None
    for line in oidc_login.whoami_lines(me, session):
        click.echo(line)
