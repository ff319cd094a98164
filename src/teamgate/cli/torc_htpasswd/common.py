"""What both forms of `torc-htpasswd` share: names, help, one-line errors, reading passwords."""

from __future__ import annotations

import contextlib
import getpass
import sys
import warnings
from collections.abc import Iterator

import click

from teamgate.auth.passwords import DEFAULT_COST
from teamgate.errors import Invalid, TeamgateError

PROG = "torc-htpasswd"
APACHE_COMMAND = "apache"
TORC_SUBCOMMANDS = frozenset({"add", "hash", "remove", "list", "verify", "completion"})
APACHE_PREFIX = f"{PROG}: "
TORC_PREFIX = "Error: "
APACHE_USAGE = "[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]"

# Apache htpasswd's exit codes: 1 file problem, 2 bad usage, 3 password verification failed.
EXIT_FILE = 1
EXIT_USAGE = 2
EXIT_PASSWORD = 3

HELP = f"""Create and edit htpasswd files of bcrypt password hashes (for torc-server --auth-file).

Two forms are accepted. If the first argument that is not an option is one of add, hash, remove,
list, verify or completion, it is a Torc subcommand; otherwise it is the Apache htpasswd form.
Note that -c means "create" in the Apache form and "cost" in the Torc form.

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
  {PROG} completion bash|zsh|fish       print a shell completion script

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
  eval "$({PROG} completion bash)"

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

    def show(self, guess: str | None = None) -> None:
        """One line on stderr; `guess` (a did-you-mean) is added to it."""
        message = f"{self.message.rstrip('.')}; {guess}" if guess else self.message
        click.echo(f"{self.prefix}{message}", err=True)


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
