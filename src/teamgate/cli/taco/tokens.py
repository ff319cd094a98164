"""`taco token create|list|revoke`: API tokens of your own (scoped if you like), and for a
system administrator anyone's; `taco token revoke --user NAME` ends all of one user's."""

from __future__ import annotations

import os
from typing import Any

import click

from teamgate.cli import tokens
from teamgate.cli.common import examples, read_password
from teamgate.cli.output import echo_json
from teamgate.cli.taco.common import AliasGroup, Options, command, pass_options


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "taco token create --name ci --expires 30d --unit-prefix dev",
        "taco token list",
        "taco token revoke 12",
        "taco token revoke --user mallory",
    ),
)
def token() -> None:
    """API tokens ('taco login' saves one; 'taco logout' revokes it)."""


@token.command(
    "create",
    help=tokens.CREATE_HELP,
    epilog=examples(
        "taco token create --name ci --expires 30d",
        "taco token create --name reader --read-only --expires 12h",
        "taco token create --name dev-state --unit-prefix dev",
        "taco token create --workflow 7 -o json | jq -r .token",
    ),
)
@tokens.create_options
@click.option(
    "--username",
    envvar="OPENTACO_USERNAME",
    help="[env: OPENTACO_USERNAME] Who signs in (default: $USER).",
)
@command
@pass_options
@click.pass_context
def token_create(ctx: click.Context, opts: Options, /, username: str | None, **values: Any) -> None:
    explicit = ctx.get_parameter_source("username") is not click.core.ParameterSource.DEFAULT
    if not explicit and "OPENTACO_PASSWORD" not in os.environ:
        from teamgate.cli.taco.common import oidc_store

        if oidc_store().find(opts.server) is not None:  # signed in through the IdP
            with opts.client() as client:
                issued = client.create_token(tokens.create_body(values))
            tokens.show_created(issued, json=opts.json)
            return
    username = username or os.environ.get("USER")
    if not username:
        raise click.UsageError("no user name: set OPENTACO_USERNAME or pass --username")
    password = os.environ.get("OPENTACO_PASSWORD")
    if password is None:
        password = read_password()
    with opts.client(basic=(username, password)) as client:
        issued = client.create_token(tokens.create_body(values))
    tokens.show_created(issued, json=opts.json)


@token.command(
    "list",
    epilog=examples(
        "taco token list", "taco token list --user carol", "taco -o json token list --all"
    ),
)
@tokens.list_options
@command
@pass_options
def token_list(opts: Options, user: str | None, everyone: bool, limit: int) -> None:
    """List your API tokens, newest first: name, lookup prefix (never the secret), when it
    was created and last used, its expiry, scope and state. Runner tokens are listed too."""
    with opts.client() as client:
        page = tokens.fetch(client, user=user, everyone=everyone, limit=limit)
    tokens.show_list(page, json=opts.json, everyone=everyone or user is not None)


@token.command(
    "revoke",
    epilog=examples(
        "taco token revoke 12",
        "taco token revoke --user mallory",
        "taco -o json token revoke -u mallory",
    ),
)
@click.argument("token_id", type=click.IntRange(0), required=False)
@click.option("--user", "-u", help="Revoke every token of this user instead.")
@command
@pass_options
def token_revoke(opts: Options, token_id: int | None, user: str | None) -> None:
    """Revoke one API token by its ID ('taco token list'), or every token of a user.

    Your own tokens, or anyone's for a system administrator. Removing a user from the htpasswd
    file or changing their password already ends their tokens; --user ends them without
    touching the file (a token thought to be leaked).
    """
    if (token_id is None) == (user is None):
        raise click.UsageError("give a token ID or --user NAME (one of them)")
    with opts.client() as client:
        if user is not None:
            result = client.revoke_user_tokens(user)
        else:
            assert token_id is not None
            result = client.revoke_token_id(token_id)
    if opts.json:
        echo_json(result)
        return
    click.echo(result.get("message", f"Revoked the tokens of user '{user}'"))
