"""API tokens: `tg_<lookup>_<secret>`. The server keeps only SHA-256 of the secret.

The secret has 256 bits of entropy, so a fast hash is enough (no offline guessing); the
lookup part finds the row without scanning.

Each token is bound to the password it was issued against: its row keeps a fingerprint of the
user's htpasswd hash at that time (`password_fingerprint`), and the authenticator accepts the
token only while the user's current entry has the same one. Removing the user from the file or
changing their password (a new hash, with a new salt, even for the same password) ends every
token issued before, in every process reading that file, across restarts.

A runner token (`issue_runner`) is bound the same way and also names one workflow: its caller
gets that workflow as scope (see `domain.policy`). It lives hours, not days, and is revoked
when its workflow completes, is canceled or deleted.
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
RUNNER_DEFAULT_TTL_HOURS = 168.0  # a week: a queued Slurm job may wait days to start
RUNNER_MAX_TTL_HOURS = 720.0


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A token that is known, unexpired and unrevoked; whether its user and password still
    stand is for the authenticator to check against the htpasswd file."""

    id: int
    user: str
    password_fingerprint: str | None  # None: issued before tokens were bound (never accepted)
    workflow_id: int | None = None  # a runner token's one workflow


@dataclass(frozen=True, slots=True)
class EndedToken:
    """A runner token that was issued but is revoked or expired: its workflow, so that the
    refusal can tell a runner why (its secret was checked: the caller holds the token)."""

    workflow_id: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    id: int
    user: str
    expires_at: str
    workflow_id: int | None = None


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
    now = datetime.now(UTC)
    return _store(conn, user, fingerprint, description, now, now + timedelta(days=ttl_days))


def issue_runner(
    conn: Connection,
    user: str,
    workflow_id: int,
    *,
    fingerprint: str,
    description: str | None,
    ttl_hours: float,
    not_after: datetime | None = None,
) -> IssuedToken:
    """Store a new runner token of `user` for `workflow_id` in the caller's transaction.

    It expires after `ttl_hours`, or at `not_after` if sooner (the expiry of the token the
    caller signed in with: a token must not mint one that outlives it).
    """
    if not 0 < ttl_hours <= RUNNER_MAX_TTL_HOURS:
        raise Invalid(f"ttl_hours must be more than 0 and at most {RUNNER_MAX_TTL_HOURS:g}")
    now = datetime.now(UTC)
    expires = now + timedelta(hours=ttl_hours)
    if not_after is not None:
        expires = min(expires, not_after)
    return _store(conn, user, fingerprint, description, now, expires, workflow_id=workflow_id)


def _store(
    conn: Connection,
    user: str,
    fingerprint: str,
    description: str | None,
    now: datetime,
    expires: datetime,
    *,
    workflow_id: int | None = None,
) -> IssuedToken:
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = utc_text(expires)
    token_id = store.insert_token(
        conn,
        lookup=lookup,
        secret_hash=_digest(secret),
        user=user,
        description=description,
        created_at=utc_text(now),
        expires_at=expires_at,
        password_fingerprint=fingerprint,
        workflow_id=workflow_id,
    )
    return IssuedToken(f"{PREFIX}{lookup}_{secret}", token_id, user, expires_at, workflow_id)


def revoke(conn: Connection, token_id: int) -> bool:
    """Revoke a token in the caller's transaction; False when it was revoked already."""
    return store.revoke_token(conn, token_id, at=now_text())


def revoke_all(conn: Connection, user: str) -> int:
    """Revoke every live token of `user` (runner tokens included) in the caller's
    transaction; how many there were."""
    return store.revoke_user_tokens(conn, user, at=now_text())


def revoke_workflow(conn: Connection, workflow_id: int) -> int:
    """Revoke every live runner token of the workflow in the caller's transaction."""
    return store.revoke_workflow_tokens(conn, workflow_id, at=now_text())


def revoke_if_complete(conn: Connection, workflow_id: int) -> int:
    """Revoke the workflow's live runner tokens when no job of it is left to finish."""
    return store.revoke_if_complete(conn, workflow_id, at=now_text())


def expiry_of(conn: Connection, token_id: int) -> datetime | None:
    found = store.expires_at(conn, token_id)
    return None if found is None else datetime.fromisoformat(found)


class TokenService:
    """Checks tokens for the authenticator (issuing and revoking are use cases: see
    services.tokens)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def verify(self, token: str) -> ValidToken | None:
        """The token's row when it is known, unexpired and unrevoked; otherwise None."""
        found = self.check(token)
        return found if isinstance(found, ValidToken) else None

    def check(self, token: str) -> ValidToken | EndedToken | None:
        """As `verify`, but a known runner token that is revoked or expired is an EndedToken
        (its workflow), so a runner can be told why; anything else refused is None."""
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
            return None if row.workflow_id is None else EndedToken(row.workflow_id)
        return ValidToken(row.id, row.user_name, row.password_fingerprint, row.workflow_id)
