"""`torc-htpasswd`: create and edit htpasswd files, in Apache's form and in Torc's subcommand form.

The first argument that is not an option picks the form: a Torc subcommand name selects that
subcommand; anything else is Apache's `[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import click

from teamgate.auth.htpasswd import HtpasswdFile, load_htpasswd, validate_username
from teamgate.auth.passwords import DEFAULT_COST, check_cost, hash_password, verify_password
from teamgate.errors import Invalid, TeamgateError

PROG = "torc-htpasswd"
APACHE_COMMAND = "apache"
TORC_SUBCOMMANDS = frozenset({"add", "hash", "remove", "list", "verify"})
APACHE_PREFIX = f"{PROG}: "
TORC_PREFIX = "Error: "
APACHE_USAGE = "[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]"

# Apache htpasswd's exit codes: 1 file problem, 2 bad usage, 3 password verification failed.
EXIT_FILE = 1
EXIT_USAGE = 2
EXIT_PASSWORD = 3

HELP = f"""Create and edit htpasswd files of bcrypt password hashes (for torc-server --auth-file).

Two forms are accepted. If the first argument that is not an option is one of add, hash, remove,
list or verify, it is a Torc subcommand; otherwise it is the Apache htpasswd form. Note that -c
means "create" in the Apache form and "cost" in the Torc form.

\b
Apache htpasswd form:
  {PROG} {APACHE_USAGE}
    -c        create FILE, replacing it if it exists
    -b        take PASSWORD from the command line (visible in the process list)
    -i        read the password from standard input (one line, no prompt)
    -D        delete USER
    -v        check USER's password
    -C COST   bcrypt cost, 4 to 31 (default {DEFAULT_COST})
  Without -b or -i the password is asked for twice on the terminal, without echo.

\b
Torc form:
  {PROG} add -f FILE USER [-p PASSWORD] [-c COST]
  {PROG} hash [USER] [-p PASSWORD] [-c COST]
  {PROG} remove -f FILE USER
  {PROG} list -f FILE
  {PROG} verify -f FILE USER [-p PASSWORD]

\b
Examples:
  {PROG} -c /etc/torc/htpasswd alice     create the file with user alice
  {PROG} /etc/torc/htpasswd bob          add bob, or change his password
  {PROG} -D /etc/torc/htpasswd bob       delete bob
  {PROG} -v /etc/torc/htpasswd alice     check alice's password
  {PROG} -i /etc/torc/htpasswd carol < pw.txt
  {PROG} hash alice                      print alice:HASH to send to an administrator
  {PROG} add -f /etc/torc/htpasswd dave
  {PROG} list -f /etc/torc/htpasswd

Files are replaced atomically with mode 0600; comments, blank lines and order are kept.
For a file named like a subcommand, write ./add.
"""


class CliError(Exception):
    """An error that `main` prints as one line on stderr (`prefix` + message) before exiting."""

    def __init__(self, message: str, *, prefix: str = TORC_PREFIX, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.prefix = prefix
        self.exit_code = exit_code

    def show(self) -> None:
        click.echo(f"{self.prefix}{self.message}", err=True)


def apache_error(message: str, exit_code: int = EXIT_FILE) -> CliError:
    return CliError(message, prefix=APACHE_PREFIX, exit_code=exit_code)


@contextlib.contextmanager
def reported(prefix: str, *, file_exit: int = 1, invalid_exit: int = 1) -> Iterator[None]:
    """Turn teamgate errors raised inside into one-line CLI errors."""
    try:
        yield
    except Invalid as exc:
        raise CliError(exc.message, prefix=prefix, exit_code=invalid_exit) from None
    except TeamgateError as exc:
        raise CliError(exc.message, prefix=prefix, exit_code=file_exit) from None


def apache_reported() -> contextlib.AbstractContextManager[None]:
    return reported(APACHE_PREFIX, file_exit=EXIT_FILE, invalid_exit=EXIT_USAGE)


class HtpasswdCommand(click.Group):
    """Routes the Apache form to a hidden subcommand and prints every error as one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:
            click.echo(ctx.get_help(), err=True)
            ctx.exit(EXIT_USAGE)
        if is_apache_form(args):
            args = [APACHE_COMMAND, *args]
        return super().parse_args(ctx, args)

    def main(  # type: ignore[override]  # always exits, never returns
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name or PROG, standalone_mode=False, **extra)
        except CliError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"{PROG}: {exc.format_message()} (see '{PROG} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(f"{PROG}: interrupted; nothing was changed", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


class ApacheCommand(click.Command):
    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(PROG, APACHE_USAGE)


def is_apache_form(args: Sequence[str]) -> bool:
    """True unless the first non-option argument names a Torc subcommand (or only help is asked)."""
    positional = first_positional(args)
    if positional is None:
        return not any(arg in ("-h", "--help") for arg in args)
    return positional not in TORC_SUBCOMMANDS


def first_positional(args: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor the value of Apache's -C."""
    remaining = iter(args)
    for arg in remaining:
        if arg == "--":
            return next(remaining, None)
        if not arg.startswith("-") or arg == "-":
            return arg
        # -C takes a value: `-C 10`, `-bC 10`; `-C10` carries it inline.
        if not arg.startswith("--") and arg.endswith("C"):
            next(remaining, None)
    return None


@click.group(
    cls=HtpasswdCommand,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def main() -> None:
    pass


# --- Apache form --------------------------------------------------------------------------------


@main.command(APACHE_COMMAND, cls=ApacheCommand, hidden=True, help=HELP)
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
        validate_username(user)
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


# --- Torc form ----------------------------------------------------------------------------------

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


@main.command("add")
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


@main.command("hash")
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


@main.command("remove")
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


@main.command("list")
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


@main.command("verify")
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


# --- Reading passwords --------------------------------------------------------------------------


def prompt_secret(prompt: str, *, prefix: str, hint: str) -> str:
    """Ask on the controlling terminal without echo; refuse rather than read a visible stdin."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise CliError(f"no terminal to ask for a password; {hint}", prefix=prefix) from None


def read_stdin_line(prefix: str) -> str:
    line = sys.stdin.buffer.readline()
    if not line:
        raise CliError("no password on standard input", prefix=prefix)
    return line.decode("utf-8", "surrogateescape").rstrip("\r\n")


def checked_password(secret: str, prefix: str) -> str:
    if not secret:
        raise CliError("the password must not be empty", prefix=prefix, exit_code=EXIT_USAGE)
    return secret
