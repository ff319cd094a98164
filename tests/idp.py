"""A real OpenID provider for the tests, and the HTTP drivers of its sign-in pages (no browser).

The IdP is npm's `oidc-provider` (OpenID Certified, tests/idp/provider.mjs), run by Node on a free
port: tokens are issued and signed by it, never minted here. Its node modules are installed once
with `npm ci` into tests/idp/node_modules (`.ci/run` does it too).

Fixtures (tests/conftest.py imports them: any test can ask for them):
    idp          module scope: a started IdP (ID tokens live 300 s). Tests must not leave it
                 stopped or with other keys or TTLs: use `idp_factory` for that.
    idp_factory  module scope: `idp_factory(id_token_ttl=30, ...)` starts another IdP (own port,
                 keys, state); all are stopped when the module ends.

Accounts (ACCOUNTS; the dev login page signs in with an account's id or e-mail, any password):
    alice  alice@example.com  groups ["ml-team"]
    bob    bob@example.com    groups ["data-team"]
    carol  carol@example.com  groups ["ml-team"], email_verified false
    dave   dave@example.com   no group
    erin   erin@example.com   groups ["ml-team", "data-team", "admins"]
The ID token's `sub` is the id; `email`/`email_verified` come with the `email` scope, `name`,
`preferred_username` with `profile`, `groups` (a list) only with the `groups` scope: DEFAULT_SCOPE
("openid email profile groups offline_access") asks for it, so a server under test should be given
`--oidc-scopes` with `groups` for its CLIs to ask for it too. A test that changes an account of
the shared `idp` (set_groups, set_account) puts it back (try/finally).

Clients (all public native clients: no secret, PKCE S256 required, redirect
http://127.0.0.1/callback or http://localhost/callback on any port (and the console's
http://127.0.0.1/ui/sso/callback), grants authorization_code,
refresh_token and device_code; `offline_access` gives a refresh token):
    CLIENT_ID "teamgate-cli" (RS256 ID tokens), OTHER_CLIENT_ID "other-app" (RS256: a real token
    for another audience), ES256_CLIENT_ID "teamgate-cli-es256" (ES256 ID tokens).

What an IdP offers (`idp.issuer` is http://127.0.0.1:<port>; `idp.discovery()`, `idp.jwks()`):
    tokens = idp.tokens_for("alice@example.com")       # device flow, approved here -> Tokens
    tokens.id_token, .refresh_token, .access_token, .expires_in, .claims (the ID token's payload,
    NOT verified: for assertions only)
    idp.refresh(tokens.refresh_token) -> Tokens      # refresh tokens ROTATE: use the new one
    start = idp.device_authorization(scope=...)       # what a CLI does; then in the test:
    idp.approve_device(start["user_code"], "alice")  # log in + consent (deny=True aborts)
    location = idp.authorize(url, "alice")           # drive an authorize URL (a CLI's --no-browser
        # output) through login + consent; returns the redirect (http://127.0.0.1:<p>/callback?
        # code=..&state=..) without calling it; deliver=True also GETs it (the CLI's listener)
        # and returns that response's text; deny=True: the redirect carries error=access_denied
    url, verifier = idp.authorize_url(redirect_uri, state=...)  # for tests of the flow itself
    idp.exchange_code(location, verifier, redirect_uri) -> Tokens
    idp.set_groups("alice", ["data-team"])            # live: the next token carries them
    idp.set_account("carol", email_verified=True)     # live
    idp.set_ttl(id_token=5)                           # live: later tokens use it
    idp.set_device_polling(interval=2, slow_down=True)  # live: the device flow's `interval`
        # (1 s here by default); slow_down to a CLI polling faster while pending (default off)
    idp.stop(); idp.start()                           # "IdP down"; same port and issuer,
        # grants and refresh tokens survive (kept in a state file)
    idp.rotate_keys()      # restart publishing a new key (signing) + the old one; returns new kids
    idp.retire_old_keys()  # restart publishing only the newest keys
    idp.signing_kid("RS256") -> the kid new RS256 tokens carry
    idp.public_jwks() / idp.keys   # the published keys / the private JWKs (for forgeries such as
        # HS256 keyed with the public key; never to sign a "valid" token)
    idp.userinfo(access_token), idp.token_request({...}), idp.poll_device_token(device_code)

By hand: `.venv/bin/python -m tests.idp [--port N]` runs one until Ctrl-C (prints the issuer).
A test process that dies takes its IdPs with it (they exit when their parent goes).

Asking for `offline_access` in the authorization-code flow: oidc-provider follows OIDC Core 11
and drops it (no refresh token) unless the request also says `prompt=consent`; the device flow
needs nothing more. Refresh tokens rotate on use; reusing a spent one fails and revokes the grant.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

IDP_DIR = Path(__file__).parent / "idp"
CLIENT_ID = "teamgate-cli"
OTHER_CLIENT_ID = "other-app"
ES256_CLIENT_ID = "teamgate-cli-es256"
DEFAULT_SCOPE = "openid email profile groups offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

ACCOUNTS: tuple[dict[str, Any], ...] = (
    {
        "id": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice",
        "groups": ["ml-team"],
    },
    {
        "id": "bob",
        "email": "bob@example.com",
        "email_verified": True,
        "name": "Bob",
        "groups": ["data-team"],
    },
    {
        "id": "carol",
        "email": "carol@example.com",
        "email_verified": False,
        "name": "Carol",
        "groups": ["ml-team"],
    },
    {
        "id": "dave",
        "email": "dave@example.com",
        "email_verified": True,
        "name": "Dave",
        "groups": [],
    },
    {
        "id": "erin",
        "email": "erin@example.com",
        "email_verified": True,
        "name": "Erin",
        "groups": ["ml-team", "data-team", "admins"],
    },
)


class IdPError(AssertionError):
    """The IdP refused or failed a step (the message has its answer)."""


# --- node modules -----------------------------------------------------------------------------


def ensure_node_modules() -> None:
    """`npm ci` in tests/idp unless node_modules matches package-lock.json (one process at a time:
    pytest-xdist workers share the checkout)."""
    lock = IDP_DIR / "package-lock.json"
    installed = IDP_DIR / "node_modules" / ".package-lock.json"

    def current() -> bool:
        return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime

    if current():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the OIDC tests run a real IdP on Node.js (tests/idp)")
    with open(IDP_DIR / ".npm-ci.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if current():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=IDP_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {IDP_DIR} failed:\n{done.stdout}\n{done.stderr}")
        installed.touch()


# --- keys ---------------------------------------------------------------------------------------


def new_signing_key(alg: str = "RS256", kid: str | None = None) -> dict[str, Any]:
    """A private JWK for the IdP (RS256: RSA 2048; ES256: P-256)."""
    if alg == "RS256":
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048)))
    elif alg == "ES256":
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    else:
        raise ValueError(f"no key for {alg}")
    jwk.update(kid=kid or f"{alg.lower()}-{secrets.token_hex(4)}", alg=alg, use="sig")
    return dict(jwk)


def public_jwk(private: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in private.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}


# --- tokens -------------------------------------------------------------------------------------


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload WITHOUT checking anything (for assertions on what the IdP issued)."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


@dataclass(frozen=True)
class Tokens:
    """A token endpoint's answer."""

    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def claims(self) -> dict[str, Any]:
        """The ID token's payload, unverified."""
        return unverified_claims(self.id_token)

    @classmethod
    def of(cls, answer: httpx.Response) -> Tokens:
        if answer.status_code != 200:
            raise IdPError(f"token endpoint: {answer.status_code} {answer.text[:500]}")
        body = answer.json()
        return cls(
            id_token=body["id_token"],
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_in=int(body["expires_in"]),
            scope=body.get("scope", ""),
            raw=body,
        )


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


# --- the sign-in pages --------------------------------------------------------------------------


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str]
    id: str = ""


class _FormParser(HTMLParser):
    """The first <form> of a page: its action, method and named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.form: _Form | None = None
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = _Form(
                action=a.get("action", ""),
                method=a.get("method", "get").upper(),
                fields={},
                id=a.get("id", ""),
            )
            self._inside = True
        elif tag == "input" and self._inside and self.form is not None and a.get("name"):
            self.form.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _text_of(html: str) -> str:
    """A page's words (for error messages)."""
    return " ".join(re.sub(r"(?s)<(style|script)[^>]*>.*?</\\1>|<[^>]+>", " ", html).split())[:500]


def _first_form(html: str) -> _Form | None:
    parser = _FormParser()
    parser.feed(html)
    return parser.form


# --- the IdP ------------------------------------------------------------------------------------


def _default_clients() -> list[dict[str, Any]]:
    common = {
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
        "response_types": ["code"],
        # the CLIs' loopback listener, and the web console's sign-in (a test server's)
        "redirect_uris": [
            "http://127.0.0.1/callback",
            "http://localhost/callback",
            "http://127.0.0.1/ui/sso/callback",
        ],
    }
    return [
        {
            **common,
            "client_id": CLIENT_ID,
            "client_name": "teamgate CLI",
            "id_token_signed_response_alg": "RS256",
        },
        {
            **common,
            "client_id": OTHER_CLIENT_ID,
            "client_name": "another app",
            "id_token_signed_response_alg": "RS256",
        },
        {
            **common,
            "client_id": ES256_CLIENT_ID,
            "client_name": "teamgate CLI (ES256)",
            "id_token_signed_response_alg": "ES256",
        },
    ]


class IdP:
    """One oidc-provider process and its files under `directory` (config, accounts, state, log)."""

    def __init__(
        self,
        directory: Path,
        *,
        accounts: Sequence[dict[str, Any]] = ACCOUNTS,
        id_token_ttl: int = 300,
        access_token_ttl: int = 300,
        refresh_token_ttl: int = 24 * 3600,
        device_code_ttl: int = 600,
        device_interval: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port  # 0 until started: any free port
        self.keys: list[dict[str, Any]] = [new_signing_key("RS256"), new_signing_key("ES256")]
        self._accounts = [dict(a) for a in accounts]
        self._ttl = {
            "id_token": id_token_ttl,
            "access_token": access_token_ttl,
            "refresh_token": refresh_token_ttl,
            "device_code": device_code_ttl,
        }
        self._device = {"interval": device_interval, "slow_down": False}
        self._cookie_keys = [secrets.token_urlsafe(24)]
        self._process: subprocess.Popen[bytes] | None = None
        self.log = directory / "idp.log"
        self._write_live()

    # -- process --

    @property
    def issuer(self) -> str:
        if not self.port:
            raise RuntimeError("the IdP has not been started yet")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> IdP:
        """Start (or start again, on the same port: the issuer stays the same); returns once
        discovery answers."""
        if self.running:
            raise RuntimeError("the IdP is already running")
        ensure_node_modules()
        config = self.directory / "config.json"
        config.write_text(
            json.dumps(
                {
                    "host": self.host,
                    "port": self.port,
                    "jwks": {"keys": self.keys},
                    "clients": _default_clients(),
                    "cookie_keys": self._cookie_keys,
                    "live_file": str(self.directory / "live.json"),
                    "state_file": str(self.directory / "state.json"),
                }
            )
        )
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                ["node", str(IDP_DIR / "provider.mjs"), str(config)],
                cwd=IDP_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "NODE_ENV": "test"},
            )
        end = time.monotonic() + timeout
        while True:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            ready = [line for line in text.splitlines() if line.startswith("IDP READY ")]
            if ready:
                self.port = urlsplit(ready[0].split()[2]).port or 0
                break
            if self._process.poll() is not None:
                raise IdPError(f"the IdP exited ({self._process.returncode}):\n{text[-3000:]}")
            if time.monotonic() > end:
                self.stop()
                raise IdPError(f"the IdP did not start in {timeout:.0f} s:\n{text[-3000:]}")
            time.sleep(0.02)  # polling the log with a deadline
        found = self.discovery()
        if found.get("issuer") != self.issuer:
            raise IdPError(f"discovery names issuer {found.get('issuer')!r}, not {self.issuer!r}")
        return self

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); its port answers nothing after."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> IdP:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- keys --

    def rotate_keys(self) -> list[str]:
        """Restart publishing a new key per algorithm (which signs from now on) before the
        current ones (still published, so tokens they signed stay verifiable); the new kids."""
        fresh = [new_signing_key(alg) for alg in sorted({k["alg"] for k in self.keys})]
        self.keys = fresh + self.keys
        self.restart()
        return [k["kid"] for k in fresh]

    def retire_old_keys(self) -> None:
        """Restart publishing only the newest key of each algorithm."""
        newest: dict[str, dict[str, Any]] = {}
        for key in self.keys:
            newest.setdefault(key["alg"], key)
        self.keys = list(newest.values())
        self.restart()

    def signing_kid(self, alg: str = "RS256") -> str:
        return str(next(k["kid"] for k in self.keys if k["alg"] == alg))

    def public_jwks(self) -> dict[str, Any]:
        """What the IdP publishes (as configured here; `jwks()` asks the IdP)."""
        return {"keys": [public_jwk(k) for k in self.keys]}

    # -- live settings (no restart) --

    def _write_live(self) -> None:
        live = self.directory / "live.json"
        tmp = live.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"accounts": self._accounts, "ttl": self._ttl, "device": self._device})
        )
        os.replace(tmp, live)

    def account(self, who: str) -> dict[str, Any]:
        """An account by id or e-mail."""
        for a in self._accounts:
            if who in (a["id"], a["email"]):
                return a
        raise KeyError(f"no IdP account {who!r} (have {[a['id'] for a in self._accounts]})")

    def set_account(self, who: str, **fields: Any) -> None:
        """Change an account's fields (email_verified, groups, name, email): in the next token."""
        self.account(who).update(fields)
        self._write_live()

    def set_groups(self, who: str, groups: Sequence[str]) -> None:
        self.set_account(who, groups=list(groups))

    def add_account(
        self, id: str, email: str, *, groups: Sequence[str] = (), email_verified: bool = True
    ) -> None:
        self._accounts.append(
            {
                "id": id,
                "email": email,
                "email_verified": email_verified,
                "name": id,
                "groups": list(groups),
            }
        )
        self._write_live()

    def set_ttl(
        self,
        *,
        id_token: int | None = None,
        access_token: int | None = None,
        refresh_token: int | None = None,
        device_code: int | None = None,
    ) -> None:
        """Token lifetimes in seconds for tokens issued from now on."""
        for name, value in (
            ("id_token", id_token),
            ("access_token", access_token),
            ("refresh_token", refresh_token),
            ("device_code", device_code),
        ):
            if value is not None:
                self._ttl[name] = value
        self._write_live()

    def set_device_polling(
        self, *, interval: int | None = None, slow_down: bool | None = None
    ) -> None:
        """The `interval` the device authorization answers with (default 1 s here), and whether a
        poll sooner than that after the previous one, while pending, gets `slow_down`."""
        if interval is not None:
            self._device["interval"] = interval
        if slow_down is not None:
            self._device["slow_down"] = slow_down
        self._write_live()

    # -- endpoints --

    def _get(self, path_or_url: str) -> httpx.Response:
        return httpx.get(urljoin(self.issuer + "/", path_or_url), timeout=10)

    def discovery(self) -> dict[str, Any]:
        answer = self._get("/.well-known/openid-configuration")
        answer.raise_for_status()
        return dict(answer.json())

    def jwks(self) -> dict[str, Any]:
        answer = self._get("/jwks")
        answer.raise_for_status()
        return dict(answer.json())

    def token_request(self, data: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.issuer}/token", data=data, timeout=10)

    def refresh(self, refresh_token: str, *, client_id: str = CLIENT_ID) -> Tokens:
        return Tokens.of(
            self.token_request(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": client_id,
                }
            )
        )

    def userinfo(self, access_token: str) -> httpx.Response:
        return httpx.get(
            f"{self.issuer}/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
        )

    # -- device flow --

    def device_authorization(
        self, *, scope: str = DEFAULT_SCOPE, client_id: str = CLIENT_ID
    ) -> dict[str, Any]:
        """Start a device authorization as a CLI would: device_code, user_code, verification_uri,
        verification_uri_complete, expires_in, interval."""
        answer = httpx.post(
            f"{self.issuer}/device/auth", data={"client_id": client_id, "scope": scope}, timeout=10
        )
        if answer.status_code != 200:
            raise IdPError(f"device authorization: {answer.status_code} {answer.text[:500]}")
        return dict(answer.json())

    def approve_device(self, user_code: str, account: str, *, deny: bool = False) -> None:
        """What the person does in a browser: open the verification page, enter the code,
        confirm, sign in as `account`, consent. With deny=True they press Abort instead (the
        CLI's poll then gets access_denied)."""
        if not deny:
            self.account(account)
        with httpx.Client(timeout=10) as browser:
            page = browser.get(f"{self.issuer}/device", params={"user_code": user_code})
            final = self._drive(browser, page, account, deny=deny)
        if isinstance(final, str):
            raise IdPError(f"the device verification redirected away, to {final}")
        if not deny and "Sign-in Success" not in final.text:
            raise IdPError(
                f"device approval did not succeed: {final.status_code} {final.text[:500]}"
            )

    def poll_device_token(self, device_code: str, *, client_id: str = CLIENT_ID) -> httpx.Response:
        return self.token_request(
            {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id}
        )

    def tokens_for(
        self, account: str, *, scope: str = DEFAULT_SCOPE, client_id: str = CLIENT_ID
    ) -> Tokens:
        """Real tokens for `account` through the device flow (approved here)."""
        start = self.device_authorization(scope=scope, client_id=client_id)
        self.approve_device(start["user_code"], account)
        return Tokens.of(self.poll_device_token(start["device_code"], client_id=client_id))

    # -- authorization code + PKCE --

    def authorize_url(
        self,
        redirect_uri: str,
        *,
        scope: str = DEFAULT_SCOPE,
        client_id: str = CLIENT_ID,
        state: str | None = None,
        prompt: str | None = "consent",
    ) -> tuple[str, str]:
        """(authorize URL, code_verifier) as a CLI would build them (S256)."""
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state or secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        return f"{self.issuer}/auth?{urlencode(params)}", verifier

    def authorize(
        self, url: str, account: str, *, deny: bool = False, deliver: bool = False
    ) -> str:
        """What the person does in a browser opened on `url`: sign in as `account` and consent.
        Returns the redirect the IdP sends the browser to (the client's redirect_uri with code and
        state, or error=access_denied with deny=True). deliver=True also GETs that redirect (the
        CLI's loopback listener) and returns the page it answers instead."""
        if not deny:
            self.account(account)
        with httpx.Client(timeout=10) as browser:
            final = self._drive(browser, browser.get(url), account, deny=deny)
        if not isinstance(final, str):
            raise IdPError(f"the IdP did not redirect back: {final.status_code} {final.text[:500]}")
        if deliver:
            answer = httpx.get(final, timeout=30)
            return str(answer.text)
        return final

    def exchange_code(
        self, location: str, verifier: str, redirect_uri: str, *, client_id: str = CLIENT_ID
    ) -> Tokens:
        """The code of a redirect `location`, exchanged at the token endpoint."""
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise IdPError(f"no code in the redirect: {location}")
        return Tokens.of(
            self.token_request(
                {
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "code_verifier": verifier,
                    "redirect_uri": redirect_uri,
                    "client_id": client_id,
                }
            )
        )

    def _drive(
        self, browser: httpx.Client, page: httpx.Response, account: str, *, deny: bool
    ) -> httpx.Response | str:
        """Follow the IdP's pages like a browser: redirects within the IdP, forms filled in
        (login: the account; consent and device confirmation: accepted, or aborted with deny).
        Returns the first redirect leaving the IdP, or the last page (one with no form)."""
        for _ in range(30):
            if page.is_redirect:
                target = urljoin(str(page.url), page.headers["location"])
                if not target.startswith(self.issuer + "/"):
                    return target
                page = browser.get(target)
                continue
            if page.status_code >= 400:
                raise IdPError(
                    f"{page.request.method} {page.url}: {page.status_code} {page.text[:500]}"
                )
            form = _first_form(page.text)
            if form is None:
                return page
            action = urljoin(str(page.url), form.action)
            fields = dict(form.fields)
            if deny and fields.get("prompt") in ("login", "consent"):
                page = browser.get(action.rstrip("/") + "/abort")
                continue
            if form.id == "op.deviceInputForm":
                # the code entry page: the code given was refused (unknown, expired, used)
                raise IdPError(f"the IdP refused the user code: {_text_of(page.text)}")
            if fields.get("prompt") == "login":
                fields.update(login=self.account(account)["id"], password="any password")
            elif deny and "confirm" in fields:
                fields.pop("confirm")
                fields["abort"] = "yes"
                return browser.request(form.method, action, data=fields)
            page = browser.request(form.method, action, data=fields)
        raise IdPError("the IdP's pages went on for more than 30 steps")


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., IdP]]:
    """Start IdPs with the given IdP(...) keyword arguments; all stop when the module ends."""
    started: list[IdP] = []

    def make(**kwargs: Any) -> IdP:
        made = IdP(tmp_path_factory.mktemp("idp"), **kwargs)
        started.append(made)
        return made.start()

    try:
        yield make
    finally:
        for one in started:
            with contextlib.suppress(Exception):
                one.stop()


@pytest.fixture(scope="module")
def idp(idp_factory: Callable[..., IdP]) -> IdP:
    """A started IdP with the default accounts, clients and TTLs, for a whole test module."""
    return idp_factory()


def main() -> None:
    """`python -m tests.idp [--port N] [--dir D]`: the test IdP for a person to try things with
    (the README's walk-through, a CLI by hand); runs until Ctrl-C."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.idp", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--dir", type=Path, help="its files (default: a new temporary folder)")
    parser.add_argument("--id-token-ttl", type=int, default=300, help="seconds (default 300)")
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="teamgate-idp-"))
    with IdP(directory, port=args.port, id_token_ttl=args.id_token_ttl) as running:
        print(f"issuer {running.issuer}  clients {CLIENT_ID}, {OTHER_CLIENT_ID}, {ES256_CLIENT_ID}")
        for a in ACCOUNTS:
            print(f"  {a['email']:<20} groups {','.join(a['groups']) or '-':<28}", end="")
            print("" if a["email_verified"] else " (email not verified)")
        print(f"sign in as any of them with any password; files in {directory}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
