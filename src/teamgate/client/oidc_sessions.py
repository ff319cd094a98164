"""Identity-provider sign-ins the CLIs keep, one per server, and the httpx auth that uses them.

`<user config dir>/teamgate/<cli>/oidc.json` (mode 0600, directory 0700) holds, per server root
URL: the ID token, the refresh token, the ID token's expiry, the issuer and client id, and the
user name the server saw. `OidcAuth` sends the ID token as a Bearer token and, when it has
expired or will within REFRESH_MARGIN_SECS, renews it with the refresh token first. Renewals
are serialised across processes with a lock file: IdPs rotate refresh tokens, and two commands
spending the same one at once would have the second refused (or the grant revoked).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from teamgate.client.oidc import IdP, SignInError, Tokens
from teamgate.client.taco import _write_private, normalize_server
from teamgate.errors import Invalid

REFRESH_MARGIN_SECS = 30.0


@dataclass(frozen=True, slots=True)
class Session:
    issuer: str
    client_id: str
    id_token: str
    expires_at: float  # epoch seconds: the ID token's exp
    refresh_token: str | None = None
    user: str | None = None

    @classmethod
    def of(cls, tokens: Tokens, *, issuer: str, client_id: str) -> Session:
        return cls(issuer, client_id, tokens.id_token, tokens.expires_at, tokens.refresh_token)

    def renewed(self, tokens: Tokens) -> Session:
        """This sign-in with new tokens (the old refresh token kept if none came back)."""
        return replace(
            self,
            id_token=tokens.id_token,
            expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token or self.refresh_token,
        )

    def fresh(self, now: float | None = None) -> bool:
        """Whether the ID token is good for at least REFRESH_MARGIN_SECS more."""
        return self.expires_at - (time.time() if now is None else now) > REFRESH_MARGIN_SECS


def server_key(url: str) -> str:
    """The server's root URL (torc's API path and any trailing slash removed)."""
    root = normalize_server(url)
    return root.removesuffix("/torc-service/v1").rstrip("/")


class SessionStore:
    """The sign-ins of one CLI (`taco` or `torc`) in `<root>/oidc.json`."""

    def __init__(self, root: Path, cli: str) -> None:
        self.path = root / "oidc.json"
        self.cli = cli

    def _servers(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise Invalid(
                f"cannot read {self.path}: {exc}; delete it and run '{self.cli} login' again"
            ) from None
        servers = data.get("servers") if isinstance(data, dict) else None
        return servers if isinstance(servers, dict) else {}

    def _write(self, servers: dict[str, Any]) -> None:
        _write_private(self.path, json.dumps({"servers": servers}, indent=2) + "\n")

    def find(self, server: str) -> Session | None:
        entry = self._servers().get(server_key(server))
        if not isinstance(entry, dict):
            return None
        try:
            return Session(**entry)
        except TypeError:  # written by another version: as if signed out
            return None

    def save(self, server: str, session: Session) -> None:
        servers = self._servers()
        servers[server_key(server)] = asdict(session)
        self._write(servers)

    def remove(self, server: str) -> Session | None:
        found = self.find(server)
        servers = self._servers()
        if servers.pop(server_key(server), None) is not None:
            self._write(servers)
        return found

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock file (other processes' renewals wait)."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock, a rare second renewal fails
            yield
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def sign_in_again(cli: str, server: str, why: str) -> SignInError:
    return SignInError(
        f"your identity provider sign-in to {server_key(server)} has expired and could not be "
        f"renewed ({why}): sign in again with `{cli} login`"
    )


def renew(store: SessionStore, server: str, session: Session) -> Session:
    """`session` with a fresh ID token: taken from the store if another process renewed it
    meanwhile, else from the IdP with the refresh token (saved before it is returned)."""
    with store.locked():
        current = store.find(server) or session
        if current.fresh():
            return current
        if not current.refresh_token:
            raise sign_in_again(store.cli, server, "the identity provider gave no refresh token")
        with IdP(current.issuer) as idp:
            try:
                tokens = idp.refresh(current.refresh_token, current.client_id)
            except SignInError as exc:
                raise sign_in_again(store.cli, server, str(exc)) from None
        renewed = current.renewed(tokens)
        store.save(server, renewed)
        return renewed


class OidcAuth(httpx.Auth):
    """Bearer auth with the saved ID token, renewed before it expires."""

    def __init__(self, store: SessionStore, server: str, session: Session) -> None:
        self.store = store
        self.server = server
        self.session = session
        self._lock = threading.Lock()  # a runner's threads share one client

    def current(self) -> Session:
        with self._lock:
            if not self.session.fresh():
                self.session = renew(self.store, self.server, self.session)
            return self.session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.current().id_token}"
        yield request
