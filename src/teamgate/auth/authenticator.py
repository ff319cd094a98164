"""Who is calling: HTTP Basic against the htpasswd file, in Torc's three modes.

- no auth file: everyone is anonymous, and an Authorization header is not read (there are no
  users to check it against, so no token can be issued either; one issued while the server had
  a file gives no more than anonymous access);
- auth file: valid credentials name the user, none means anonymous; wrong or unusable ones
  (another scheme such as Digest or Negotiate, malformed Basic) are 401;
- auth file + require_auth: anything without valid credentials is 401.
The file is re-read when it changes; a failed reload keeps the previous users. A token is
accepted only while its user is in the file with the password it was issued against, so the
same reload that refuses a removed user's or an old password ends their tokens too. A runner
token's caller gets its workflow as `workflow_scope`, and is never a system administrator; a
user's scoped token gives its caller its `TokenScope` as `Principal.scope`.
The name `anonymous` is reserved (the htpasswd loader refuses it): it names the caller without
credentials in listings, filters and explanations, so no user may sign in as it.
With a LoginThrottle, repeated failures are refused (TooManyRequests) before bcrypt runs.

With an OidcVerifier (`--oidc-issuer`), a Bearer that is a JWT is an ID token of the
organisation's identity provider (auth.oidc), with or without an htpasswd file; it is refused
(OidcRefused, logged with its reason) unless it verifies. An API token minted after such a
sign-in is bound to the issuer and the user instead of a password, and keeps the IdP groups
it was minted with; it stands while OIDC is on with that issuer and the user is not also in
the htpasswd file (whose password binding would then be theirs).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from teamgate.auth.cache import CredentialCache
from teamgate.auth.headers import BASIC, BEARER, read_authorization
from teamgate.auth.htpasswd import HtpasswdError, load_htpasswd
from teamgate.auth.oidc import OidcRefused, OidcVerifier, binding, looks_like_jwt
from teamgate.auth.passwords import DEFAULT_COST, dummy_verify, hash_cost, verify_password
from teamgate.auth.throttle import LoginThrottle, printable, shorten
from teamgate.auth.tokens import (
    EndedToken,
    TokenService,
    ValidToken,
    looks_like_token,
    password_fingerprint,
    same_password,
)
from teamgate.domain.identity import Principal, TokenScope
from teamgate.errors import TooManyRequests, Unauthenticated

log = logging.getLogger("teamgate.auth")

ANONYMOUS_NOT_ALLOWED = "Anonymous access not allowed"
BAD_CREDENTIALS = "Invalid user name or password"
BAD_TOKEN = (
    "Invalid, expired or revoked token (removing a user or changing their password ends "
    "their tokens): run 'taco login' for a new one"
)
MALFORMED_BASIC = "Malformed Basic credentials: expected base64 of 'user:password'"


def ended_runner_token(workflow_id: int) -> str:
    return (
        f"This runner token of workflow {workflow_id} was revoked (the workflow completed, was "
        "canceled or its runner tokens were revoked) or has expired"
    )


class Authenticator:
    def __init__(
        self,
        *,
        auth_file: Path | None,
        require_auth: bool,
        cache_ttl_secs: float,
        admin_users: Iterable[str] = (),
        reload_interval_secs: float = 1.0,
        throttle: LoginThrottle | None = None,
        tokens: TokenService | None = None,
        on_lookup: Callable[[bool], None] | None = None,
        oidc: OidcVerifier | None = None,
    ) -> None:
        """`tokens` checks API tokens (None: none are accepted); `on_lookup` is told of each
        credential cache hit (True) or miss; `oidc` checks ID tokens (None: OIDC is off)."""
        self.auth_file = auth_file
        self.require_auth = require_auth
        self.admin_users = frozenset(admin_users)
        self.cache = CredentialCache(cache_ttl_secs, on_lookup=on_lookup)
        self._users: dict[str, str] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._interval = reload_interval_secs
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.tokens = tokens
        self.throttle = throttle
        self.oidc = oidc
        self._dummy_cost = DEFAULT_COST
        if auth_file is not None:
            self._set_users(load_htpasswd(auth_file))
            self._stamp = self._file_stamp()

    @property
    def signs_in(self) -> bool:
        """Whether any caller can sign in (an htpasswd file, or OIDC); else all are anonymous."""
        return self.auth_file is not None or self.oidc is not None

    @property
    def user_count(self) -> int:
        return len(self._users)

    def knows(self, user: str) -> bool | None:
        """Whether `user` is in the htpasswd file; None when there is no file to ask."""
        return None if self.auth_file is None else user in self._users

    def principal(
        self,
        name: str | None,
        *,
        method: str = "anonymous",
        token_id: int | None = None,
        credential: str | None = None,
        workflow_scope: int | None = None,
        scope: TokenScope | None = None,
        idp_groups: frozenset[str] | None = None,
        expires_at: str | None = None,
    ) -> Principal:
        """`idp_groups` (not None) for a token minted after an OIDC sign-in: its groups, and
        administration through --oidc-admin-group as for the sign-in itself."""
        admin_groups = self.oidc.config.admin_groups if self.oidc is not None else frozenset()
        groups = idp_groups or frozenset()
        is_admin = name is not None and (
            name in self.admin_users or not admin_groups.isdisjoint(groups)
        )
        oidc = idp_groups is not None and self.oidc is not None and name is not None
        return Principal(
            name=name,
            # a runner token never carries its user's administration, whatever its scope
            is_admin=is_admin and workflow_scope is None,
            method=method if name is not None else "anonymous",
            token_id=token_id,
            credential=credential if name is not None else None,
            workflow_scope=workflow_scope if name is not None else None,
            scope=scope if name is not None else None,
            idp=self.oidc.config.issuer if oidc and self.oidc is not None else None,
            idp_groups=groups if oidc else frozenset(),
            expires_at=expires_at if name is not None else None,
        )

    def _token_principal(self, token: str, user: str | None) -> Principal | None:
        """The token's user, while they are in the file with the password it was issued
        against; None for any token that is unknown, expired, revoked or no longer stands
        (Unauthenticated, saying why, for a runner token that was revoked or expired)."""
        found = self.tokens.check(token) if self.tokens is not None else None
        if isinstance(found, EndedToken):
            raise Unauthenticated(ended_runner_token(found.workflow_id))
        if found is None or (user is not None and found.user != user):
            return None
        if found.idp_groups is not None:
            refusal = self._oidc_token_refusal(found)
            if refusal is not None:
                log.info(
                    "Token %d of user '%s' refused: %s",
                    found.id,
                    printable(shorten(found.user)),
                    refusal,
                )
                return None
        elif not same_password(found, self._users.get(found.user)):
            log.info(
                "Token %d of user '%s' refused: the user was removed or changed password",
                found.id,
                printable(shorten(found.user)),
            )
            return None
        if found.idle(datetime.now(UTC)):
            log.info(
                "Console session %d of user '%s' ended: idle",
                found.id,
                printable(shorten(found.user)),
            )
            return None
        assert self.tokens is not None  # found came from it
        self.tokens.touch(found.id)
        return self.principal(
            found.user,
            method="token",
            token_id=found.id,
            credential=found.password_fingerprint,
            workflow_scope=found.workflow_id,
            scope=found.scope,
            idp_groups=found.idp_groups,
            expires_at=found.expires_at,
        )

    def _oidc_token_refusal(self, found: ValidToken) -> str | None:
        """Why a token minted after an OIDC sign-in no longer stands (None: it does)."""
        if self.oidc is None:
            return "it was minted after an OIDC sign-in, and OIDC is off"
        if found.user in self._users:
            return "it was minted after an OIDC sign-in, and the user is now in the htpasswd file"
        expected = binding(self.oidc.config.issuer, found.user)
        if found.password_fingerprint is None or not hmac.compare_digest(
            found.password_fingerprint, expected
        ):
            return "it was minted after a sign-in at another identity provider"
        return None

    def _oidc_principal(self, token: str, client: str | None) -> Principal:
        """The caller of an ID token, or OidcRefused (logged here, with its reason)."""
        assert self.oidc is not None
        try:
            return self.oidc.verify(token)
        except OidcRefused as exc:
            log.warning(
                "OIDC sign-in refused (%s) for user '%s' from %s: %s",
                exc.code,
                printable(shorten(exc.claimed or "?")),
                client or "?",
                exc.reason,
            )
            raise

    def authenticate(self, authorization: str | None, *, client: str | None = None) -> Principal:
        """Turn an Authorization header into a Principal, or raise Unauthenticated.

        `client` is the caller's address, for the throttle, which raises TooManyRequests.
        Credentials that are offered are checked, whatever the mode: a header this server
        cannot use (another scheme, malformed Basic) is a 401, never a fall-back to anonymous.
        """
        if not self.signs_in:
            return self.principal(None)
        offered = read_authorization(authorization)
        if not offered.kind:
            if self.require_auth:
                raise Unauthenticated(ANONYMOUS_NOT_ALLOWED)
            return self.principal(None)
        if offered.kind == BEARER:
            if self.oidc is not None and looks_like_jwt(offered.secret):
                return self._oidc_principal(offered.secret, client)
            principal = self._token_principal(offered.secret, None)
            if principal is None:
                raise Unauthenticated(BAD_TOKEN)
            return principal
        if offered.kind != BASIC:
            raise Unauthenticated(_unsupported(offered.scheme))
        if offered.user is None:
            raise Unauthenticated(MALFORMED_BASIC)
        user, password = offered.user, offered.secret
        if looks_like_token(password):
            principal = self._token_principal(password, user)
            if principal is not None:
                return principal
        hashed = self._check_password(user, password, client)
        if hashed is None:
            raise Unauthenticated(BAD_CREDENTIALS)
        return self.principal(user, method="password", credential=password_fingerprint(hashed))

    def authenticate_cached(self, authorization: str | None) -> Principal | None:
        """What `authenticate` returns, when finding it takes neither bcrypt nor the database
        and it is not a refusal: no htpasswd file, or a Basic password the credential cache
        remembers for the user's current hash, the user not locked out, or an ID token
        verified before (auth.oidc). None in every other case, where the caller must ask
        `authenticate` (which may block, and raises the refusals); so this never decides
        differently from it, only sooner (on the event loop).
        """
        if not self.signs_in:
            return self.principal(None)
        offered = read_authorization(authorization)
        if offered.kind == BEARER and self.oidc is not None and looks_like_jwt(offered.secret):
            return self.oidc.cached(offered.secret)
        if offered.kind != BASIC or offered.user is None or looks_like_token(offered.secret):
            return None
        user, password = offered.user, offered.secret
        hashed = self._users.get(user)  # read once: the hash checked is the hash returned
        # Looked at uncounted first, so that a miss is counted once, by `authenticate`.
        if hashed is None or not self._cached(user, password, hashed, count=False):
            return None
        throttle = self.throttle
        if throttle is not None:
            try:
                throttle.check_user(user)
            except TooManyRequests:
                return None  # `authenticate` refuses it the same way
        if not self._cached(user, password, hashed):  # counted: a hit (unless it just expired)
            return None
        if throttle is not None:
            throttle.succeeded(user)
        return self.principal(user, method="password", credential=password_fingerprint(hashed))

    def _check_password(self, user: str, password: str, client: str | None) -> str | None:
        """verify() behind the throttle: a user name's refusal applies to every password
        attempt, an address's only to passwords not already known to be right (cached).

        Returns the htpasswd hash the password matched, or None.
        """
        throttle = self.throttle
        hashed = self._users.get(user)  # read once: the hash checked is the hash returned
        if throttle is None:
            return hashed if self._verify(user, password, hashed) else None
        throttle.check_user(user)
        if self._cached(user, password, hashed):
            throttle.succeeded(user)
            return hashed
        with throttle.serial(user):
            throttle.check_user(user)  # the check we waited for may have failed
            if self._cached(user, password, hashed, count=False):  # ... or proved it
                throttle.succeeded(user)
                return hashed
            throttle.begin(user, client)
            ok = False
            try:
                ok = self._verify_uncached(user, password, hashed)
            finally:
                throttle.end(user, client, ok=ok)
            return hashed if ok else None

    def verify(self, user: str, password: str) -> bool:
        """True when `password` is `user`'s (from the cache, else bcrypt); no throttle."""
        return self._verify(user, password, self._users.get(user))

    def _verify(self, user: str, password: str, hashed: str | None) -> bool:
        return self._cached(user, password, hashed) or self._verify_uncached(user, password, hashed)

    def _cached(self, user: str, password: str, hashed: str | None, *, count: bool = True) -> bool:
        # Keyed by the hash too: a success remembered for a hash the file no longer holds
        # (even one remembered during a reload) can never match.
        if hashed is None:
            return False
        return self.cache.contains(user, password, hashed=hashed, count=count)

    def _verify_uncached(self, user: str, password: str, hashed: str | None) -> bool:
        if hashed is None:
            dummy_verify(password, cost=self._dummy_cost)  # as slow as a known user's check
            ok = False
        else:
            ok = verify_password(password, hashed)
        if ok and hashed is not None:
            self.cache.remember(user, password, hashed=hashed)
        else:
            log.warning("Authentication failed for user '%s'", printable(shorten(user)))
        return ok

    @property
    def dummy_cost(self) -> int:
        """The bcrypt cost an unknown user name is checked at (the file's highest)."""
        return self._dummy_cost

    def _set_users(self, users: dict[str, str]) -> None:
        # The highest cost in the file: an unknown name must never answer faster than a
        # real user's wrong password would (with mixed costs, the most common one made a
        # cost-12 user's 343 ms stand out against 5 ms for names that do not exist).
        self._dummy_cost = max((hash_cost(h) for h in users.values()), default=DEFAULT_COST)
        self._users = users

    # -- reloading -------------------------------------------------------------

    def reload(self) -> int:
        """Re-read the htpasswd file; on error keep the old users and raise."""
        if self.auth_file is None:
            return 0
        stamp = self._file_stamp()
        users = load_htpasswd(self.auth_file)
        self._set_users(users)
        self._stamp = stamp
        self.cache.clear()
        log.info("Reloaded %d users from htpasswd file", len(users))
        return len(users)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self.auth_file is not None
        try:
            st = os.stat(self.auth_file)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            stamp = self._file_stamp()
            if stamp == self._stamp:
                continue
            try:
                self.reload()
            except HtpasswdError as exc:
                self._stamp = stamp  # do not retry a broken file until it changes again
                log.error(
                    "Reloading htpasswd file failed; keeping %d users: %s", self.user_count, exc
                )

    def start_watching(self) -> None:
        """Watch the htpasswd file for changes, and keep the issuer's signing keys fresh."""
        if self.oidc is not None:
            self.oidc.provider.start()
        if self.auth_file is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._poll, name="htpasswd-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self.oidc is not None:
            self.oidc.provider.stop()


def _unsupported(scheme: str) -> str:
    shown = printable(shorten(scheme, 32))
    return (
        f"Unsupported authorization scheme '{shown}': send Basic (user name and password) "
        "or Bearer (an API token from 'taco login')"
    )
