"""bcrypt password hashing: hash, verify, and a dummy verify that costs the same for unknown users.

bcrypt only reads the first 72 bytes of a password. Apache's htpasswd and Torc cut longer passwords
off silently; bcrypt 5 raises instead, so both hashing and verifying truncate the UTF-8 bytes to
72 here, which keeps hashes made by those tools verifiable.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading

import bcrypt

from teamgate.errors import Invalid

MIN_COST = 4
MAX_COST = 31
DEFAULT_COST = 12
MAX_PASSWORD_BYTES = 72
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")

# $2a$/$2b$/$2y$, a two-digit cost in 04..31, then 22 salt and 31 hash characters.
_BCRYPT_SHAPE = re.compile(r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")

_dummy_lock = threading.Lock()
_dummy_hashes: dict[int, bytes] = {}  # cost → a hash of a random secret, made when first needed


def has_bcrypt_prefix(hashed: str) -> bool:
    """True when `hashed` starts like a bcrypt hash ($2a$, $2b$ or $2y$)."""
    return hashed.startswith(BCRYPT_PREFIXES)


def is_bcrypt_hash(hashed: str) -> bool:
    """True when `hashed` has the full shape of a bcrypt hash: `$2x$NN$` and 53 characters."""
    return _BCRYPT_SHAPE.fullmatch(hashed) is not None


def check_cost(cost: int) -> int:
    """Return `cost` if bcrypt accepts it, else raise Invalid."""
    if not MIN_COST <= cost <= MAX_COST:
        raise Invalid(f"cost must be between {MIN_COST} and {MAX_COST}")
    return cost


def hash_password(password: str, *, cost: int = DEFAULT_COST) -> str:
    """Hash `password` with bcrypt at `cost`; the result looks like `$2b$12$...`."""
    check_cost(cost)
    try:
        secret = _encode(password)
    except UnicodeEncodeError:
        raise Invalid("the password contains characters that cannot be encoded as UTF-8") from None
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=cost)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches the bcrypt hash `hashed`; a malformed hash gives False."""
    try:
        if not is_bcrypt_hash(hashed):
            return False
        return bool(bcrypt.checkpw(_encode(password), _normalise(hashed)))
    except (ValueError, TypeError):
        return False


def hash_cost(hashed: str) -> int:
    """The cost of a well-formed bcrypt hash (`$2b$12$...` → 12); DEFAULT_COST otherwise."""
    return int(hashed[4:6]) if is_bcrypt_hash(hashed) else DEFAULT_COST


def dummy_verify(password: str, *, cost: int = DEFAULT_COST) -> None:
    """Spend as long as a real verify at `cost` does, for users that do not exist."""
    with contextlib.suppress(ValueError, TypeError):
        bcrypt.checkpw(_encode(password), _get_dummy_hash(cost))


def _encode(password: str) -> bytes:
    # surrogateescape gives back the original bytes of a password that came from argv or stdin.
    return password.encode("utf-8", "surrogateescape")[:MAX_PASSWORD_BYTES]


def _normalise(hashed: str) -> bytes:
    # $2y$ (PHP, Apache) is the same algorithm as $2b$; older bcrypt releases only know $2b$.
    if hashed.startswith("$2y$"):
        hashed = "$2b$" + hashed[4:]
    return hashed.encode("ascii")


def _get_dummy_hash(cost: int = DEFAULT_COST) -> bytes:
    with _dummy_lock:
        found = _dummy_hashes.get(cost)
        if found is None:
            secret = secrets.token_urlsafe(32).encode("ascii")
            found = _dummy_hashes[cost] = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=cost))
        return found
