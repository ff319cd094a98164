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

A user's own token may carry a scope (`TokenScope`: read-only, a unit prefix, one workflow),
an upper bound its caller gets as `Principal.scope`. When a token is used, its `last_used_at`
is written at most once a minute per token and process (`TOKEN_TOUCH_SECS`), never per request.

A token minted after a sign-in through the identity provider (OIDC) has no password to be bound
to: it is bound to the issuer and the user instead (auth.oidc.binding), keeps the caller's IdP
groups (`idp_groups`, a JSON list; NULL marks a password-bound token) and lives at most
OIDC_MAX_TTL_DAYS, since the IdP may end the user's access or change their groups sooner.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from teamgate.domain.identity import TokenScope
from teamgate.errors import Invalid
from teamgate.storage.db import tokens as store
from teamgate.storage.db.engine import Database
from teamgate.storage.db.util import now_text, utc_text

log = logging.getLogger("teamgate.auth")

PREFIX = "tg_"
DEFAULT_TTL_DAYS = 30
MAX_TTL_DAYS = 365
RUNNER_DEFAULT_TTL_HOURS = 168.0  # a week: a queued Slurm job may wait days to start
RUNNER_MAX_TTL_HOURS = 720.0
OIDC_MAX_TTL_DAYS = 7  # a token minted after an OIDC sign-in: the IdP may drop the user sooner
TOKEN_TOUCH_SECS = 60.0  # how often, at most, a token's last_used_at is written per process
MAX_TOUCHED = 100_000  # tokens remembered as touched; forgotten all at once beyond
_TTL = re.compile(r"([0-9]{1,6})([hdwy])")
_TTL_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_TTL_UNIT["y"] = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A token that is known, unexpired and unrevoked; whether its user and password still
    stand is for the authenticator to check against the htpasswd file."""

    id: int
    user: str
    password_fingerprint: str | None  # None: issued before tokens were bound (never accepted)
    workflow_id: int | None = None  # a runner token's one workflow
    scope: TokenScope | None = None  # the bound its user chose (None: unscoped)
    # minted after an OIDC sign-in: the caller's IdP groups then (None: bound to a password)
    idp_groups: frozenset[str] | None = None
    expires_at: str | None = None
    # a web console session: ends after idle_secs without use (`idle`)
    idle_secs: int | None = None
    last_used_at: str | None = None

    def idle(self, now: datetime) -> bool:
        """Whether this console session went unused longer than its idle timeout (its last
        use is recorded at most every TOKEN_TOUCH_SECS, so it may end up to that much late)."""
        if self.idle_secs is None or self.last_used_at is None:
            return False
        return datetime.fromisoformat(self.last_used_at) + timedelta(seconds=self.idle_secs) < now


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
    name: str | None = None
    scope: TokenScope | None = None


def parse_ttl(text: str) -> timedelta:
    """A token's lifetime written as a number and a unit: `12h`, `30d`, `2w`, `1y` (365 days);
    at least an hour, at most MAX_TTL_DAYS days."""
    found = _TTL.fullmatch(text.strip().lower())
    if found is None:
        raise Invalid(
            f"ttl '{text[:32]}' is not a lifetime: write a number and a unit, h (hours), "
            "d (days), w (weeks) or y (years), e.g. 12h, 30d, 1y"
        )
    ttl = int(found[1]) * _TTL_UNIT[found[2]]
    if not timedelta(hours=1) <= ttl <= timedelta(days=MAX_TTL_DAYS):
        raise Invalid(f"ttl must be between 1h and {MAX_TTL_DAYS}d, got '{text.strip()}'")
    return ttl


def scope_of(row: store.TokenRow) -> TokenScope | None:
    """The scope a user's token row carries (None when it carries none)."""
    if not row.read_only and row.unit_prefix is None and row.scope_workflow_id is None:
        return None
    return TokenScope(bool(row.read_only), row.unit_prefix, row.scope_workflow_id)


def idp_groups_of(row: store.TokenRow) -> frozenset[str] | None:
    """The IdP groups a token row was minted with (None: a password-bound token; an unreadable
    value counts as no group)."""
    if row.idp_groups is None:
        return None
    try:
        found = json.loads(row.idp_groups)
    except ValueError:
        return frozenset()
    if not isinstance(found, list):
        return frozenset()
    return frozenset(g for g in found if isinstance(g, str))


def oidc_lifetime(ttl: timedelta) -> timedelta:
    """A lifetime for a token minted after an OIDC sign-in: at most OIDC_MAX_TTL_DAYS (the
    identity provider may end the user's access sooner; the token cannot know)."""
    return min(ttl, timedelta(days=OIDC_MAX_TTL_DAYS))


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
    ttl: timedelta,
    name: str | None = None,
    scope: TokenScope | None = None,
    idp_groups: frozenset[str] | None = None,
    idle_secs: int | None = None,
) -> IssuedToken:
    """Store a new token for `user` in the caller's transaction (`conn`); only then is it valid.

    `fingerprint` is the `password_fingerprint` of the htpasswd hash the caller's password
    was checked against in this request (not the file's entry now, which may have changed).

    The caller owns the transaction so that what goes with the token (its audit record)
    commits or rolls back with it. `scope` is stored as given (the caller checked it).
    `idp_groups` (not None) marks a token minted after an OIDC sign-in, with the caller's
    IdP groups: its lifetime is capped at OIDC_MAX_TTL_DAYS. `idle_secs` makes it a web
    console session that ends after that long unused.
    """
    if not timedelta(0) < ttl <= timedelta(days=MAX_TTL_DAYS):
        raise Invalid(f"a token lives at most {MAX_TTL_DAYS} days")
    if idp_groups is not None:
        ttl = oidc_lifetime(ttl)
    now = datetime.now(UTC)
    return _store(
        conn,
        user,
        fingerprint,
        description,
        now,
        now + ttl,
        name=name,
        scope=scope or None,
        idp_groups=idp_groups,
        idle_secs=idle_secs,
    )


def issue_runner(
    conn: Connection,
    user: str,
    workflow_id: int,
    *,
    fingerprint: str,
    description: str | None,
    ttl_hours: float,
    not_after: datetime | None = None,
    idp_groups: frozenset[str] | None = None,
) -> IssuedToken:
    """Store a new runner token of `user` for `workflow_id` in the caller's transaction.

    It expires after `ttl_hours`, or at `not_after` if sooner (the expiry of the token the
    caller signed in with: a token must not mint one that outlives it). `idp_groups` as
    for `issue`.
    """
    if not 0 < ttl_hours <= RUNNER_MAX_TTL_HOURS:
        raise Invalid(f"ttl_hours must be more than 0 and at most {RUNNER_MAX_TTL_HOURS:g}")
    now = datetime.now(UTC)
    ttl = timedelta(hours=ttl_hours)
    expires = now + (ttl if idp_groups is None else oidc_lifetime(ttl))
    if not_after is not None:
        expires = min(expires, not_after)
    return _store(
        conn,
        user,
        fingerprint,
        description,
        now,
        expires,
        workflow_id=workflow_id,
        idp_groups=idp_groups,
    )


def _store(
    conn: Connection,
    user: str,
    fingerprint: str,
    description: str | None,
    now: datetime,
    expires: datetime,
    *,
    workflow_id: int | None = None,
    name: str | None = None,
    scope: TokenScope | None = None,
    idp_groups: frozenset[str] | None = None,
    idle_secs: int | None = None,
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
        name=name,
        read_only=scope.read_only if scope else False,
        unit_prefix=scope.unit_prefix if scope else None,
        scope_workflow_id=scope.workflow if scope else None,
        idp_groups=None if idp_groups is None else json.dumps(sorted(idp_groups)),
        idle_secs=idle_secs,
    )
    token = f"{PREFIX}{lookup}_{secret}"
    return IssuedToken(token, token_id, user, expires_at, workflow_id, name, scope)


def lookup_of(row: store.TokenRow) -> str:
    """What identifies a token where it is listed: `tg_<lookup>`, never its secret."""
    return f"{PREFIX}{row.lookup}"


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
        self._touched: dict[int, float] = {}  # token id -> monotonic time last_used_at was set
        self._lock = threading.Lock()

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
        now = datetime.now(UTC)
        expired = datetime.fromisoformat(row.expires_at) <= now
        if row.revoked_at is not None or expired:
            return None if row.workflow_id is None else EndedToken(row.workflow_id)
        return ValidToken(
            row.id,
            row.user_name,
            row.password_fingerprint,
            row.workflow_id,
            scope_of(row),
            idp_groups_of(row),
            row.expires_at,
            row.idle_secs,
            row.last_used_at or row.created_at,
        )

    def touch(self, token_id: int) -> None:
        """Record that the token was just used: a write at most every TOKEN_TOUCH_SECS per
        token in this process (so `last_used_at` is up to that much, times processes, old)."""
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(token_id)
            if last is not None and now - last < TOKEN_TOUCH_SECS:
                return
            if len(self._touched) >= MAX_TOUCHED:
                self._touched.clear()
            self._touched[token_id] = now
        try:
            with self.db.write() as conn:
                store.touch_token(conn, token_id, at=now_text())
        except SQLAlchemyError as exc:  # a bookkeeping write: never the request's failure
            log.warning("Recording the use of token %d failed: %s", token_id, exc)
