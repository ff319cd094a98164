"""`token create|list|revoke`, shared by taco (`taco token`) and torc (`torc tokens`): the
options, the request bodies and how tokens are shown. The secret is printed once, at
creation; a list shows each token's lookup prefix (`tg_<lookup>`), never its secret."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import click

from teamgate.cli.output import echo_json, render_table

F = TypeVar("F", bound=Callable[..., Any])

HEADERS = ("ID", "Name", "Lookup", "Created", "Last used", "Expires", "Scope", "State")
CREATE_HELP = """Create an API token of yours (sign in with your password, or through the
identity provider with 'login' first; not with a token).

After an identity-provider sign-in, the token carries the IdP groups you have now and lives at
most 7 days: Terraform's http backend takes it as TF_HTTP_PASSWORD (with TF_HTTP_USERNAME your
user name).

The token is printed once: the server keeps only a hash of it. A scope bounds what the token
may do, whatever you may: --read-only (reads only), --unit-prefix P (units at P or under
'P/', nothing else), --workflow ID (that workflow only). Send it as 'Authorization: Bearer
<token>', or as the password with your user name.
"""


def create_options(func: F) -> F:
    """The options of `token create` (see `create_body`)."""
    options = [
        click.option("--name", help="A name to tell the token by in 'token list'."),
        click.option(
            "--expires",
            metavar="TTL",
            help="Lifetime: a number and h, d, w or y, e.g. 12h, 30d, 1y "
            "(default 30d; at most the server's maximum, 365d).",
        ),
        click.option("--read-only", is_flag=True, help="The token may only read."),
        click.option("--unit-prefix", metavar="PATH", help="The token reaches only these units."),
        click.option(
            "--workflow",
            "workflow_id",
            type=click.IntRange(0),
            help="The token reaches only this workflow.",
        ),
        click.option("--description", help="A longer note kept with the token."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def create_body(values: dict[str, Any]) -> dict[str, Any]:
    """The POST body for `token create`'s options (unset ones left out)."""
    body: dict[str, Any] = {
        "name": values.get("name"),
        "ttl": values.get("expires"),
        "unit_prefix": values.get("unit_prefix"),
        "workflow_id": values.get("workflow_id"),
        "description": values.get("description"),
    }
    if values.get("read_only"):
        body["read_only"] = True
    return {k: v for k, v in body.items() if v is not None}


def show_created(issued: dict[str, Any], *, json: bool) -> None:
    """The new token, once: its secret on stdout (alone, for `$(...)`), the rest on stderr."""
    if json:
        echo_json(issued)
        return
    click.echo(issued["token"])
    named = f" '{issued['name']}'" if issued.get("name") else ""
    click.echo(
        f"Token {issued['id']}{named} of {issued['user']}, scope: {issued.get('scope')}, "
        f"expires {when(issued.get('expires_at'))}. It is shown only now: store it safely.",
        err=True,
    )


def list_options(func: F) -> F:
    options = [
        click.option("--user", "-u", help="Another user's tokens (system administrators)."),
        click.option("--all", "everyone", is_flag=True, help="Everyone's (administrators)."),
        click.option(
            "--limit",
            type=click.IntRange(1, 10_000),
            default=100,
            show_default=True,
            help="Most tokens to show (the newest).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _TokenClient(Protocol):
    def list_tokens(self, **params: Any) -> Any: ...


def fetch(client: _TokenClient, *, user: str | None, everyone: bool, limit: int) -> Any:
    if user is not None and everyone:
        raise click.UsageError("give --user or --all, not both")
    return client.list_tokens(user=user, all=True if everyone else None, limit=limit)


def show_list(page: dict[str, Any], *, json: bool, everyone: bool) -> None:
    items = page["items"]
    if json:
        echo_json(items)
        return
    if not items:
        click.echo("No tokens found")
        return
    headers = ("User", *HEADERS) if everyone else HEADERS
    rows = [(t["user"], *row(t)) if everyone else row(t) for t in items]
    click.echo(render_table(headers, rows))
    more = f" (newest {len(items)} shown: raise --limit)" if page.get("has_more") else ""
    click.echo(f"\nTotal: {page.get('total_count', len(items))}{more}")


def when(value: Any) -> str:
    from teamgate.cli.taco.common import when as shown  # not at import: taco imports this

    return shown(value)


def row(token: dict[str, Any]) -> tuple[Any, ...]:
    return (
        token["id"],
        token.get("name") or "",
        token["lookup"],
        when(token["created_at"]),
        when(token.get("last_used_at")) or "never",
        when(token["expires_at"]),
        token["scope"],
        token["state"],
    )
