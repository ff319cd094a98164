"""htpasswd files of `user:bcrypt-hash` lines: strict loading for the server, and editing that
keeps comments, blank lines and order for `torc-htpasswd`.

Format: one `user:hash` per line, split at the first `:`, both sides stripped; blank lines and
lines starting with `#` are ignored. Only bcrypt hashes ($2a$, $2b$, $2y$) are accepted, and a user
may appear only once: a second entry is an error rather than a silent override. The name
`anonymous` is reserved (it stands for callers without credentials), so no entry may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass

from teamgate.auth.passwords import has_bcrypt_prefix, is_bcrypt_hash
from teamgate.domain.identity import ANONYMOUS
from teamgate.domain.text import has_control, padded
from teamgate.errors import ConfigError, Invalid

FILE_MODE = 0o600
RESERVED = (
    f"the user name '{ANONYMOUS}' is reserved for callers without credentials; choose another name"
)


class HtpasswdError(ConfigError):
    """An htpasswd file that cannot be read, parsed or written; the message names file and line."""


@dataclass(frozen=True)
class _Line:
    """One line of the file as written, and the entry on it (`user` is None for comments)."""

    text: str
    user: str | None = None
    hashed: str = ""


def parse_htpasswd(text: str, *, source: str) -> dict[str, str]:
    """Parse htpasswd text into {user: hash}; `source` names the file in error messages."""
    return {line.user: line.hashed for line in _parse_lines(text, source) if line.user is not None}


def load_htpasswd(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse an htpasswd file; a file without users is an error too."""
    source = os.fspath(path)
    try:
        text = _read_text(source)
    except (OSError, UnicodeDecodeError) as exc:
        raise _read_error(source, exc) from None
    users = parse_htpasswd(text, source=source)
    if not users:
        raise HtpasswdError(f"no users in htpasswd file {source}")
    return users


def validate_username(user: str, *, reserved_ok: bool = False) -> str:
    """Return `user` if it can be written as an htpasswd entry and read back unchanged.

    `reserved_ok` lets `anonymous` through, for removing an entry the server refuses.
    """
    if not user:
        raise Invalid("the user name must not be empty")
    if ":" in user:
        raise Invalid(f"the user name {user!r} must not contain ':'")
    if has_control(user):
        raise Invalid(f"the user name {user!r} must not contain line breaks or control characters")
    if padded(user):
        raise Invalid(f"the user name {user!r} must not start or end with whitespace")
    if user.startswith("#"):
        raise Invalid(
            f"the user name {user!r} must not start with '#' (it would read as a comment)"
        )
    if user == ANONYMOUS and not reserved_ok:
        raise Invalid(RESERVED)
    return user


class HtpasswdFile:
    """An htpasswd file being edited: entries change in place; everything else is kept as is."""

    def __init__(self) -> None:
        self._lines: list[_Line] = []

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> HtpasswdFile:
        """Read and validate `path`; a missing file gives an empty HtpasswdFile."""
        source = os.fspath(path)
        htfile = cls()
        try:
            text = _read_text(source)
        except FileNotFoundError:
            return htfile
        except (OSError, UnicodeDecodeError) as exc:
            raise _read_error(source, exc) from None
        # The reserved name is let through here, so that `torc-htpasswd -D` can remove it.
        htfile._lines = _parse_lines(text, source, reserved_ok=True)
        return htfile

    def users(self) -> list[str]:
        """The user names, in file order."""
        return [line.user for line in self._lines if line.user is not None]

    def get(self, user: str) -> str | None:
        """The hash stored for `user`, or None."""
        index = self._find(user)
        return None if index is None else self._lines[index].hashed

    def set(self, user: str, hashed: str) -> bool:
        """Store `hashed` for `user`: True when the user was added, False when updated in place."""
        validate_username(user)
        if not is_bcrypt_hash(hashed):
            raise Invalid(f"the password hash for user '{user}' is not a bcrypt hash")
        line = _Line(f"{user}:{hashed}", user, hashed)
        index = self._find(user)
        if index is None:
            self._lines.append(line)
            return True
        self._lines[index] = line
        return False

    def remove(self, user: str) -> bool:
        """Delete `user`'s line; False when there was no such user."""
        index = self._find(user)
        if index is None:
            return False
        del self._lines[index]
        return True

    def render(self) -> str:
        """The file's text as `write` would store it."""
        return "".join(f"{line.text}\n" for line in self._lines)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Replace `path` atomically with mode 0600, creating its directory if missing."""
        source = os.fspath(path)
        try:
            _write_atomically(source, self.render())
        except OSError as exc:
            raise HtpasswdError(f"cannot write htpasswd file {source}: {_reason(exc)}") from None

    def _find(self, user: str) -> int | None:
        for index, line in enumerate(self._lines):
            if line.user == user:
                return index
        return None


def _parse_lines(text: str, source: str, *, reserved_ok: bool = False) -> list[_Line]:
    lines: list[_Line] = []
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(_split_lines(text), start=1):
        line = _parse_line(raw, f"{source} line {number}")
        if line.user == ANONYMOUS and not reserved_ok:
            raise HtpasswdError(f"{source} line {number}: {RESERVED}")
        if line.user is not None:
            first = first_seen.setdefault(line.user, number)
            if first != number:
                raise HtpasswdError(
                    f"{source} line {number}: duplicate user '{line.user}' "
                    f"(already defined on line {first})"
                )
        lines.append(line)
    return lines


def _parse_line(raw: str, where: str) -> _Line:
    stripped = raw.strip()
    if not stripped or stripped.startswith("#"):
        return _Line(raw)
    user, colon, hashed = stripped.partition(":")
    user, hashed = user.strip(), hashed.strip()
    if not colon:
        raise HtpasswdError(f"{where}: expected 'username:hash'")
    if not user:
        raise HtpasswdError(f"{where}: empty username")
    if not has_bcrypt_prefix(hashed):
        raise HtpasswdError(
            f"{where}: password hash for user '{user}' is not a bcrypt hash "
            "(must start with $2a$, $2b$ or $2y$)"
        )
    if not is_bcrypt_hash(hashed):
        raise HtpasswdError(
            f"{where}: password hash for user '{user}' is not a well-formed bcrypt hash "
            "(expected $2b$NN$ followed by 53 characters, cost 04 to 31)"
        )
    return _Line(raw, user, hashed)


def _split_lines(text: str) -> list[str]:
    # Only \n, \r\n and \r end a line, so line numbers match what an editor shows.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _read_text(source: str) -> str:
    # utf-8-sig: a byte-order mark left by a Windows editor must not become part of a user name.
    with open(source, encoding="utf-8-sig") as stream:
        return stream.read()


def _read_error(source: str, exc: OSError | UnicodeDecodeError) -> HtpasswdError:
    if isinstance(exc, UnicodeDecodeError):
        reason = f"not UTF-8 text (invalid byte at offset {exc.start})"
    else:
        reason = _reason(exc)
    return HtpasswdError(f"cannot read htpasswd file {source}: {reason}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _write_atomically(path: str, text: str) -> None:
    # Write through a symlink to its target, so a linked file stays linked.
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            os.fchmod(stream.fileno(), FILE_MODE)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; some filesystems cannot fsync a directory, which is fine.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
