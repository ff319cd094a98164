"""The test IdP (tests/idp.py) does what the OIDC tests rely on: a real oidc-provider on a free
port with discovery and JWKS, the device flow and the PKCE code flow driven over HTTP, the claims
the server maps (email, email_verified, groups), refresh, the ID token's lifetime, key rotation,
and being stopped and started again."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.idp import CLIENT_ID, IdP, IdPError


def verify(idp: IdP, token: str, *, audience: str = CLIENT_ID, leeway: float = 0) -> dict[str, Any]:
    """Verify an ID token as a relying party would: a published key (by kid), iss, aud, exp."""
    keys = jwt.PyJWKSet.from_dict(idp.jwks())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    return dict(
        jwt.decode(
            token,
            key=key,
            algorithms=["RS256", "ES256"],
            audience=audience,
            issuer=idp.issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    )


def test_serves_discovery_and_jwks_on_its_port(idp: IdP) -> None:
    found = idp.discovery()
    assert found["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}"
    assert found["jwks_uri"] == f"{idp.issuer}/jwks"
    assert found["device_authorization_endpoint"] == f"{idp.issuer}/device/auth"
    assert found["token_endpoint"] == f"{idp.issuer}/token"
    assert found["revocation_endpoint"] == f"{idp.issuer}/token/revocation"
    assert "S256" in found["code_challenge_methods_supported"]
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(
        found["scopes_supported"]
    )
    published = idp.jwks()["keys"]
    assert {k["kid"] for k in published} == {k["kid"] for k in idp.keys}
    assert {k["kty"] for k in published} == {"RSA", "EC"}
    assert not any("d" in k for k in published), "private key material published"


def test_device_flow_gives_email_groups_and_a_refresh_token(idp: IdP) -> None:
    start = idp.device_authorization()
    assert start["verification_uri"] == f"{idp.issuer}/device"
    assert start["verification_uri_complete"].startswith(f"{idp.issuer}/device?user_code=")
    assert start["interval"] >= 1
    pending = idp.poll_device_token(start["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

    idp.approve_device(start["user_code"], "alice@example.com")
    answer = idp.poll_device_token(start["device_code"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    claims = verify(idp, body["id_token"])
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["groups"] == ["ml-team"]
    assert body["refresh_token"]
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    # the device code is spent
    again = idp.poll_device_token(start["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_groups_only_with_the_groups_scope_and_refresh_only_with_offline_access(idp: IdP) -> None:
    tokens = idp.tokens_for("bob", scope="openid email profile")
    assert "groups" not in tokens.claims
    assert tokens.claims["email"] == "bob@example.com"
    assert tokens.refresh_token is None
    assert idp.tokens_for("bob", scope="openid email groups").claims["groups"] == ["data-team"]


def test_the_accounts(idp: IdP) -> None:
    carol = idp.tokens_for("carol@example.com").claims
    assert (carol["email"], carol["email_verified"], carol["groups"]) == (
        "carol@example.com",
        False,
        ["ml-team"],
    )
    dave = idp.tokens_for("dave").claims
    assert (dave["email"], dave["email_verified"], dave["groups"]) == ("dave@example.com", True, [])
    with pytest.raises(KeyError):
        idp.tokens_for("mallory@example.com")


def test_a_denied_device_code_is_refused_to_the_cli(idp: IdP) -> None:
    start = idp.device_authorization()
    idp.approve_device(start["user_code"], "alice", deny=True)
    answer = idp.poll_device_token(start["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"


def test_a_wrong_user_code_is_an_error(idp: IdP) -> None:
    with pytest.raises(IdPError, match="refused the user code"):
        idp.approve_device("BCDF-GHJK", "alice")
