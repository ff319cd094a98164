"""The CLIs' OIDC pieces that need no identity provider: PKCE, the loopback callback and its
state check, reading the IdP's answers (device codes, polling errors, tokens), the saved
sign-ins (mode 0600, one per server) and when they are renewed. The flows themselves run
against a real IdP in tests/cli/test_oidc_login.py."""

from __future__ import annotations

import base64
import json
import re
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from teamgate.cli.oidc_login import expiry_text, has_display
from teamgate.client.oidc import (
    DeviceCode,
    LoopbackCallback,
    OidcConfig,
    Provider,
    SignInError,
    authorize_url,
    jwt_claims,
    next_poll,
    oauth_error,
    pkce_pair,
    s256,
    tokens_from,
)
from teamgate.client.oidc_sessions import Session, SessionStore, server_key


def unsigned_jwt(claims: dict[str, object]) -> str:
    """A JWT-shaped string for the client's parsing (the client never checks signatures)."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_pkce_matches_rfc_7636_and_pairs_are_fresh() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier, challenge = pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", verifier)
    assert challenge == s256(verifier) and "=" not in challenge
    assert pkce_pair()[0] != verifier


def test_authorize_url_asks_for_pkce_s256_and_consent_for_offline_access() -> None:
    provider = Provider("https://idp.example", "https://idp.example/auth?tenant=x", "https://t")
    config = OidcConfig("https://idp.example", "cli", ("openid", "email", "offline_access"))
    url = authorize_url(provider, config, state="s", code_challenge="c", redirect_uri="r")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://idp.example/auth?tenant=x&")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] == ["c"]
    assert query["scope"] == ["openid email offline_access"] and query["prompt"] == ["consent"]
    online = OidcConfig("https://idp.example", "cli", ("openid",))
    assert "prompt" not in parse_qs(urlsplit(authorize_url(provider, online)).query)


def test_server_config_answer() -> None:
    assert OidcConfig.from_answer({"oidc": None}) is None
    config = OidcConfig.from_answer(
        {"oidc": {"issuer": "https://i", "client_id": "c", "scopes": ["email", "groups"]}}
    )
    assert config == OidcConfig("https://i", "c", ("openid", "email", "groups"))
    with pytest.raises(SignInError, match="not understood"):
        OidcConfig.from_answer({"oidc": {"issuer": "https://i"}})


def callback_get(callback: LoopbackCallback, query: str, path: str = "/callback") -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{callback.port}{path}?{query}", timeout=5)


def test_loopback_callback_takes_only_its_own_state() -> None:
    with LoopbackCallback("the-state") as callback:
        assert callback.redirect_uri == f"http://127.0.0.1:{callback.port}/callback"
        assert callback_get(callback, "code=x&state=other").status_code == 400
        assert callback_get(callback, "code=x").status_code == 400
        assert callback_get(callback, "code=x&state=%C3%A9").status_code == 400
        assert callback_get(callback, "code=x&state=the-state", "/elsewhere").status_code == 404
        assert callback.code is None  # still waiting for the real answer
        answer = callback_get(callback, "code=the-code&state=the-state")
        assert answer.status_code == 200 and "Signed in" in answer.text
        assert callback.wait(5) == "the-code"
        assert callback_get(callback, "code=late&state=the-state").status_code == 409
        assert callback.wait(0) == "the-code"


def test_loopback_callback_error_and_timeout() -> None:
    with LoopbackCallback("st") as callback:
        with pytest.raises(SignInError, match="timed out"):
            callback.wait(0)
        callback_get(callback, "error=access_denied&error_description=no+thanks&state=st")
        with pytest.raises(SignInError, match="access_denied: no thanks"):
            callback.wait(5)


def test_device_answer_defaults_and_polling_errors() -> None:
    device = DeviceCode.from_answer(
        {"device_code": "d", "user_code": "ABCD-EFGH", "verification_uri": "https://i/device"}
    )
    assert (device.interval, device.expires_in, device.verification_uri_complete) == (
        5.0,
        600.0,
        None,
    )
    with pytest.raises(SignInError, match="incomplete"):
        DeviceCode.from_answer({"device_code": "d", "user_code": ""})
    assert next_poll("authorization_pending", 5) == 5
    assert next_poll("slow_down", 5) == 10 and next_poll("slow_down", 58) == 60
    for code, message in [
        ("access_denied", "denied"),
        ("expired_token", "expired"),
        ("invalid_grant", "invalid_grant"),
    ]:
        with pytest.raises(SignInError, match=message):
            next_poll(code, 5)
    assert oauth_error({"error": "slow_down"}, 400) == ("slow_down", "slow_down")
    assert oauth_error("<html>", 502) == ("http_error", "HTTP 502")


def test_token_answers() -> None:
    token = unsigned_jwt({"sub": "a", "exp": 2_000_000_000, "nonce": "n"})
    tokens = tokens_from({"id_token": token, "refresh_token": "r"}, nonce="n")
    assert (tokens.expires_at, tokens.refresh_token, tokens.claims["sub"]) == (2e9, "r", "a")
    with pytest.raises(SignInError, match="nonce"):
        tokens_from({"id_token": token}, nonce="other")
    with pytest.raises(SignInError, match="without an ID token"):
        tokens_from({"access_token": "x"})
    with pytest.raises(SignInError, match="not a JWT"):
        jwt_claims("opaque")
    with pytest.raises(SignInError, match="unreadable"):
        jwt_claims("a.!!!.c")


def test_sessions_are_kept_per_server_with_mode_0600(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "torc", "torc")
    session = Session("https://i", "c", "id.tok.en", time.time() + 600, "refresh", "alice")
    store.save("http://h:8080/torc-service/v1/", session)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.find("http://h:8080") == session
    assert store.find("http://other:8080") is None
    with store.locked():  # the renewal lock is a file beside it, private too
        pass
    assert stat.S_IMODE(store.path.with_suffix(".lock").stat().st_mode) == 0o600
    assert store.remove("http://h:8080/") == session and store.find("http://h:8080") is None
    store.path.write_text("{not json")
    with pytest.raises(Exception, match="run 'torc login' again"):
        store.find("http://h:8080")


def test_renewal_margin_and_rotation() -> None:
    session = Session("https://i", "c", "t", expires_at=1000.0, refresh_token="r1")
    assert session.fresh(now=969.0) and not session.fresh(now=971.0)
    renewed = session.renewed(tokens_from({"id_token": unsigned_jwt({"exp": 5000})}))
    assert (renewed.expires_at, renewed.refresh_token) == (5000.0, "r1")  # none came back: kept
    rotated = session.renewed(
        tokens_from({"id_token": unsigned_jwt({"exp": 5000}), "refresh_token": "r2"})
    )
    assert rotated.refresh_token == "r2"
    assert server_key("https://h/torc-service/v1") == server_key("https://h/") == "https://h"


def test_display_and_expiry_text(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    assert has_display() is False  # Linux, over SSH: the device flow
    monkeypatch.setenv("BROWSER", "w3m")
    assert has_display() is True
    assert "(expired)" in expiry_text(time.time() - 5)
    assert "(in 10 min)" in expiry_text(time.time() + 600)
    assert expiry_text(None) == "never" and "UTC" in expiry_text("2030-01-01T00:00:00+00:00")
