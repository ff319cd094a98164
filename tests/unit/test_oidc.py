"""auth/oidc.py against an issuer of the tests' own (tests/jwks_server.py): the settings'
checks, fetching and keeping the signing keys (rate-limited refetches, the issuer down, retired
keys), and every forgery refused with its reason. Tokens that must be ACCEPTED come from the
real IdP: tests/api/test_oidc_api.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from teamgate.auth.oidc import (
    MAX_TOKEN_CHARS,
    OidcConfig,
    OidcRefused,
    OidcVerifier,
    Provider,
    binding,
    looks_like_jwt,
)
from teamgate.errors import ConfigError
from teamgate.settings import Settings
from tests.jwks_server import JwksServer, Key

CLIENT = "teamgate-cli"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


# -- settings --------------------------------------------------------------------------------


def oidc_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"oidc_issuer": "https://idp.example.com", "oidc_client_id": CLIENT}
    return Settings(**{**base, **values}).validate()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"oidc_issuer": "http://idp.example.com"}, "must use https"),
        ({"oidc_issuer": "ftp://idp.example.com"}, "must be an https:// URL"),
        ({"oidc_issuer": "https://idp.example.com/?x=1"}, "without query"),
        ({"oidc_client_id": None}, "oidc_client_id is not"),
        ({"oidc_client_id": "  "}, "oidc_client_id is not"),
        ({"oidc_signing_algs": ("RS256", "HS256")}, "'HS256' is not allowed"),
        ({"oidc_signing_algs": ("none",)}, "'none' is not allowed"),
        ({"oidc_signing_algs": ()}, "at least one"),
        ({"oidc_username_claim": ""}, "oidc_username_claim must be"),
        ({"oidc_ca_file": "/nonexistent/ca.pem"}, "is not a readable file"),
        ({"oidc_issuer": None}, "oidc_client_id is set but oidc_issuer is not"),
        ({"oidc_issuer": None, "oidc_client_id": None, "oidc_admin_groups": ("ops",)}, "issuer"),
    ],
)
def test_oidc_misconfiguration_is_fatal(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        oidc_settings(**values)


def test_oidc_settings_accepted() -> None:
    """A loopback http issuer is fine (tests, a local IdP); require_auth needs no htpasswd
    file when OIDC is on; scopes may be given as one space-separated value."""
    settings = oidc_settings(
        oidc_issuer="http://127.0.0.1:5556",
        require_auth=True,
        oidc_scopes=("openid email, groups", "openid"),
        oidc_audiences=("api",),
    )
    config = OidcConfig.from_settings(settings)
    assert config is not None
    assert config.scopes == ("openid", "email", "groups")
    assert config.audiences == {CLIENT, "api"}
    assert config.public() == {
        "issuer": "http://127.0.0.1:5556",
        "client_id": CLIENT,
        "scopes": ["openid", "email", "groups"],
    }
    assert OidcConfig.from_settings(Settings()) is None
    with pytest.raises(ConfigError, match="nor --oidc-issuer"):
        Settings(require_auth=True).validate()


def test_looks_like_jwt() -> None:
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")  # unsigned: OIDC refuses it
    assert not looks_like_jwt("tg_0123456789abcdef_" + "x" * 43)
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a.b.c.d")
    assert not looks_like_jwt("a b.c.d")
    assert not looks_like_jwt(".b.c")


def test_binding_names_issuer_and_user() -> None:
    one = binding("https://a", "alice@example.com")
    assert one == binding("https://a", "alice@example.com")
    assert one != binding("https://b", "alice@example.com")
    assert one != binding("https://a", "bob@example.com")


# -- the issuer's keys -----------------------------------------------------------------------


@pytest.fixture
def issuer() -> Iterator[JwksServer]:
    with JwksServer(keys=[Key.new("k1"), Key.new("e1", "ES256")]) as server:
        yield server


def config_for(server: JwksServer, **values: Any) -> OidcConfig:
    base: dict[str, Any] = {
        "issuer": server.issuer,
        "client_id": CLIENT,
        "audiences": frozenset({CLIENT}),
        "min_interval_secs": 10.0,
    }
    return OidcConfig(**{**base, **values})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unknown_kid_refetches_at_most_once_per_interval(issuer: JwksServer) -> None:
    clock = Clock()
    provider = Provider(config_for(issuer), clock=clock)
    assert provider.key("k1") is not None  # first use fetches
    assert issuer.fetches == 1
    for _ in range(50):  # forged key ids: no more fetches within the interval
        assert provider.key("forged") is None
    assert issuer.fetches == 1
    issuer.keys.append(Key.new("k2"))
    clock.now += 5
    assert provider.key("k2") is None  # too soon
    clock.now += 5
    assert provider.key("k2") is not None  # the interval passed: fetched, found
    assert issuer.fetches == 2
    provider.stop()


def test_keys_are_kept_while_the_issuer_is_down(issuer: JwksServer) -> None:
    clock = Clock()
    provider = Provider(config_for(issuer), clock=clock)
    assert provider.refresh()
    issuer.down = True
    clock.now += 60
    assert not provider.refresh()
    assert "503" in (provider.last_error or "")
    assert provider.publishes("k1") and provider.publishes("e1")
    clock.now += 60
    assert provider.key("unknown") is None  # tried, failed, still holds the others
    assert provider.publishes("k1")
    issuer.down = False
    clock.now += 60
    assert provider.refresh() and provider.last_error is None
    provider.stop()


def test_a_refresh_retires_keys_the_issuer_no_longer_publishes(issuer: JwksServer) -> None:
    provider = Provider(config_for(issuer))
    assert provider.refresh() and provider.publishes("k1")
    issuer.keys = [Key.new("k2")]
    assert provider.refresh()
    assert not provider.publishes("k1") and provider.publishes("k2")
    provider.stop()


def test_discovery_must_name_the_issuer_exactly(issuer: JwksServer) -> None:
    issuer.discovery_issuer = issuer.issuer + "/"
    provider = Provider(config_for(issuer))
    assert not provider.refresh()
    assert "must be equal" in (provider.last_error or "")
    assert issuer.fetches == 0 and not provider.publishes("k1")
    provider.stop()


def test_symmetric_and_unusable_keys_are_never_loaded(issuer: JwksServer) -> None:
    issuer.extra_jwks = [
        {"kty": "oct", "kid": "secret", "k": b64(b"public-knowledge"), "alg": "HS256"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        {**issuer.keys[0].public_jwk(), "kid": "enc", "use": "enc"},
    ]
    provider = Provider(config_for(issuer))
    assert provider.refresh()
    assert sorted(provider.keyset.keys) == ["e1", "k1"]
    provider.stop()


# -- forgeries: each refused with its reason ---------------------------------------------


@pytest.fixture
def verifier(issuer: JwksServer) -> Iterator[OidcVerifier]:
    config = config_for(issuer)
    provider = Provider(config)
    assert provider.refresh()
    yield OidcVerifier(config, provider)
    provider.stop()


def refused(verifier: OidcVerifier, token: str) -> OidcRefused:
    with pytest.raises(OidcRefused) as caught:
        verifier.verify(token)
    assert caught.value.message.startswith("Identity provider token refused: ")
    assert "sign in again" in caught.value.message
    return caught.value


def test_alg_none(issuer: JwksServer, verifier: OidcVerifier) -> None:
    token = compact({"alg": "none", "kid": "k1"}, issuer.claims())
    found = refused(verifier, token)
    assert (found.code, found.claimed) == ("algorithm", "alice@example.com")
    assert "'none' is not accepted" in found.reason


def test_hs256_keyed_with_the_public_key(issuer: JwksServer, verifier: OidcVerifier) -> None:
    public = issuer.keys[0].private.public_key()
    for secret in (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(issuer.keys[0].public_jwk()).encode(),
    ):
        header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
        unsigned = compact(header, issuer.claims())[:-1]
        signature = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        found = refused(verifier, unsigned + "." + b64(signature))
        assert found.code == "algorithm" and "HS256" in found.reason


def test_an_unpublished_key_with_a_published_kid(
    issuer: JwksServer, verifier: OidcVerifier
) -> None:
    impostor = Key.new("k1")  # the published kid, another key
    assert refused(verifier, impostor.sign(issuer.claims())).code == "signature"


def test_an_unknown_kid(issuer: JwksServer, verifier: OidcVerifier) -> None:
    found = refused(verifier, Key.new("nobody").sign(issuer.claims()))
    assert found.code == "unknown-key" and "'nobody'" in found.reason


def test_a_tampered_payload(issuer: JwksServer, verifier: OidcVerifier) -> None:
    token = issuer.keys[0].sign(issuer.claims(groups=["ml-team"]))
    head, _body, signature = token.split(".")
    body = b64(json.dumps(issuer.claims(groups=["admins"])).encode())
    assert refused(verifier, f"{head}.{body}.{signature}").code == "signature"


def test_a_stripped_signature(issuer: JwksServer, verifier: OidcVerifier) -> None:
    token = issuer.keys[0].sign(issuer.claims())
    found = refused(verifier, token.rsplit(".", 1)[0] + ".")
    assert found.code == "unsigned"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "other-app"}, "audience"),
        ({"aud": ["other-app", "yet-another"]}, "audience"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"email_verified": False}, "email-unverified"),
        ({"email_verified": None}, "email-unverified"),
        ({"exp": 1_000_000}, "expired"),
        ({"nbf": 4_000_000_000}, "not-yet-valid"),
        ({"iat": 4_000_000_000}, "not-yet-valid"),
        ({"email": "anonymous"}, "username"),
        ({"email": "a:b@example.com"}, "username"),
        ({"email": "x" * 300}, "username"),
        ({"email": 7}, "username"),
        ({"groups": [1, 2]}, "groups"),
        ({"groups": {"ml-team": True}}, "groups"),
        ({"groups": [f"g{i}" for i in range(1001)]}, "groups"),
    ],
)
def test_claims_that_are_refused(
    issuer: JwksServer, verifier: OidcVerifier, claims: dict[str, Any], code: str
) -> None:
    token = issuer.keys[0].sign(issuer.claims(**claims))
    assert refused(verifier, token).code == code


def test_a_missing_claim(issuer: JwksServer, verifier: OidcVerifier) -> None:
    claims = issuer.claims()
    del claims["exp"]
    found = refused(verifier, issuer.keys[0].sign(claims))
    assert found.code == "claims" and "'exp'" in found.reason


def test_an_algorithm_the_key_is_not_for(issuer: JwksServer, verifier: OidcVerifier) -> None:
    """ES256 in the header, the RSA key's kid: the key is never tried with it."""
    es = Key.new("k1", "ES256")
    assert refused(verifier, es.sign(issuer.claims())).code == "key-mismatch"


def test_an_allowed_but_unconfigured_algorithm(issuer: JwksServer) -> None:
    config = config_for(issuer, signing_algs=("ES256",))
    provider = Provider(config)
    try:
        found = refused(OidcVerifier(config, provider), issuer.keys[0].sign(issuer.claims()))
        assert found.code == "algorithm" and "only ES256" in found.reason
    finally:
        provider.stop()


def test_garbage_and_oversized(verifier: OidcVerifier) -> None:
    assert refused(verifier, "abc.def.ghi").code == "malformed"
    assert refused(verifier, "a" * MAX_TOKEN_CHARS + ".b.c").code == "too-long"
    bad_header = b64(b"[1,2]") + "." + b64(b"{}") + ".sig"
    assert refused(verifier, bad_header).code == "malformed"


def test_the_issuer_down_from_the_start() -> None:
    """No key was ever fetched: a token is refused (401), saying the issuer cannot be asked."""
    with JwksServer(down=True) as server:
        config = config_for(server)
        provider = Provider(config)
        try:
            found = refused(OidcVerifier(config, provider), server.keys[0].sign(server.claims()))
            assert found.code == "unknown-key" and "503" in found.reason
        finally:
            provider.stop()
