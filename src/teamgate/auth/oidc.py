"""Signing in with the organisation's identity provider: OpenID Connect ID tokens as Bearer.

The server is a relying party, as the Kubernetes API server is: the CLIs sign in at the
issuer and send its ID token (`Authorization: Bearer <JWT>`); the server checks it and never
talks to the issuer on a request's behalf, except to fetch signing keys it does not know yet.

- `Provider`: the issuer's discovery document (`/.well-known/openid-configuration`, whose
  `issuer` must equal the configured one exactly) and its signing keys (JWKS). The keys are
  fetched at startup and every `refresh_secs` (a retired key is refused from then on), and
  again when a token names a key id not in the set, at most once per `min_interval_secs`
  (forged key ids cannot make the server hammer the issuer). A fetch that fails keeps the
  keys it has: while the issuer is down, tokens signed with known keys keep working.
- `OidcVerifier`: a token is accepted only when its signature verifies with a published key
  and an allowed asymmetric algorithm (never `none`, never HMAC, whose key would be the
  public key), `iss` is the issuer, `aud` holds the client id or another allowed audience,
  `exp`/`nbf`/`iat` hold within LEEWAY_SECS, and, when the user name is the `email` claim,
  `email_verified` is true. Signatures are checked by PyJWT, never here. Anything else is
  `OidcRefused` (a 401, logged and audited by the web layer with its reason), never a crash.
  Verified tokens are remembered (by SHA-256) until they expire, while their key is still
  published, so that a request costs a hash and a lookup, no more than a cached password.

The caller is `Principal(name=<username claim>, method="oidc", idp_groups=...)`: the groups
claim names access groups the caller is a member of for that request only (no membership
rows; removing someone from a group at the IdP ends it with their next token).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import jwt

from teamgate.auth.throttle import printable, shorten
from teamgate.domain.identity import ANONYMOUS, Principal
from teamgate.domain.text import has_control
from teamgate.errors import Unauthenticated

if TYPE_CHECKING:
    from teamgate.settings import Settings

log = logging.getLogger("teamgate.auth")

LEEWAY_SECS = 60
MAX_TOKEN_CHARS = 16 * 1024  # an ID token with a thousand groups fits
MAX_DOCUMENT_BYTES = 1024 * 1024  # discovery document, JWKS
MAX_KEYS = 100
MAX_GROUPS = 1000
MAX_NAME_CHARS = 255  # of a user or group name (as the database columns hold)
FETCH_TIMEOUT_SECS = 5.0
MAX_CACHED = 10_000  # verified tokens remembered; the expired dropped first, then all
SIGN_IN_AGAIN = "sign in again ('taco login', 'torc login')"
DISCOVERY_PATH = "/.well-known/openid-configuration"

_PART = re.compile(r"[A-Za-z0-9_-]+")
_PART_OR_EMPTY = re.compile(r"[A-Za-z0-9_-]*")
# The key type and curve each algorithm needs (a key of another kind is never tried).
_KEY_KIND = {
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}


def looks_like_jwt(value: str) -> bool:
    """A compact JWS: three base64url parts (the signature may be empty: a stripped or
    `alg: none` token, which is refused as such rather than as an unknown API token)."""
    parts = value.split(".")
    return (
        len(parts) == 3
        and not value.startswith("tg_")
        and all(_PART.fullmatch(part) for part in parts[:2])
        and _PART_OR_EMPTY.fullmatch(parts[2]) is not None
    )


def binding(issuer: str, user: str) -> str:
    """What an API token minted after an OIDC sign-in is bound to (as a password-bound token
    is to its htpasswd hash): the issuer and the user, so that another issuer's user of the
    same name never gets it."""
    text = f"oidc\0{issuer}\0{user}".encode("utf-8", "surrogateescape")
    return hashlib.sha256(b"teamgate token binding\0" + text).hexdigest()


class OidcRefused(Unauthenticated):
    """An ID token that is not accepted: `code` a short name of the reason (for the audit
    log's bounded counting), `reason` the words, `claimed` the user name the token claims
    (unverified; as a failed password's user name is recorded)."""

    def __init__(self, code: str, reason: str, *, claimed: str | None = None) -> None:
        super().__init__(f"Identity provider token refused: {reason}; {SIGN_IN_AGAIN}")
        self.code = code
        self.reason = reason
        self.claimed = claimed


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """The OIDC settings, checked (`Settings.validate` refused the inconsistent ones)."""

    issuer: str
    client_id: str
    audiences: frozenset[str]
    username_claim: str = "email"
    groups_claim: str = "groups"
    groups_prefix: str = ""
    scopes: tuple[str, ...] = ("openid", "email", "profile", "offline_access")
    ca_file: str | None = None
    signing_algs: tuple[str, ...] = ("RS256", "ES256")
    admin_groups: frozenset[str] = frozenset()
    refresh_secs: float = 300.0
    min_interval_secs: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """The configuration `settings` give, or None when OIDC is off (no issuer)."""
        if settings.oidc_issuer is None or settings.oidc_client_id is None:
            return None
        scopes = [s for item in settings.oidc_scopes for s in re.split(r"[\s,]+", item) if s]
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id.strip(),
            audiences=frozenset({settings.oidc_client_id.strip(), *settings.oidc_audiences}),
            username_claim=settings.oidc_username_claim,
            groups_claim=settings.oidc_groups_claim,
            groups_prefix=settings.oidc_groups_prefix,
            scopes=tuple(dict.fromkeys(scopes)),
            ca_file=settings.oidc_ca_file,
            signing_algs=tuple(settings.oidc_signing_algs),
            admin_groups=frozenset(settings.oidc_admin_groups),
            refresh_secs=settings.oidc_jwks_refresh_secs,
            min_interval_secs=settings.oidc_jwks_min_interval_secs,
        )

    def public(self) -> dict[str, Any]:
        """What `GET /v1/auth/config` tells the CLIs."""
        return {"issuer": self.issuer, "client_id": self.client_id, "scopes": list(self.scopes)}


class FetchError(Exception):
    """The issuer could not be asked, or answered something unusable."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """The signing keys of one successful fetch, by key id ("" for a key without one)."""

    keys: Mapping[str, jwt.PyJWK]
    fetched_at: float  # monotonic

    def get(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self.keys.get(kid)
        # No key id: usable only when the issuer publishes a single key.
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None


EMPTY_KEYS = KeySet({}, float("-inf"))


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a browser signs in (authorization) and where its code is redeemed (token)."""

    authorization: str
    token: str


class Provider:
    """The issuer's discovery document and signing keys, fetched and kept (see the module)."""

    def __init__(
        self,
        config: OidcConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        verify: ssl.SSLContext | bool = True
        if config.ca_file is not None:
            verify = ssl.create_default_context(cafile=config.ca_file)
        self._http = httpx.Client(
            timeout=FETCH_TIMEOUT_SECS, verify=verify, follow_redirects=False, transport=transport
        )
        self._lock = threading.Lock()  # one fetch at a time
        self.keyset = EMPTY_KEYS  # replaced whole, read without the lock
        self.discovery: Mapping[str, Any] | None = None
        self._attempted_at = float("-inf")
        self.last_error: str | None = None
        self.fetches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- fetching ------------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        status, found = self._call("GET", url, what)
        if status != 200:
            raise FetchError(f"{what} {url} answered HTTP {status}")
        return found

    def _call(
        self, method: str, url: str, what: str, form: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One request; its status and JSON object body (bounded). FetchError when the
        issuer cannot be reached or answers something that is not a JSON object."""
        headers = {"Accept": "application/json"}
        try:
            with self._http.stream(method, url, headers=headers, data=form) as reply:
                body = bytearray()
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FetchError(f"{what} {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise FetchError(f"{what} {url} cannot be fetched: {reason}") from None
        try:
            found = json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError(f"{what} {url} answered HTTP {reply.status_code}, not JSON") from None
        if not isinstance(found, dict):
            raise FetchError(f"{what} {url} is not a JSON object")
        return reply.status_code, found

    def endpoints(self) -> Endpoints:
        """The issuer's authorization and token endpoints (for the console's sign-in), from
        its discovery document, fetched now if not held yet. FetchError when unusable."""
        with self._lock:
            if self.discovery is None:
                self.discovery = self._discover()
            discovery = self.discovery
        found = [discovery.get(name) for name in ("authorization_endpoint", "token_endpoint")]
        for url in found:
            if not isinstance(url, str) or not _same_security(url, self.config.issuer):
                raise FetchError(
                    f"the discovery document of {self.config.issuer} has no usable "
                    f"authorization and token endpoints ({shorten(str(url))!r})"
                )
        return Endpoints(authorization=str(found[0]), token=str(found[1]))

    def redeem(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST `form` to the token endpoint (an authorization code and its PKCE verifier);
        the issuer's answer. FetchError says why it was refused or could not be asked."""
        url = self.endpoints().token
        status, found = self._call("POST", url, "token endpoint", form)
        if status != 200:
            error = printable(shorten(str(found.get("error", "")), 64))
            detail = printable(shorten(str(found.get("error_description", "")), 200))
            raise FetchError(f"the token endpoint refused the code: {error} {detail}".rstrip())
        return found

    def _discover(self) -> Mapping[str, Any]:
        url = self.config.issuer.rstrip("/") + DISCOVERY_PATH
        document = self._get_json(url, "discovery document")
        if document.get("issuer") != self.config.issuer:
            raise FetchError(
                f"discovery document {url} names issuer {shorten(str(document.get('issuer')))!r}"
                f", not {self.config.issuer!r} (they must be equal, trailing slash included)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not _same_security(jwks_uri, self.config.issuer):
            raise FetchError(f"discovery document {url} has no usable jwks_uri ({jwks_uri!r})")
        return document

    def _fetch_keys(self, jwks_uri: str) -> dict[str, jwt.PyJWK]:
        document = self._get_json(jwks_uri, "JWKS")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise FetchError(f"JWKS {jwks_uri} has no 'keys' list")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in entries[:MAX_KEYS]:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
                log.debug("JWKS %s: key %r skipped: %s", jwks_uri, entry.get("kid"), exc)
                continue
            if key.key_type in ("oct",):  # a shared secret has no place in a JWKS
                continue
            keys[str(entry.get("kid") or "")] = key
        if not keys:
            raise FetchError(f"JWKS {jwks_uri} holds no usable signing key")
        return keys

    def refresh(self) -> bool:
        """Fetch the keys now (discovering the issuer first if needed); on failure keep the
        keys held and log why. True when the keys were fetched."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        self._attempted_at = self._clock()
        try:
            discovery = self.discovery or self._discover()
            try:
                keys = self._fetch_keys(str(discovery["jwks_uri"]))
            except FetchError:
                if self.discovery is None:
                    raise
                discovery = self._discover()  # perhaps the keys moved
                keys = self._fetch_keys(str(discovery["jwks_uri"]))
        except FetchError as exc:
            self.last_error = str(exc)
            held = len(self.keyset.keys)
            log.warning(
                "OIDC: fetching the signing keys of %s failed; keeping the %d held: %s",
                self.config.issuer,
                held,
                exc,
            )
            return False
        self.fetches += 1
        self.discovery = discovery
        before = set(self.keyset.keys)
        self.keyset = KeySet(keys, self._attempted_at)
        self.last_error = None
        if set(keys) != before:
            log.info(
                "OIDC: signing keys of %s: %s", self.config.issuer, ", ".join(sorted(keys)) or "-"
            )
        return True

    def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key `kid` names (None: the issuer's only key), fetching the keys again when it
        is not held and the last fetch is at least `min_interval_secs` old."""
        found = self.keyset.get(kid)
        if found is not None:
            return found
        started = self._clock()
        with self._lock:
            found = self.keyset.get(kid)  # fetched while we waited?
            if found is not None or self._attempted_at >= started:
                return found
            if started - self._attempted_at < self.config.min_interval_secs:
                return None
            self._refresh_locked()
            return self.keyset.get(kid)

    def publishes(self, kid: str | None) -> bool:
        """Whether the keys held still include `kid` (no fetch)."""
        return self.keyset.get(kid) is not None

    # -- keeping fresh -------------------------------------------------------------------

    def _run(self) -> None:
        self.refresh()
        while not self._stop.wait(self.config.refresh_secs):
            self.refresh()

    def start(self) -> None:
        """Fetch the keys in the background now, then every `refresh_secs`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="oidc-keys", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=FETCH_TIMEOUT_SECS * 3)
            self._thread = None
        self._http.close()


def _same_security(url: str, issuer: str) -> bool:
    """An https URL, or http where the issuer itself is http (a loopback test issuer)."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and urlsplit(issuer).scheme == "http")


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    exp: float  # the token's exp (epoch seconds)
    kid: str | None


class OidcVerifier:
    """Turns an ID token into a Principal, or raises OidcRefused (see the module)."""

    def __init__(
        self,
        config: OidcConfig,
        provider: Provider,
        *,
        admin_users: Iterable[str] = (),
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.provider = provider
        self.admin_users = frozenset(admin_users)
        self._now = now
        self._verified: dict[bytes, _Verified] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def cached(self, token: str) -> Principal | None:
        """The caller of a token verified before, unexpired, whose key is still published;
        None otherwise (ask `verify`). No I/O: fit for the event loop."""
        found = self._verified.get(_digest(token))
        if found is None or found.exp <= self._now() or not self.provider.publishes(found.kid):
            self.misses += 1
            return None
        self.hits += 1
        return found.principal

    def verify(self, token: str) -> Principal:
        """Check `token` completely (fetching keys if its key id is new); OidcRefused says why."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        if len(token) > MAX_TOKEN_CHARS:
            raise OidcRefused("too-long", f"the token is longer than {MAX_TOKEN_CHARS} characters")
        claims, kid = self._check(token)
        principal = self._principal(claims)
        self._remember(token, _Verified(principal, float(claims["exp"]), kid))
        return principal

    def _check(self, token: str) -> tuple[dict[str, Any], str | None]:
        config = self.config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcRefused("malformed", f"not a signed JWT ({exc})") from None
        unverified = _unverified_claims(token)
        claimed = _shown_user(unverified.get(config.username_claim))
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in config.signing_algs:
            shown = printable(shorten(str(alg), 32))
            allowed = ", ".join(config.signing_algs)
            raise OidcRefused(
                "algorithm",
                f"algorithm '{shown}' is not accepted (only {allowed})",
                claimed=claimed,
            )
        if not token.rsplit(".", 1)[1]:
            raise OidcRefused("unsigned", "the token carries no signature", claimed=claimed)
        if unverified.get("iss") != config.issuer:  # before any key is looked up or fetched
            raise OidcRefused("issuer", f"its issuer (iss) is not {config.issuer}", claimed=claimed)
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > MAX_NAME_CHARS):
            raise OidcRefused(
                "kid", "the token's key id (kid) is not a short string", claimed=claimed
            )
        key = self.provider.key(kid)
        if key is None:
            shown = printable(shorten(kid, 64)) if kid is not None else "(none)"
            why = (
                f"; fetching the keys failed: {self.provider.last_error}"
                if (self.provider.last_error)
                else ""
            )
            raise OidcRefused(
                "unknown-key",
                f"it is signed with key '{shown}', which {config.issuer} does not publish{why}",
                claimed=claimed,
            )
        _check_key_kind(key, alg, claimed)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=sorted(config.audiences),
                issuer=config.issuer,
                leeway=LEEWAY_SECS,
                options={"require": ["iss", "aud", "exp", "iat"], "verify_signature": True},
            )
        except jwt.InvalidSignatureError:
            raise OidcRefused(
                "signature", "the signature does not verify with the issuer's key", claimed=claimed
            ) from None
        except jwt.ExpiredSignatureError:
            raise OidcRefused("expired", "the token has expired", claimed=claimed) from None
        except jwt.ImmatureSignatureError:
            raise OidcRefused(
                "not-yet-valid",
                "the token is not valid yet (nbf or iat in the future)",
                claimed=claimed,
            ) from None
        except jwt.InvalidAudienceError:
            raise OidcRefused(
                "audience",
                f"its audience (aud) is not {config.client_id} nor another accepted audience",
                claimed=claimed,
            ) from None
        except jwt.InvalidIssuerError:
            raise OidcRefused(
                "issuer", f"its issuer (iss) is not {config.issuer}", claimed=claimed
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise OidcRefused(
                "claims", f"the claim '{exc.claim}' is missing", claimed=claimed
            ) from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise OidcRefused(
                "invalid", f"the token is invalid ({shorten(str(exc), 200)})", claimed=claimed
            ) from None
        return claims, kid

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        config = self.config
        user = claims.get(config.username_claim)
        if not isinstance(user, str) or not _fit_name(user) or user == ANONYMOUS:
            raise OidcRefused(
                "username",
                f"its '{config.username_claim}' claim is not a usable user name (1 to "
                f"{MAX_NAME_CHARS} printable characters, not 'anonymous', no ':')",
                claimed=user if isinstance(user, str) else None,
            )
        if config.username_claim == "email" and claims.get("email_verified") not in (True, "true"):
            raise OidcRefused(
                "email-unverified",
                f"the issuer does not say that e-mail {shorten(user)} is verified "
                "(email_verified is not true)",
                claimed=user,
            )
        raw = self._groups(claims, user)
        prefix = config.groups_prefix
        groups = frozenset(
            name[len(prefix) :]
            for name in raw
            if name.startswith(prefix) and 0 < len(name) - len(prefix) <= MAX_NAME_CHARS
        )
        is_admin = user in self.admin_users or not config.admin_groups.isdisjoint(groups)
        return Principal(
            name=user,
            is_admin=is_admin,
            method="oidc",
            credential=binding(config.issuer, user),
            idp=config.issuer,
            idp_groups=groups,
            expires_at=_iso(float(claims["exp"])),
        )

    def _groups(self, claims: Mapping[str, Any], user: str) -> list[str]:
        value = claims.get(self.config.groups_claim)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
            raise OidcRefused(
                "groups",
                f"its '{self.config.groups_claim}' claim is not a list of group names",
                claimed=user,
            )
        if len(value) > MAX_GROUPS:
            raise OidcRefused("groups", f"it names more than {MAX_GROUPS} groups", claimed=user)
        return value

    def _remember(self, token: str, verified: _Verified) -> None:
        now = self._now()
        if verified.exp <= now:
            return  # accepted within the leeway: checked again next time
        with self._lock:
            if len(self._verified) >= MAX_CACHED:
                self._verified = {k: v for k, v in self._verified.items() if v.exp > now}
                if len(self._verified) >= MAX_CACHED:
                    self._verified = {}
            self._verified[_digest(token)] = verified

    def __len__(self) -> int:
        return len(self._verified)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fit_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_NAME_CHARS
        and name == name.strip()
        and ":" not in name
        and not has_control(name)
    )


def _unverified_claims(token: str) -> dict[str, Any]:
    """A token's claims before anything is checked: for the issuer check that spares a key
    lookup, and the log and audit of a refusal (the user it claims); {} if unreadable."""
    try:
        found = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def _shown_user(value: Any) -> str | None:
    return shorten(value, MAX_NAME_CHARS) if isinstance(value, str) else None


def _check_key_kind(key: jwt.PyJWK, alg: str, claimed: str | None) -> None:
    """Refuse a key of another kind than `alg` needs (an RSA key for ES256, a P-384 key for
    ES256, a key published for another algorithm)."""
    kty, crv = _KEY_KIND[alg]
    data = getattr(key, "_jwk_data", {})
    published = data.get("alg") if isinstance(data, dict) else None
    if (
        key.key_type != kty
        or (crv is not None and data.get("crv") != crv)
        or (published is not None and published != alg)
    ):
        raise OidcRefused(
            "key-mismatch",
            f"its algorithm {alg} does not match the issuer's key {key.key_id or ''}".rstrip(),
            claimed=claimed,
        )
