"""Console sign-in at the identity provider (the real IdP of tests/idp.py), in process: the
authorization code flow with PKCE, its state, nonce and cookie, and every way it can fail
(a page, 400 or 401, and a failed-login audit row; never a 500)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.idp import CLIENT_ID, IdP
from tests.inprocess import App

# The IdP's clients accept loopback redirects on any port: the console's address as its browser
# sees it (the in-process server answers any host name).
BASE = "http://127.0.0.1:8123"


@pytest.fixture
def sso_app(app_factory: Any, idp: IdP) -> App:
    return app_factory(  # type: ignore[no-any-return]
        require_auth=True,
        enforce_access_control=True,
        admin_users=("alice",),
        oidc_issuer=idp.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_scopes=("openid email profile groups offline_access",),
    )


def start(app: App, next_page: str = "/ui/workflows") -> tuple[httpx.Client, str]:
    """A browser that clicked "Sign in with SSO": its client and the IdP URL it is sent to."""
    browser = app.client(base_url=BASE)
    answer = browser.get("/ui/sso", params={"next": next_page})
    assert answer.status_code == 303, answer.text
    return browser, answer.headers["location"]


def failed_logins(app: App) -> list[dict[str, Any]]:
    with app.client("alice") as admin:
        found = admin.get("/v1/audit", params={"decision": "failed-login"}).json()
    return [e for e in found["items"] if e["resource"] == "/ui/sso/callback"]


def test_sso_signs_in_with_pkce_and_comes_back(sso_app: App, idp: IdP) -> None:
    sign_in = sso_app.client(base_url=BASE).get("/ui/sign-in")
    assert 'href="/ui/sso?next=/ui/workflows"' in sign_in.text
    browser, url = start(sso_app, "/ui/units")
    sent = parse_qs(urlsplit(url).query)
    assert url.startswith(idp.discovery()["authorization_endpoint"] + "?")
    assert sent["client_id"] == [CLIENT_ID]
    assert sent["redirect_uri"] == [f"{BASE}/ui/sso/callback"]
    assert sent["code_challenge_method"] == ["S256"] and len(sent["code_challenge"][0]) == 43
    assert sent["scope"] == ["openid email profile groups"]  # no refresh token wanted
    assert sent["state"][0] and sent["nonce"][0]
    flow = next(c for c in browser.cookies.jar if c.name == "teamgate_sso")
    assert flow.path == "/ui/sso" and flow.has_nonstandard_attr("HttpOnly")
    kept = json.loads(base64.urlsafe_b64decode(flow.value + "=" * (-len(flow.value) % 4)))
    assert kept["state"] == sent["state"][0] and kept["next"] == "/ui/units"
    assert kept["verifier"] not in url  # only its S256 challenge goes to the IdP
    back = idp.authorize(url, "erin")
    assert back.startswith(f"{BASE}/ui/sso/callback?")
    done = browser.get(back)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/ui/units"
    assert "teamgate_session" in browser.cookies
    assert "teamgate_sso" not in browser.cookies  # used once
    page = browser.get("/ui/workflows")
    assert page.status_code == 200
    assert "erin@example.com" in page.text
    # the code is spent: delivering the same redirect again signs nobody in
    again = sso_app.client(base_url=BASE)
    again.cookies.set("teamgate_sso", flow.value, path="/ui/sso")
    replay = again.get(back)
    assert replay.status_code == 401
    assert "teamgate_session" not in again.cookies


def test_denied_at_the_idp_is_a_page_and_an_audit_row(sso_app: App, idp: IdP) -> None:
    browser, url = start(sso_app)
    back = idp.authorize(url, "bob", deny=True)
    assert "error=access_denied" in back
    answer = browser.get(back)
    assert answer.status_code == 401
    assert "The identity provider did not sign you in (access_denied" in answer.text
    assert "teamgate_session" not in browser.cookies
    assert any("access_denied" in e["reason"] for e in failed_logins(sso_app))


def test_wrong_state_missing_cookie_and_wrong_nonce_are_refused(sso_app: App, idp: IdP) -> None:
    browser, url = start(sso_app)
    back = idp.authorize(url, "bob")
    state = parse_qs(urlsplit(back).query)["state"][0]
    forged = back.replace(f"state={state}", "state=" + "x" * len(state))
    answer = browser.get(forged)
    assert answer.status_code == 400
    assert "did not come back with the state it was sent with" in answer.text
    # the same redirect in a browser that did not start it (a login CSRF): no cookie
    stranger = sso_app.client(base_url=BASE)
    answer = stranger.get(back)
    assert answer.status_code == 400
    assert "expired or was started in another browser" in answer.text
    # a flow whose nonce is not the one the IdP put in the token
    browser, url = start(sso_app)
    back = idp.authorize(url, "bob")
    cookie = browser.cookies["teamgate_sso"]
    flow = json.loads(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
    flow["nonce"] = "not-the-nonce"
    tampered = base64.urlsafe_b64encode(json.dumps(flow).encode()).rstrip(b"=").decode()
    browser.cookies.clear()
    browser.cookies.set("teamgate_sso", tampered, path="/ui/sso")
    answer = browser.get(back)
    assert answer.status_code == 401
    assert "not for this sign-in (nonce)" in answer.text
    assert "teamgate_session" not in browser.cookies
    rows = failed_logins(sso_app)
    assert any(e["user"] == "bob@example.com" and "nonce" in e["reason"] for e in rows)
    assert any("state" in e["reason"] for e in rows)


@pytest.mark.parametrize(
    "query",
    ["", "?state=x", "?code=abc&state=" + "y" * 5000, "?error=%00%ff&state=x"],
)
def test_junk_callbacks_are_pages_not_crashes(sso_app: App, query: str) -> None:
    answer = sso_app.client(base_url=BASE).get("/ui/sso/callback" + query)
    assert answer.status_code == 400
    assert "<html" in answer.text.lower()


def test_sso_without_an_issuer_is_not_found(app_factory: Any) -> None:
    app = app_factory(require_auth=True)
    assert app.client().get("/ui/sso").status_code == 404
    assert "Sign in with SSO" not in app.client().get("/ui/sign-in").text
