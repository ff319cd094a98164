"""Who is calling: HTTP Basic against the htpasswd file, in Torc's three modes.

- no auth file: everyone is anonymous;
- auth file: valid credentials name the user, none means anonymous, wrong ones are 401;
- auth file + require_auth: anything without valid credentials is 401.
The file is re-read when it changes; a failed reload keeps the previous users.
With a LoginThrottle, repeated failures are refused (TooManyRequests) before bcrypt runs.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from teamgate.auth.cache import CredentialCache
from teamgate.auth.htpasswd import HtpasswdError, load_htpasswd
from teamgate.auth.passwords import DEFAULT_COST, dummy_verify, hash_cost, verify_password
from teamgate.auth.throttle import LoginThrottle, printable
from teamgate.auth.tokens import TokenService, looks_like_token
from teamgate.domain.identity import ANONYMOUS, Principal
from teamgate.errors import Unauthenticated

log = logging.getLogger("teamgate.auth")

ANONYMOUS_NOT_ALLOWED = "Anonymous access not allowed"
BAD_CREDENTIALS = "Invalid user name or password"
BAD_TOKEN = "Invalid, expired or revoked token: run 'taco login' for a new one"


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
    ) -> None:
        self.auth_file = auth_file
        self.require_auth = require_auth
        self.admin_users = frozenset(admin_users)
        self.cache = CredentialCache(cache_ttl_secs)
        self._users: dict[str, str] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._interval = reload_interval_secs
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.tokens: TokenService | None = None
        self.throttle = throttle
        self._dummy_cost = DEFAULT_COST
        if auth_file is not None:
            self._set_users(load_htpasswd(auth_file))
            self._stamp = self._file_stamp()

    @property
    def user_count(self) -> int:
        return len(self._users)

    def principal(
        self, name: str | None, *, method: str = "anonymous", token_id: int | None = None
    ) -> Principal:
        return Principal(
            name=name,
            is_admin=name is not None and name in self.admin_users,
            method=method if name is not None else "anonymous",
            token_id=token_id,
        )

    def _token_principal(self, token: str, user: str | None) -> Principal | None:
        found = self.tokens.verify(token) if self.tokens is not None else None
        if found is None or (user is not None and found[0] != user):
            return None
        return self.principal(found[0], method="token", token_id=found[1])

    def authenticate(self, authorization: str | None, *, client: str | None = None) -> Principal:
        """Turn an Authorization header into a Principal, or raise Unauthenticated.

        `client` is the caller's address, for the throttle, which raises TooManyRequests.
        """
        if self.auth_file is None:
            return self.principal(None)
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            principal = self._token_principal(value.strip(), None)
            if principal is None:
                raise Unauthenticated(BAD_TOKEN)
            return principal
        credentials = _parse_basic(authorization)
        if credentials is None:
            if self.require_auth:
                raise Unauthenticated(ANONYMOUS_NOT_ALLOWED)
            return self.principal(None)
        user, password = credentials
        if looks_like_token(password):
            principal = self._token_principal(password, user)
            if principal is not None:
                return principal
        if not self._check_password(user, password, client):
            raise Unauthenticated(BAD_CREDENTIALS)
        return self.principal(None if user == ANONYMOUS else user, method="password")

    def _check_password(self, user: str, password: str, client: str | None) -> bool:
        """verify() behind the throttle: a user name's refusal applies to every password
        attempt, an address's only to passwords not already known to be right (cached)."""
        throttle = self.throttle
        if throttle is None:
            return self.verify(user, password)
        throttle.check_user(user)
        if self.cache.contains(user, password):
            throttle.succeeded(user)
            return True
        with throttle.serial(user):
            throttle.check_user(user)  # the check we waited for may have failed
            if self.cache.contains(user, password, count=False):  # ... or proved this password
                throttle.succeeded(user)
                return True
            throttle.begin(user, client)
            ok = False
            try:
                ok = self._verify_uncached(user, password)
            finally:
                throttle.end(user, client, ok=ok)
            return ok

    def verify(self, user: str, password: str) -> bool:
        """True when `password` is `user`'s (from the cache, else bcrypt); no throttle."""
        return self.cache.contains(user, password) or self._verify_uncached(user, password)

    def _verify_uncached(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        if hashed is None:
            dummy_verify(password, cost=self._dummy_cost)  # as slow as a known user's check
            ok = False
        else:
            ok = verify_password(password, hashed)
        if ok:
            self.cache.remember(user, password)
        else:
            log.warning("Authentication failed for user '%s'", printable(user))
        return ok

    def _set_users(self, users: dict[str, str]) -> None:
        costs = Counter(hash_cost(hashed) for hashed in users.values())
        self._dummy_cost = costs.most_common(1)[0][0] if costs else DEFAULT_COST
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
        if self.auth_file is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._poll, name="htpasswd-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        raise Unauthenticated(
            "Malformed Basic credentials: expected base64 of 'user:password'"
        ) from None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise Unauthenticated("Malformed Basic credentials: expected base64 of 'user:password'")
    return user, password
