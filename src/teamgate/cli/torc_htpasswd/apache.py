"""The Apache htpasswd form: `[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]`."""

from __future__ import annotations

import os

import click

from teamgate.auth.htpasswd import HtpasswdFile, validate_username
from teamgate.auth.passwords import DEFAULT_COST, check_cost, hash_password, verify_password
from teamgate.cli.torc_htpasswd.common import (
    APACHE_COMMAND,
    APACHE_PREFIX,
    APACHE_USAGE,
    EXIT_PASSWORD,
    EXIT_USAGE,
    HELP,
    PROG,
    apache_error,
    apache_reported,
    checked_password,
    prompt_secret,
    read_stdin_line,
)


class ApacheCommand(click.Command):
    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(PROG, APACHE_USAGE)


@click.command(APACHE_COMMAND, cls=ApacheCommand, hidden=True, help=HELP)
@click.option("-c", "create", is_flag=True, help="Create FILE, replacing it if it exists.")
@click.option("-b", "batch", is_flag=True, help="Take PASSWORD from the command line.")
@click.option("-i", "from_stdin", is_flag=True, help="Read the password from standard input.")
@click.option("-D", "delete", is_flag=True, help="Delete USER.")
@click.option("-v", "verify", is_flag=True, help="Check USER's password.")
@click.option("-C", "cost", type=int, default=DEFAULT_COST, metavar="COST", help="bcrypt cost.")
@click.argument("path", metavar="FILE")
@click.argument("user")
@click.argument("password", required=False)
def apache(
    create: bool,
    batch: bool,
    from_stdin: bool,
    delete: bool,
    verify: bool,
    cost: int,
    path: str,
    user: str,
    password: str | None,
) -> None:
    check_apache_flags(
        create=create,
        batch=batch,
        from_stdin=from_stdin,
        delete=delete,
        verify=verify,
        password=password,
    )
    with apache_reported():
        validate_username(user, reserved_ok=delete)  # -D may remove a name the server refuses
        check_cost(cost)
    if delete:
        apache_delete(path, user)
    elif verify:
        apache_verify(path, user, given=password, from_stdin=from_stdin)
    else:
        htfile = HtpasswdFile() if create else apache_read(path, action="modify")
        secret = apache_password(given=password, from_stdin=from_stdin, confirm=True)
        apache_set(htfile, path, user, secret, cost=cost)


def check_apache_flags(
    *,
    create: bool,
    batch: bool,
    from_stdin: bool,
    delete: bool,
    verify: bool,
    password: str | None,
) -> None:
    """Refuse flag combinations that make no sense, before anything is read or asked."""
    conflicts = [
        (create and delete, "-c and -D cannot be used together"),
        (create and verify, "-c and -v cannot be used together"),
        (delete and verify, "-D and -v cannot be used together"),
        (batch and from_stdin, "-b and -i cannot be used together"),
        (delete and (batch or from_stdin), "-D does not take a password"),
        (batch and password is None, "-b needs the password as the last argument"),
        (not batch and password is not None, "too many arguments (use -b to pass a password)"),
    ]
    for conflict, message in conflicts:
        if conflict:
            raise apache_error(message, EXIT_USAGE)


def apache_read(path: str, *, action: str) -> HtpasswdFile:
    if not os.path.exists(path):
        hint = "; use '-c' to create it" if action == "modify" else ""
        raise apache_error(f"cannot {action} file {path}{hint}")
    with apache_reported():
        return HtpasswdFile.read(path)


def apache_password(*, given: str | None, from_stdin: bool, confirm: bool) -> str:
    """The password from -b, from -i, or from the terminal (asked twice when `confirm`)."""
    if given is not None:
        click.echo(
            f"{PROG}: warning: a password given with -b is visible to other users "
            "in the process list; prefer the prompt or -i",
            err=True,
        )
        return checked_password(given, APACHE_PREFIX)
    if from_stdin:
        return checked_password(read_stdin_line(APACHE_PREFIX), APACHE_PREFIX)
    hint = "use -i to read the password from standard input"
    prompt = "New password: " if confirm else "Enter password: "
    secret = checked_password(prompt_secret(prompt, prefix=APACHE_PREFIX, hint=hint), APACHE_PREFIX)
    if (
        confirm
        and prompt_secret("Re-type new password: ", prefix=APACHE_PREFIX, hint=hint) != secret
    ):
        raise apache_error("password verification error", EXIT_PASSWORD)
    return secret


def apache_set(htfile: HtpasswdFile, path: str, user: str, secret: str, *, cost: int) -> None:
    with apache_reported():
        added = htfile.set(user, hash_password(secret, cost=cost))
        htfile.write(path)
    verb = "Adding" if added else "Updating"
    click.echo(f"{verb} password for user {user}", err=True)


def apache_delete(path: str, user: str) -> None:
    htfile = apache_read(path, action="read")
    if not htfile.remove(user):
        raise apache_error(f"user {user} not found in {path}")
    with apache_reported():
        htfile.write(path)
    click.echo(f"Deleting password for user {user}", err=True)


def apache_verify(path: str, user: str, *, given: str | None, from_stdin: bool) -> None:
    hashed = apache_read(path, action="read").get(user)
    if hashed is None:
        raise apache_error(f"user {user} not found in {path}")
    secret = apache_password(given=given, from_stdin=from_stdin, confirm=False)
    if not verify_password(secret, hashed):
        raise apache_error("password verification failed", EXIT_PASSWORD)
    click.echo(f"Password for user {user} correct.", err=True)
