"""API tokens: `tg_<lookup>_<secret>`. The server keeps only SHA-256 of the secret.

The secret has 256 bits of entropy, so a fast hash is enough (no offline guessing); the
lookup part finds the row without scanning.
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

PREFIX = "tg_"
DEFAULT_TTL_DAYS = 30
MAX_TTL_DAYS = 365


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    id: int
    user: str
    expires_at: str


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and value.count("_") >= 2


def _split(token: str) -> tuple[str, str] | None:
    if not looks_like_token(token):
        return None
    lookup, _, secret = token[len(PREFIX) :].partition("_")
    if len(lookup) != 16 or len(secret) < 32:
        return None
    return lookup, secret


def issue(conn: Connection, user: str, *, description: str | None, ttl_days: int) -> IssuedToken:
    """Store a new token for `user` in the caller's transaction (`conn`); only then is it valid.

    The caller owns the transaction so that what goes with the token (its audit record)
    commits or rolls back with it.
    """
    if not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise Invalid(f"ttl_days must be between 1 and {MAX_TTL_DAYS}")
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = _iso(now + timedelta(days=ttl_days))
    token_id = store.insert_token(
        conn,
        lookup=lookup,
        secret_hash=_digest(secret),
        user=user,
        description=description,
        created_at=_iso(now),
        expires_at=expires,
    )
    return IssuedToken(f"{PREFIX}{lookup}_{secret}", token_id, user, expires)


def revoke(conn: Connection, token_id: int) -> bool:
    """Revoke a token in the caller's transaction; False when it was revoked already."""
    return store.revoke_token(conn, token_id, at=_iso(datetime.now(UTC)))


class TokenService:
    """Checks tokens for the authenticator (issuing and revoking are use cases: see
    services.tokens)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def verify(self, token: str) -> tuple[str, int] | None:
        """(user, token id) for a valid, unexpired, unrevoked token; otherwise None."""
        parts = _split(token)
        if parts is None:
            return None
        lookup, secret = parts
        with self.db.read() as conn:
            row = store.find_token(conn, lookup)
        if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            return None
        if row.revoked_at is not None or row.expires_at <= _iso(datetime.now(UTC)):
            return None
        return row.user_name, row.id
