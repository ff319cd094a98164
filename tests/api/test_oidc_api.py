"""Signing in with the identity provider's ID tokens (in process, both databases), against the
real IdP of tests/idp.py: its tokens are accepted, forgeries made from them are 401s with a log
line and an audit record, IdP groups act as access groups (shares, group roles, lists) until
the IdP drops them, and an API token minted after such a sign-in keeps its groups.

alice (htpasswd, system administrator) sets things up with Basic; the IdP's people sign in
with ID tokens: alice@example.com (ml-team), bob@example.com (data-team), carol@example.com
(ml-team, e-mail not verified), dave@example.com (no group), erin@example.com (ml-team,
data-team, admins).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.idp import CLIENT_ID, ES256_CLIENT_ID, OTHER_CLIENT_ID, IdP, new_signing_key
from tests.inprocess import App

TORC = "/torc-service/v1"
WORKFLOWS = f"{TORC}/workflows"


def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oidc_app(app_factory: Any, idp: IdP, **values: Any) -> App:
    settings: dict[str, Any] = {
        "require_auth": True,
        "enforce_access_control": True,
        "admin_users": ("alice",),
        "oidc_issuer": idp.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_audiences": (ES256_CLIENT_ID,),
        "oidc_admin_groups": ("admins",),
        "oidc_scopes": ("openid email profile groups offline_access",),
    }
    return app_factory(**{**settings, **values})  # type: ignore[no-any-return]


def bearer(app: App, token: str) -> httpx.Client:
    return app.client(headers={"Authorization": f"Bearer {token}"})


def id_token(idp: IdP, account: str, **kwargs: Any) -> str:
    return idp.tokens_for(account, **kwargs).id_token


def me(client: httpx.Client) -> dict[str, Any]:
    return ok(client.get("/v1/auth/me"))  # type: ignore[no-any-return]


# -- configuration, accepted tokens -------------------------------------------------------


def test_auth_config_is_public(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp)
    anonymous = app.client()
    expected = {
        "oidc": {
            "issuer": idp.issuer,
            "client_id": CLIENT_ID,
            "scopes": ["openid", "email", "profile", "groups", "offline_access"],
        },
        "password": True,
    }
    assert ok(anonymous.get("/v1/auth/config")) == expected
    assert ok(anonymous.get(f"{TORC}/auth/config")) == expected
    assert anonymous.get("/v1/auth/me").status_code == 401  # the rest still needs sign-in
    plain = app_factory("plain", require_auth=True).client()
    assert ok(plain.get("/v1/auth/config")) == {"oidc": None, "password": True}


def test_a_real_id_token_signs_in(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp)
    tokens = idp.tokens_for("alice@example.com")
    alice = bearer(app, tokens.id_token)
    expires = datetime.fromtimestamp(tokens.claims["exp"], UTC)
    assert me(alice) == {
        "user": "alice@example.com",
        "system_admin": False,
        "auth": "oidc",
        "issuer": idp.issuer,
        "idp_groups": ["ml-team"],
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
    }
    verifier = app.app.state.authenticator.oidc
    hits = verifier.hits
    for _ in range(3):  # verified once, then from the cache on the event loop
        assert alice.get("/v1/auth/me").status_code == 200
    assert verifier.hits >= hits + 3
    # an IdP group named by --oidc-admin-group makes a system administrator
    erin = bearer(app, id_token(idp, "erin@example.com"))
    assert me(erin)["system_admin"] is True
    assert me(erin)["idp_groups"] == ["admins", "data-team", "ml-team"]
    # ES256 tokens, for an accepted audience besides the client id
    es = bearer(app, id_token(idp, "bob@example.com", client_id=ES256_CLIENT_ID))
    assert (me(es)["user"], me(es)["idp_groups"]) == ("bob@example.com", ["data-team"])
    # htpasswd Basic keeps working beside it
    assert me(app.client("alice"))["auth"] == "password"


def test_groups_prefix(app_factory: Any, idp: IdP) -> None:
    """With a prefix, only groups starting with it count, as their names without it; the
    admin group is named without it too."""
    app = oidc_app(app_factory, idp, oidc_groups_prefix="ml-", oidc_admin_groups=("team",))
    erin = me(bearer(app, id_token(idp, "erin@example.com")))
    assert (erin["idp_groups"], erin["system_admin"]) == (["team"], True)
    assert me(bearer(app, id_token(idp, "bob@example.com")))["idp_groups"] == []


def test_without_an_htpasswd_file(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp, users=(), admin_users=())
    assert me(bearer(app, id_token(idp, "dave@example.com")))["user"] == "dave@example.com"
    assert app.client().get("/v1/auth/me").status_code == 401
    assert app.client("alice").get("/v1/auth/me").status_code == 401
    assert ok(app.client().get("/v1/auth/config"))["password"] is False


# -- forgeries -----------------------------------------------------------------------------


def forgeries(idp: IdP, other: IdP) -> dict[str, tuple[str, str]]:
    """name -> (token, the reason code the server must give)."""
    real = id_token(idp, "alice@example.com")
    head, body, _signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    kid = idp.signing_kid("RS256")
    public = next(k for k in idp.public_jwks()["keys"] if k["kid"] == kid)
    pem = jwt.PyJWK(public).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    hs_signature = hmac.new(pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest()
    none_head = b64(json.dumps({"alg": "none", "kid": kid}).encode())
    tampered = b64(json.dumps({**claims, "groups": ["admins"]}).encode())
    impostor = jwt.PyJWK(new_signing_key("RS256")).key  # never published
    unknown = new_signing_key("RS256")
    return {
        "alg none": (f"{none_head}.{body}.", "algorithm"),
        "tampered payload": (f"{head}.{tampered}.{_signature}", "signature"),
        "unpublished key": (
            jwt.encode(claims, impostor, algorithm="RS256", headers={"kid": kid}),
            "signature",
        ),
        "HS256 keyed with the public key": (f"{hs_head}.{body}.{b64(hs_signature)}", "algorithm"),
        "unknown kid": (
            jwt.encode(
                claims,
                jwt.PyJWK(unknown).key,
                algorithm="RS256",
                headers={"kid": unknown["kid"]},
            ),
            "unknown-key",
        ),
        "stripped signature": (f"{head}.{body}.", "unsigned"),
        "another audience": (
            id_token(idp, "alice@example.com", client_id=OTHER_CLIENT_ID),
            "audience",
        ),
        "another issuer": (id_token(other, "alice@example.com"), "issuer"),
        "unverified e-mail": (id_token(idp, "carol@example.com"), "email-unverified"),
    }


def test_forgeries_are_401_with_a_log_line_and_an_audit_record(
    app_factory: Any, idp: IdP, idp_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = oidc_app(app_factory, idp)
    made = forgeries(idp, idp_factory())
    caplog.set_level(logging.WARNING, logger="teamgate.auth")
    for name, (token, code) in made.items():
        caplog.clear()
        for path in ("/v1/auth/me", f"{WORKFLOWS}", "/v1/units"):
            response = bearer(app, token).get(path)
            assert response.status_code == 401, (name, path, response.text)
            assert response.json()["error"] == "Unauthorized"
            assert response.json()["message"].startswith("Identity provider token refused: ")
        lines = [r.getMessage() for r in caplog.records if "OIDC sign-in refused" in r.message]
        assert lines and f"({code})" in lines[0], (name, lines)
        # never accepted afterwards either (a refusal is not cached as anything)
        assert bearer(app, token).get("/v1/auth/me").status_code == 401
    records = ok(
        app.client("alice").get("/v1/audit", params={"decision": "failed-login", "limit": 100})
    )["items"]
    details = [r["detail"].split(";")[0] for r in records]  # then "n more refusals ..."
    for name, (_token, code) in made.items():
        assert f"bearer OIDC ID token ({code})" in details, (name, details)
    assert all(r["reason"].startswith("Identity provider token refused: ") for r in records)
    assert len(records) == len(made)  # one per forged token, not per request
    claimed = {r["user"] for r in records}
    assert claimed == {"alice@example.com", "carol@example.com"}


# -- IdP groups as access groups --------------------------------------------------------


def seen(client: httpx.Client) -> dict[str, Any]:
    return {
        "workflows": sorted(w["name"] for w in ok(client.get(WORKFLOWS))["items"]),
        "units": [u["path"] for u in ok(client.get("/v1/units"))["units"]],
    }


def test_idp_groups_reach_what_is_shared_with_them(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp)
    admin = app.client("alice")
    alice = bearer(app, id_token(idp, "alice@example.com"))
    assert seen(alice) == {"workflows": [], "units": []}  # facts cached before the group exists
    group_id = ok(admin.post(f"{TORC}/access_groups", json={"name": "ml-team"}))["id"]
    train = ok(admin.post(WORKFLOWS, json={"name": "train"}))["id"]
    ok(admin.post(WORKFLOWS, json={"name": "private"}))
    ok(admin.post(f"{WORKFLOWS}/{train}/access_groups", json={"group_id": group_id}))
    for path in ("ml/model", "ops/secret"):
        ok(admin.post("/v1/units", json={"path": path}))
    ok(admin.post("/v1/shares/ml/model", json={"group": "ml-team", "access": "read"}))

    assert seen(alice) == {"workflows": ["train"], "units": ["ml/model"]}
    assert alice.get(f"{WORKFLOWS}/{train}").status_code == 200
    assert alice.get("/v1/units/ml/model").status_code == 200
    assert alice.put("/v1/state/ml/model", content=b'{"version": 4}').status_code == 403  # read
    assert alice.get("/v1/units/ops/secret").status_code == 403
    dave = bearer(app, id_token(idp, "dave@example.com"))
    assert seen(dave) == {"workflows": [], "units": []}
    assert dave.get(f"{WORKFLOWS}/{train}").status_code == 403
    # no membership row was written; her group list shows it
    assert ok(admin.get(f"{TORC}/access_groups/{group_id}/members"))["items"] == []
    assert [g["name"] for g in ok(alice.get(f"{TORC}/access_groups"))["items"]] == ["ml-team"]
    assert ok(dave.get(f"{TORC}/access_groups"))["items"] == []

    idp.set_groups("alice", [])  # removed from the team at the IdP
    try:
        later = bearer(app, id_token(idp, "alice@example.com"))
        assert me(later)["idp_groups"] == []
        assert seen(later) == {"workflows": [], "units": []}
        assert later.get(f"{WORKFLOWS}/{train}").status_code == 403
        assert later.get("/v1/units/ml/model").status_code == 403
    finally:
        idp.set_groups("alice", ["ml-team"])


def test_idp_groups_hold_their_group_roles(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp)
    admin = app.client("alice")
    ok(admin.post("/v1/rbac/init"))
    ok(admin.post("/v1/rbac/permissions", json={"id": "read-all", "rules": ["allow:unit.read:*"]}))
    ok(admin.post("/v1/rbac/roles", json={"id": "viewer"}))
    ok(admin.post("/v1/rbac/roles/viewer/permissions", json={"permission_id": "read-all"}))
    ok(admin.post(f"{TORC}/access_groups", json={"name": "data-team"}))
    ok(admin.post("/v1/rbac/groups/assign", json={"group": "data-team", "role_id": "viewer"}))
    ok(admin.post("/v1/units", json={"path": "ops/app"}))

    bob = bearer(app, id_token(idp, "bob@example.com"))
    assert bob.get("/v1/units/ops/app").status_code == 200
    assert seen(bob)["units"] == ["ops/app"]
    rbac = ok(bob.get("/v1/rbac/me"))
    assert rbac["group_roles"] == [{"group": "data-team", "role": "viewer"}]
    assert "allow:unit.read:*" in rbac["rules"]
    dave = bearer(app, id_token(idp, "dave@example.com"))
    assert dave.get("/v1/units/ops/app").status_code == 403


# -- API tokens after an OIDC sign-in -------------------------------------------------------


def test_a_token_minted_after_an_oidc_sign_in(app_factory: Any, idp: IdP) -> None:
    app = oidc_app(app_factory, idp)
    admin = app.client("alice")
    group_id = ok(admin.post(f"{TORC}/access_groups", json={"name": "ml-team"}))["id"]
    train = ok(admin.post(WORKFLOWS, json={"name": "train"}))["id"]
    ok(admin.post(f"{WORKFLOWS}/{train}/access_groups", json={"group_id": group_id}))

    alice = bearer(app, id_token(idp, "alice@example.com"))
    response = alice.post("/v1/auth/token", json={"name": "terraform", "ttl": "30d"})
    assert response.status_code == 201, response.text
    issued = response.json()
    expires = datetime.fromisoformat(issued["expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(days=7, minutes=1)  # capped at 7 days
    token = bearer(app, issued["token"])
    assert me(token) | {"expires_at": None} == {
        "user": "alice@example.com",
        "system_admin": False,
        "auth": "token",
        "issuer": idp.issuer,
        "idp_groups": ["ml-team"],
        "expires_at": None,
    }
    assert token.get(f"{WORKFLOWS}/{train}").status_code == 200  # the groups it was minted with
    # Terraform's http backend: user name and token as Basic
    terraform = app.client("alice@example.com", issued["token"])
    assert terraform.get(f"{WORKFLOWS}/{train}").status_code == 200
    # a token does not mint tokens
    assert token.post("/v1/auth/token", json={}).status_code == 403
    # bob's Basic with alice's token is refused
    assert app.client("bob", issued["token"]).get("/v1/auth/me").status_code == 401


def test_an_oidc_token_of_an_htpasswd_user_is_refused(app_factory: Any, idp: IdP) -> None:
    """The user is also in the htpasswd file: their password binding is theirs, a token bound
    to the IdP sign-in does not stand (and one bound to another issuer never does)."""
    app = oidc_app(app_factory, idp, users=("alice", "alice@example.com"))
    alice = bearer(app, id_token(idp, "alice@example.com"))
    issued = ok(alice.post("/v1/auth/token", json={}))
    assert bearer(app, issued["token"]).get("/v1/auth/me").status_code == 401
    assert app.client("alice@example.com").get("/v1/auth/me").status_code == 200  # password


def test_a_runner_token_of_an_oidc_user(app_factory: Any, idp: IdP) -> None:
    """A member of ml-team through the IdP runs the workflow shared with ml-team: its runner
    token keeps the group (the runner reaches the workflow) and lives at most 7 days."""
    app = oidc_app(app_factory, idp)
    admin = app.client("alice")
    group_id = ok(admin.post(f"{TORC}/access_groups", json={"name": "ml-team"}))["id"]
    train = ok(admin.post(WORKFLOWS, json={"name": "train"}))["id"]
    ok(admin.post(f"{WORKFLOWS}/{train}/access_groups", json={"group_id": group_id}))
    alice = bearer(app, id_token(idp, "alice@example.com"))
    response = alice.post(f"{WORKFLOWS}/{train}/runner_tokens", json={"ttl_hours": 720})
    assert response.status_code == 201, response.text
    issued = response.json()
    expires = datetime.fromisoformat(issued["expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(days=7, minutes=1)
    runner = bearer(app, issued["token"])
    assert runner.get(f"{WORKFLOWS}/{train}").status_code == 200
    dave = bearer(app, id_token(idp, "dave@example.com"))
    assert dave.post(f"{WORKFLOWS}/{train}/runner_tokens", json={}).status_code == 403
