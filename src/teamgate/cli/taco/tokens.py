"""`taco token revoke --user NAME`: end every API token of one user (an administrator, or the
user themselves)."""

from __future__ import annotations

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json
from teamgate.cli.taco.common import AliasGroup, Options, command, pass_options


@click.group(cls=AliasGroup, epilog=examples("taco token revoke --user mallory"))
def token() -> None:
    """API tokens (your own: 'taco login' and 'taco logout')."""


@token.command(
    "revoke",
    epilog=examples("taco token revoke --user mallory", "taco -o json token revoke -u mallory"),
)
@click.option("--user", "-u", required=True, help="The user whose tokens to revoke.")
@command
@pass_options
def token_revoke(opts: Options, user: str) -> None:
    """Revoke every API token of a user (a system administrator, or that user).

    Removing a user from the htpasswd file or changing their password already ends their
    tokens; this ends them without touching the file (a token thought to be leaked).
    """
    with opts.client() as client:
        result = client.revoke_user_tokens(user)
    if opts.json:
        echo_json(result)
        return
    click.echo(result.get("message", f"Revoked the tokens of user '{user}'"))
