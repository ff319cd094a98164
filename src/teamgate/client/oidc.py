"""Signing in through the server's OpenID Connect identity provider (the CLIs' side).

The server names its IdP at `GET /v1/auth/config`; the CLIs then talk to the IdP directly, as
kubectl's OIDC login plugins do: the authorization code grant with PKCE (S256) and a loopback
redirect `http://127.0.0.1:<free port>/callback` where a browser can be opened, else the device
authorization grant (RFC 8628). The ID token they get is what they send the server as a Bearer
token; the refresh token renews it (client/oidc_sessions.py keeps both). Signatures are the
server's business: here a token's payload is only read for its expiry and nonce.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from teamgate.errors import TeamgateError

LOGIN_TIMEOUT_SECS = 300.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_ANSWER_BYTES = 1 << 20  # an IdP answer larger than this is not one
MAX_INTERVAL_SECS = 60.0  # slow_down keeps adding 5 s; beyond this, a broken IdP
CALLBACK_PATH = "/callback"


class SignInError(TeamgateError):
    """Signing in (or renewing a sign-in) at the identity provider failed."""

    kind = "SignInFailed"


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """What the server says about its IdP: whom to ask, as which client, for which scopes."""

    issuer: str
    client_id: str
    scopes: tuple[str, ...]

    @classmethod
    def from_answer(cls, answer: Any) -> OidcConfig | None:
        """From `GET /v1/auth/config`'s body; None when the server has no IdP."""
        oidc = answer.get("oidc") if isinstance(answer, dict) else None
        if oidc is None:
            return None
        issuer, client_id, scopes = (oidc.get(k) for k in ("issuer", "client_id", "scopes"))
        if not (isinstance(issuer, str) and isinstance(client_id, str) and issuer and client_id):
            raise SignInError(f"the server's /v1/auth/config is not understood: {answer!r:.300}")
        if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            scopes = ["openid"]
        return cls(issuer, client_id, tuple(scopes) if "openid" in scopes else ("openid", *scopes))


@dataclass(frozen=True, slots=True)
class Provider:
    """The IdP's endpoints, from its discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a token endpoint answered: the ID token (sent to the server), its expiry (epoch
    seconds, from its `exp`), and the refresh token when the IdP gave one."""

    id_token: str
    expires_at: float
    refresh_token: str | None
    claims: dict[str, Any]


# -- small pieces ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (43 characters from 32 random bytes) and its S256 challenge."""
    verifier = _b64url(secrets.token_bytes(32))
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    """The S256 code challenge of `verifier` (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without checking its signature (the server checks it)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_ANSWER_BYTES:
        raise SignInError("the identity provider's ID token is not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise SignInError("the identity provider's ID token has an unreadable payload") from None
    if not isinstance(payload, dict):
        raise SignInError("the identity provider's ID token has an unreadable payload")
    return payload


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint(doc: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SignInError(f"the identity provider's discovery document has no {name}")
    scheme = urlsplit(value).scheme
    if scheme != "https" and not (scheme == "http" and is_loopback(value)):
        raise SignInError(f"the identity provider's {name} is not https: {value}")
    return value


def tokens_from(answer: Any, *, nonce: str | None = None) -> Tokens:
    """A token endpoint's success answer as Tokens; `nonce` (when sent) must come back."""
    if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        raise SignInError(
            "the identity provider answered without an ID token: is 'openid' among the scopes?"
        )
    claims = jwt_claims(answer["id_token"])
    if nonce is not None and claims.get("nonce") != nonce:
        raise SignInError("the identity provider's ID token does not carry this sign-in's nonce")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        lifetime = answer.get("expires_in")
        exp = time.time() + (lifetime if isinstance(lifetime, int | float) else 300)
    refresh = answer.get("refresh_token")
    return Tokens(
        answer["id_token"], float(exp), refresh if isinstance(refresh, str) else None, claims
    )


def oauth_error(body: Any, status: int) -> tuple[str, str]:
    """An OAuth error answer's `error` code and a readable description."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        detail = body.get("error_description")
        return code, f"{code}: {detail}" if isinstance(detail, str) and detail else code
    return "http_error", f"HTTP {status}"


# -- talking to the IdP ---------------------------------------------------------------------


class IdP:
    """An httpx client for one identity provider: discovery, then form posts to its endpoints."""

    def __init__(self, issuer: str, *, http: httpx.Client | None = None) -> None:
        self.issuer = issuer
        self._http = http or httpx.Client(timeout=30.0, follow_redirects=False)
        self._provider: Provider | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IdP:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise SignInError(f"cannot reach the identity provider at {url}: {exc}") from None
        if len(response.content) > MAX_ANSWER_BYTES:
            raise SignInError(f"the identity provider's answer at {url} is too large")
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    def provider(self) -> Provider:
        """The endpoints from `<issuer>/.well-known/openid-configuration` (fetched once)."""
        if self._provider is not None:
            return self._provider
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, doc = self._send("GET", url)
        if status != 200 or not isinstance(doc, dict):
            raise SignInError(f"the identity provider's discovery document at {url}: HTTP {status}")
        if doc.get("issuer") != self.issuer:
            raise SignInError(
                f"the identity provider at {url} says its issuer is {doc.get('issuer')!r}, "
                f"not {self.issuer!r} as the server does"
            )
        self._provider = Provider(
            self.issuer,
            _endpoint(doc, "authorization_endpoint", required=True) or "",
            _endpoint(doc, "token_endpoint", required=True) or "",
            _endpoint(doc, "device_authorization_endpoint", required=False),
            _endpoint(doc, "revocation_endpoint", required=False),
        )
        return self._provider

    def post_form(self, url: str, form: dict[str, str]) -> tuple[int, Any]:
        return self._send("POST", url, data=form, headers={"Accept": "application/json"})

    def token(self, form: dict[str, str], *, nonce: str | None = None) -> Tokens:
        """Ask the token endpoint; its refusal as SignInError."""
        status, body = self.post_form(self.provider().token_endpoint, form)
        if status != 200:
            raise SignInError(
                f"the identity provider refused the token request ({oauth_error(body, status)[1]})"
            )
        return tokens_from(body, nonce=nonce)

    def refresh(self, refresh_token: str, client_id: str) -> Tokens:
        """New tokens for a refresh token (the IdP may rotate it: keep the new one)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.token(form | {"client_id": client_id})

    def revoke(self, token: str, client_id: str) -> bool:
        """Revoke a refresh token where the IdP has a revocation endpoint; True when done."""
        endpoint = self.provider().revocation_endpoint
        if endpoint is None:
            return False
        form = {"token": token, "token_type_hint": "refresh_token", "client_id": client_id}
        return self.post_form(endpoint, form)[0] == 200


# -- authorization code with PKCE -----------------------------------------------------------


class LoopbackCallback:
    """A one-shot HTTP listener on 127.0.0.1 (a free port) for the IdP's redirect.

    A request to /callback with this sign-in's `state` ends the wait with its code (or its
    error); one with another state, or none, is refused and the wait goes on.
    """

    def __init__(self, state: str) -> None:
        self.state = state
        self.code: str | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()  # two answers at once: the first one counts
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, text = outer._receive(self.path)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                if outer.code is not None or outer.error is not None:
                    outer._done.set()  # only now: the CLI may exit as soon as it is set

            def log_message(self, *_args: Any) -> None:  # no request lines on the terminal
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _receive(self, path: str) -> tuple[int, str]:
        parts = urlsplit(path)
        if parts.path != CALLBACK_PATH or len(path) > 16384:
            return 404, "Not found"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            if self.code is not None or self.error is not None:
                return 409, "This sign-in is already over."
            return self._answer(query)

    def _answer(self, query: dict[str, str]) -> tuple[int, str]:
        if not secrets.compare_digest(query.get("state", "").encode(), self.state.encode()):
            return 400, "This answer is not for the sign-in in progress (state mismatch)."
        if "error" in query:
            detail = query.get("error_description")
            self.error = f"{query['error']}: {detail}" if detail else query["error"]
            return 400, f"Sign-in failed ({self.error}). You can close this window."
        if not query.get("code"):
            return 400, "No authorization code in this answer."
        self.code = query["code"]
        return 200, "Signed in. You can close this window and go back to the terminal."

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        """The authorization code; SignInError on an error answer or after `timeout` seconds."""
        if not self._done.wait(timeout):
            raise SignInError(
                f"sign-in timed out after {timeout:.0f} s with no answer from the browser"
            )
        if self.error is not None:
            raise SignInError(f"the identity provider refused the sign-in ({self.error})")
        assert self.code is not None
        return self.code


def authorize_url(provider: Provider, config: OidcConfig, **params: str) -> str:
    """The authorization request URL (code flow, PKCE S256). Asking for offline_access needs
    prompt=consent (OpenID Connect Core 11), or IdPs such as oidc-provider drop it."""
    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "scope": " ".join(config.scopes),
        "code_challenge_method": "S256",
        **params,
    }
    if "offline_access" in config.scopes:
        query["prompt"] = "consent"
    sep = "&" if urlsplit(provider.authorization_endpoint).query else "?"
    return f"{provider.authorization_endpoint}{sep}{urlencode(query)}"


def code_flow(
    idp: IdP,
    config: OidcConfig,
    *,
    show: Callable[[str], None],
    timeout: float = LOGIN_TIMEOUT_SECS,
) -> Tokens:
    """Sign in with the authorization code grant and PKCE; `show(url)` opens or prints the
    authorization URL (the redirect comes back to a listener on 127.0.0.1)."""
    provider = idp.provider()
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with LoopbackCallback(state) as callback:
        show(
            authorize_url(
                provider,
                config,
                redirect_uri=callback.redirect_uri,
                state=state,
                nonce=nonce,
                code_challenge=challenge,
            )
        )
        code = callback.wait(timeout)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": callback.redirect_uri,
        "client_id": config.client_id,
        "code_verifier": verifier,
    }
    return idp.token(form, nonce=nonce)


# -- device authorization grant -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float

    @classmethod
    def from_answer(cls, body: Any) -> DeviceCode:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body[k]
            for k in ("device_code", "user_code", "verification_uri")
        ):
            raise SignInError("the identity provider's device authorization answer is incomplete")
        complete = body.get("verification_uri_complete")
        expires_in, interval = body.get("expires_in"), body.get("interval")
        return cls(
            body["device_code"],
            body["user_code"],
            body["verification_uri"],
            complete if isinstance(complete, str) and complete else None,
            float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 600.0,
            float(interval) if isinstance(interval, int | float) and interval > 0 else 5.0,
        )


def next_poll(code: str, interval: float) -> float:
    """The wait before the next poll after the token endpoint's error `code` (RFC 8628 3.5):
    the same interval while pending, 5 s more after slow_down; SignInError otherwise."""
    if code == "authorization_pending":
        return interval
    if code == "slow_down":
        return min(interval + 5.0, MAX_INTERVAL_SECS)
    if code == "access_denied":
        raise SignInError("the sign-in was denied at the identity provider")
    if code == "expired_token":
        raise SignInError("the code expired before it was approved: run the login again")
    raise SignInError(f"the identity provider refused the device sign-in ({code})")


def device_flow(
    idp: IdP,
    config: OidcConfig,
    *,
    show: Callable[[DeviceCode], None],
    timeout: float = LOGIN_TIMEOUT_SECS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tokens:
    """Sign in with the device authorization grant: `show` tells the user where to go and
    which code to enter; then the token endpoint is polled at the IdP's interval."""
    provider = idp.provider()
    if provider.device_authorization_endpoint is None:
        raise SignInError(
            "the identity provider has no device authorization endpoint: sign in with a "
            "browser (without --device)"
        )
    form = {"client_id": config.client_id, "scope": " ".join(config.scopes)}
    status, body = idp.post_form(provider.device_authorization_endpoint, form)
    if status != 200:
        raise SignInError(
            f"the identity provider refused the device sign-in ({oauth_error(body, status)[1]})"
        )
    device = DeviceCode.from_answer(body)
    show(device)
    deadline = clock() + min(timeout, device.expires_in)
    interval = device.interval
    poll = {"grant_type": DEVICE_GRANT, "device_code": device.device_code}
    while True:
        if clock() + interval > deadline:
            raise SignInError(
                f"sign-in timed out: the code was not approved within {timeout:.0f} s"
            )
        sleep(interval)
        status, body = idp.post_form(
            provider.token_endpoint, poll | {"client_id": config.client_id}
        )
        if status == 200:
            return tokens_from(body)
        interval = next_poll(oauth_error(body, status)[0], interval)
