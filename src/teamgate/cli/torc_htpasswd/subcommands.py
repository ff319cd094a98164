"""The Torc form: `torc-htpasswd add|hash|remove|list|verify`."""

from __future__ import annotations

import os

import click

from teamgate.auth.htpasswd import HtpasswdFile, load_htpasswd, validate_username
from teamgate.auth.passwords import DEFAULT_COST, check_cost, hash_password, verify_password
from teamgate.cli.torc_htpasswd.common import (
    TORC_PREFIX,
    CliError,
    checked_password,
    prompt_secret,
    reported,
)

FILE_OPTION = click.option(
    "-f", "--file", "path", required=True, metavar="FILE", help="The htpasswd file."
)
PASSWORD_OPTION = click.option(
    "-p",
    "--password",
    metavar="PASSWORD",
    help="The password (visible in the process list; prefer the prompt).",
)
COST_OPTION = click.option(
    "-c", "--cost", type=int, default=DEFAULT_COST, show_default=True, help="bcrypt cost, 4 to 31."
)


@click.command("add")
@FILE_OPTION
@click.argument("user")
@PASSWORD_OPTION
@COST_OPTION
def add(path: str, user: str, password: str | None, cost: int) -> None:
    """Add USER to FILE (created if missing), or change USER's password."""
    with reported(TORC_PREFIX):
        validate_username(user)
        check_cost(cost)
        htfile = HtpasswdFile.read(path)
    secret = torc_password(user, password)
    click.echo(f"Hashing password (cost={cost})...")
    with reported(TORC_PREFIX):
        added = htfile.set(user, hash_password(secret, cost=cost))
        htfile.write(path)
    verb = "Added" if added else "Updated"
    click.echo(f"{verb} user '{user}' to \"{path}\"")


@click.command("hash")
@click.argument("user", required=False)
@PASSWORD_OPTION
@COST_OPTION
def hash_(user: str | None, password: str | None, cost: int) -> None:
    """Print USER:HASH (USER defaults to $USER) to send to a server administrator."""
    user = user or os.environ.get("USER") or os.environ.get("USERNAME")
    if not user:
        raise CliError("username not provided and could not read from $USER or $USERNAME")
    with reported(TORC_PREFIX):
        validate_username(user)
        check_cost(cost)
    secret = torc_password(user, password)
    click.echo(f"Hashing password (cost={cost})...", err=True)
    with reported(TORC_PREFIX):
        click.echo(f"{user}:{hash_password(secret, cost=cost)}")
    click.echo("Send the line above to your server administrator.", err=True)


@click.command("remove")
@FILE_OPTION
@click.argument("user")
def remove(path: str, user: str) -> None:
    """Remove USER from FILE."""
    htfile = torc_read_existing(path)
    if not htfile.remove(user):
        raise CliError(f"user '{user}' not found in \"{path}\"")
    with reported(TORC_PREFIX):
        htfile.write(path)
    click.echo(f"Removed user '{user}' from \"{path}\"")


@click.command("list")
@FILE_OPTION
def list_users(path: str) -> None:
    """List the users in FILE."""
    users = torc_read_existing(path).users()
    if not users:
        click.echo(f'No users found in "{path}"')
        return
    click.echo(f'Users in "{path}":')
    for user in users:
        click.echo(f"  - {user}")


@click.command("verify")
@FILE_OPTION
@click.argument("user")
@PASSWORD_OPTION
def verify(path: str, user: str, password: str | None) -> None:
    """Check USER's password against FILE (exit 0 when correct, 1 when not)."""
    with reported("Error loading htpasswd file: "):
        users = load_htpasswd(path)
    secret = torc_password(user, password)
    hashed = users.get(user)
    if hashed is not None and verify_password(secret, hashed):
        click.echo(f"✓ Password is correct for user '{user}'")
        return
    click.echo(f"✗ Password is incorrect for user '{user}'")
    raise click.exceptions.Exit(1)


def torc_read_existing(path: str) -> HtpasswdFile:
    if not os.path.exists(path):
        raise CliError(f'file "{path}" does not exist')
    with reported(TORC_PREFIX):
        return HtpasswdFile.read(path)


def torc_password(user: str, given: str | None) -> str:
    """The password from -p/--password (with a warning) or from one prompt on the terminal."""
    if given is not None:
        click.echo(
            "Warning: a password given with -p/--password is visible to other users in "
            "the process list; prefer the prompt",
            err=True,
        )
        secret = given
    else:
        secret = prompt_secret(
            f"Password for '{user}': ", prefix=TORC_PREFIX, hint="use -p/--password"
        )
    return checked_password(secret, TORC_PREFIX)
