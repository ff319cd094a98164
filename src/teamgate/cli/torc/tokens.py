"""`torc tokens create|list|revoke`: API tokens of your own (scoped if you like), and for a
system administrator anyone's (as `taco token`)."""

from __future__ import annotations

from typing import Any

import click

from teamgate.cli import tokens as tokens_cli
from teamgate.cli.common import examples
from teamgate.cli.output import echo_json
from teamgate.cli.torc.common import Options, command, pass_options


@click.group(
    epilog=examples(
        "torc tokens create --name ci --workflow 7 --expires 12h",
        "torc tokens list",
        "torc tokens revoke 12",
    )
)
def tokens() -> None:
    """API tokens: create (scoped if you like), list and revoke them."""


@tokens.command(
    "create",
    help=tokens_cli.CREATE_HELP,
    epilog=examples(
        "torc tokens create --name ci --expires 30d",
        "torc tokens create --name watcher --read-only --workflow 7",
        "torc -f json tokens create --workflow 7 | jq -r .token",
    ),
)
@tokens_cli.create_options
@command
@pass_options
def tokens_create(opts: Options, /, **values: Any) -> None:
    with opts.client() as client:
        issued = client.create_token(tokens_cli.create_body(values))
    tokens_cli.show_created(issued, json=opts.json)


@tokens.command(
    "list",
    epilog=examples(
        "torc tokens list", "torc tokens list --user carol", "torc -f json tokens list --all"
    ),
)
@tokens_cli.list_options
@command
@pass_options
def tokens_list(opts: Options, user: str | None, everyone: bool, limit: int) -> None:
    """List your API tokens, newest first: name, lookup prefix (never the secret), when it
    was created and last used, its expiry, scope and state. Runner tokens are listed too."""
    with opts.client() as client:
        page = tokens_cli.fetch(client, user=user, everyone=everyone, limit=limit)
    tokens_cli.show_list(page, json=opts.json, everyone=everyone or user is not None)


@tokens.command("revoke", epilog=examples("torc tokens revoke 12", "torc -f json tokens revoke 12"))
@click.argument("token_id", type=click.IntRange(0))
@command
@pass_options
def tokens_revoke(opts: Options, token_id: int) -> None:
    """Revoke one API token by its ID ('torc tokens list'): yours, or anyone's for a system
    administrator."""
    with opts.client() as client:
        result = client.revoke_token_id(token_id)
    echo_json(result) if opts.json else click.echo(result["message"])
