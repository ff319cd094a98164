"""API tokens: `tg_<lookup>_<secret>`. The server keeps only SHA-256 of the secret.

The secret has 256 bits of entropy, so a fast hash is enough (no offline guessing); the
lookup part finds the row without scanning.

Each token is bound to the password it was issued against: its row keeps a fingerprint of the
user's htpasswd hash at that time (`password_fingerprint`), and the authenticator accepts the
token only while the user's current entry has the same one. Removing the user from the file or
changing their password (a new hash, with a new salt, even for the same password) ends every
token issued before, in every process reading that file, across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from teamgate.errors import Invalid
from teamgate.storage.db import tokens as store
from teamgate.storage.db.engine import Database
from teamgate.storage.db.util import now_text, utc_text

PREFIX = "tg_"
DEFAULT_TTL_DAYS = 30
MAX_TTL_DAYS = 365


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A token that is known, unexpired and unrevoked; whether its user and password still
    stand is for the authenticator to check against the htpasswd file."""

    id: int
    user: str
    password_fingerprint: str | None  # None: issued before tokens were bound (never accepted)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    id: int
    user: str
    expires_at: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def password_fingerprint(hashed: str) -> str:
    """What a token keeps of its user's htpasswd hash: SHA-256 of the hash, never the hash.

    The bcrypt salt is inside the hash, so the fingerprint gives no way to test passwords.
    """
    return hashlib.sha256(b"teamgate token binding\0" + hashed.encode("utf-8")).hexdigest()


def same_password(token: ValidToken, hashed: str | None) -> bool:
    """True when `token` was issued against `hashed`, the user's current htpasswd hash."""
    if hashed is None or token.password_fingerprint is None:
        return False
    return hmac.compare_digest(token.password_fingerprint, password_fingerprint(hashed))


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and value.count("_") >= 2


def _split(token: str) -> tuple[str, str] | None:
    if not looks_like_token(token):
        return None
    lookup, _, secret = token[len(PREFIX) :].partition("_")
    if len(lookup) != 16 or len(secret) < 32:
        return None
    return lookup, secret


def issue(
    conn: Connection,
    user: str,
    *,
    fingerprint: str,
    description: str | None,
    ttl_days: int,
) -> IssuedToken:
    """Store a new token for `user` in the caller's transaction (`conn`); only then is it valid.

    `fingerprint` is the `password_fingerprint` of the htpasswd hash the caller's password
    was checked against in this request (not the file's entry now, which may have changed).

    The caller owns the transaction so that what goes with the token (its audit record)
    commits or rolls back with it.
    """
    if not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise Invalid(f"ttl_days must be between 1 and {MAX_TTL_DAYS}")
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = utc_text(now + timedelta(days=ttl_days))
    token_id = store.insert_token(
        conn,
        lookup=lookup,
        secret_hash=_digest(secret),
        user=user,
        description=description,
        created_at=utc_text(now),
        expires_at=expires,
        password_fingerprint=fingerprint,
    )
    return IssuedToken(f"{PREFIX}{lookup}_{secret}", token_id, user, expires)


def revoke(conn: Connection, token_id: int) -> bool:
    """Revoke a token in the caller's transaction; False when it was revoked already."""
    return store.revoke_token(conn, token_id, at=now_text())


def revoke_all(conn: Connection, user: str) -> int:
    """Revoke every live token of `user` in the caller's transaction; how many there were."""
    return store.revoke_user_tokens(conn, user, at=now_text())


class TokenService:
    """Checks tokens for the authenticator (issuing and revoking are use cases: see
    services.tokens)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def verify(self, token: str) -> ValidToken | None:
        """The token's row when it is known, unexpired and unrevoked; otherwise None."""
        parts = _split(token)
        if parts is None:
            return None
        lookup, secret = parts
        with self.db.read() as conn:
            row = store.find_token(conn, lookup)
        if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            return None
        # compared as times: tokens issued before milliseconds were stored read `…:SSZ`
        expired = datetime.fromisoformat(row.expires_at) <= datetime.now(UTC)
        if row.revoked_at is not None or expired:
            return None
        return ValidToken(row.id, row.user_name, row.password_fingerprint)
