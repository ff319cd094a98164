"""The test IdP (tests/idp.py) does what the OIDC tests rely on: a real oidc-provider on a free
port with discovery and JWKS, the device flow and the PKCE code flow driven over HTTP, the claims
the server maps (email, email_verified, groups), refresh, the ID token's lifetime, key rotation,
and being stopped and started again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
import jwt
import pytest

from tests.idp import CLIENT_ID, ES256_CLIENT_ID, OTHER_CLIENT_ID, IdP, IdPError
from tests.polling import until


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


class Loopback:
    """A CLI's loopback redirect listener: records the query of each /callback request."""

    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.queries.append(parse_qs(urlsplit(self.path).query))
                body = b"signed in: you can close this page"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pkce_code_flow_through_a_loopback_redirect(idp: IdP) -> None:
    with Loopback() as cli:
        url, verifier = idp.authorize_url(cli.redirect_uri, state="s-123")
        page = idp.authorize(url, "alice@example.com", deliver=True)
        assert page == "signed in: you can close this page"
        (query,) = cli.queries
    assert query["state"] == ["s-123"] and query["iss"] == [idp.issuer]
    location = f"{cli.redirect_uri}?code={query['code'][0]}"
    # the code needs its PKCE verifier
    wrong = idp.token_request(
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "code_verifier": "x" * 43,
            "redirect_uri": cli.redirect_uri,
            "client_id": CLIENT_ID,
        }
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # (a code is single-use: the failed attempt above spent it) so sign in again
    with Loopback() as cli:
        url, verifier = idp.authorize_url(cli.redirect_uri)
        location = idp.authorize(url, "bob")
        assert location.startswith(cli.redirect_uri + "?code=")
        tokens = idp.exchange_code(location, verifier, cli.redirect_uri)
    claims = verify(idp, tokens.id_token)
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        "bob",
        "bob@example.com",
        ["data-team"],
    )
    assert tokens.refresh_token, "offline_access with prompt=consent gives a refresh token"


def test_pkce_is_required_and_offline_access_needs_prompt_consent(idp: IdP) -> None:
    redirect = "http://127.0.0.1:9/callback"
    url, _ = idp.authorize_url(redirect)
    no_pkce = url.replace("code_challenge_method=S256", "").split("&code_challenge=")[0]
    refused = idp.authorize(no_pkce, "alice")
    assert "error=invalid_request" in refused and "requires PKCE" in unquote_plus(refused)

    url, verifier = idp.authorize_url(redirect, prompt=None)
    tokens = idp.exchange_code(idp.authorize(url, "alice"), verifier, redirect)
    assert tokens.refresh_token is None and "offline_access" not in tokens.scope


def test_a_denied_authorization_redirects_with_access_denied(idp: IdP) -> None:
    url, _ = idp.authorize_url("http://localhost:9/callback", state="st")
    location = idp.authorize(url, "alice", deny=True)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith("http://localhost:9/callback?")
    assert query["error"] == ["access_denied"] and query["state"] == ["st"]


def test_refresh_gives_a_new_id_token_with_the_current_groups(idp: IdP) -> None:
    first = idp.tokens_for("dave")
    assert first.claims["groups"] == []
    idp.set_groups("dave", ["ml-team"])
    try:
        second = idp.refresh(first.refresh_token or "")
    finally:
        idp.set_groups("dave", [])
    claims = verify(idp, second.id_token)
    assert claims["sub"] == "dave" and claims["groups"] == ["ml-team"]
    assert claims["iat"] >= first.claims["iat"]
    assert second.refresh_token and second.refresh_token != first.refresh_token
    # refresh tokens rotate: the spent one is refused, and reusing it revokes the grant
    reused = idp.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token or "",
            "client_id": CLIENT_ID,
        }
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    with pytest.raises(IdPError, match="invalid_grant"):
        idp.refresh(second.refresh_token)


def test_other_clients_audience_and_es256(idp: IdP) -> None:
    other = idp.tokens_for("alice", client_id=OTHER_CLIENT_ID)
    assert verify(idp, other.id_token, audience=OTHER_CLIENT_ID)["aud"] == OTHER_CLIENT_ID
    with pytest.raises(jwt.InvalidAudienceError):
        verify(idp, other.id_token)
    es = idp.tokens_for("alice", client_id=ES256_CLIENT_ID)
    header = jwt.get_unverified_header(es.id_token)
    assert header["alg"] == "ES256" and header["kid"] == idp.signing_kid("ES256")
    assert verify(idp, es.id_token, audience=ES256_CLIENT_ID)["email"] == "alice@example.com"


def test_the_id_token_expires_after_the_configured_ttl(idp_factory: Callable[..., IdP]) -> None:
    short = idp_factory(id_token_ttl=2, access_token_ttl=2)
    tokens = short.tokens_for("alice")
    claims = verify(short, tokens.id_token)
    assert claims["exp"] - claims["iat"] == 2
    assert tokens.expires_in <= 2
    assert short.userinfo(tokens.access_token).json()["email"] == "alice@example.com"

    def expired() -> bool:
        try:
            verify(short, tokens.id_token)
        except jwt.ExpiredSignatureError:
            return True
        return False

    until("the ID token to expire", expired, deadline=10)
    assert short.userinfo(tokens.access_token).status_code == 401
    # the refresh token outlives it
    fresh = short.refresh(tokens.refresh_token or "")
    assert verify(short, fresh.id_token)["exp"] > claims["exp"]
    # and the lifetime can change while it runs
    short.set_ttl(id_token=120)
    longer = short.refresh(fresh.refresh_token or "").claims
    assert longer["exp"] - longer["iat"] == 120


def test_key_rotation_new_key_then_old_key_retired(idp_factory: Callable[..., IdP]) -> None:
    rotating = idp_factory()
    issuer = rotating.issuer
    old_kid = rotating.signing_kid("RS256")
    before = rotating.tokens_for("alice")
    assert jwt.get_unverified_header(before.id_token)["kid"] == old_kid

    new_kids = rotating.rotate_keys()
    assert rotating.issuer == issuer, "a restart keeps the port and so the issuer"
    new_kid = rotating.signing_kid("RS256")
    assert new_kid in new_kids and new_kid != old_kid
    published = {k["kid"] for k in rotating.jwks()["keys"]}
    assert {old_kid, new_kid} <= published
    assert verify(rotating, before.id_token)["sub"] == "alice", "the old key is still published"
    after = rotating.refresh(before.refresh_token or "")  # grants survive the restart
    assert jwt.get_unverified_header(after.id_token)["kid"] == new_kid
    assert verify(rotating, after.id_token)["sub"] == "alice"

    rotating.retire_old_keys()
    published = {k["kid"] for k in rotating.jwks()["keys"]}
    assert old_kid not in published and new_kid in published and len(published) == 2
    with pytest.raises(StopIteration):  # no published key verifies the old token any more
        verify(rotating, before.id_token)
    assert verify(rotating, after.id_token)["sub"] == "alice"


def test_stopped_and_started_again(idp_factory: Callable[..., IdP]) -> None:
    down = idp_factory()
    issuer = down.issuer
    tokens = down.tokens_for("bob")
    down.stop()
    assert not down.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2)
    down.start()
    assert down.issuer == issuer and down.discovery()["issuer"] == issuer
    assert verify(down, tokens.id_token)["sub"] == "bob", "same keys after a plain restart"
    assert down.refresh(tokens.refresh_token or "").claims["sub"] == "bob"


def test_device_polling_interval_and_slow_down(idp_factory: Callable[..., IdP]) -> None:
    polled = idp_factory(device_interval=3)
    start = polled.device_authorization()
    assert start["interval"] == 3
    assert polled.poll_device_token(start["device_code"]).json()["error"] == "authorization_pending"
    # by default a quick poll is only pending; with slow_down on, it is told to back off
    assert polled.poll_device_token(start["device_code"]).json()["error"] == "authorization_pending"
    polled.set_device_polling(slow_down=True)
    assert polled.poll_device_token(start["device_code"]).json()["error"] == "slow_down"
    polled.approve_device(start["user_code"], "alice")
    assert polled.poll_device_token(start["device_code"]).status_code == 200
