"""RBAC under /v1/rbac (in process): init, permissions, roles, assignments, test."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import AppFactory
from tests.inprocess import App


@pytest.fixture
def server(app_factory: AppFactory) -> App:
    return app_factory(enforce_access_control=True, admin_users=("alice",))


def client(server: App, user: str) -> httpx.Client:
    return server.client(user, base_url=f"{server.base_url}/v1")


def setup_roles(alice: httpx.Client) -> None:
    assert alice.post("/rbac/init").status_code == 200
    for body in (
        {"id": "dev-access", "rules": ["allow:unit.read,unit.write,unit.lock:dev/*"]},
        {"id": "all-read", "rules": ["allow:unit.read:*"]},
        {"id": "no-secrets", "rules": ["deny:unit.read:dev/secret*"]},
    ):
        assert alice.post("/rbac/permissions", json=body).status_code == 201
    for role, perms in (("developer", ["dev-access", "all-read"]), ("auditor", ["no-secrets"])):
        assert alice.post("/rbac/roles", json={"id": role}).status_code == 201
        for perm in perms:
            response = alice.post(f"/rbac/roles/{role}/permissions", json={"permission_id": perm})
            assert response.status_code == 200
    for role in ("developer", "auditor"):
        assert alice.post("/rbac/users/assign", json={"email": "bob", "role_id": role}).is_success


@pytest.mark.parametrize(
    ("action", "resource", "status", "reason_start"),
    [
        ("unit.write", "dev/a", "allowed", "rule allow:unit.read,unit.write,unit.lock:dev/*"),
        ("unit.write", "dev/a/b", "allowed", "rule allow:"),
        ("unit.write", "dev", "denied", "no matching grant"),
        ("unit.write", "devx", "denied", "no matching grant"),
        ("unit.read", "prod/x", "allowed", "rule allow:unit.read:* of permission 'all-read'"),
        # a deny in one role beats an allow in another
        ("unit.read", "dev/secrets", "denied", "explicit deny by rule deny:unit.read:dev/secret*"),
        ("unit.delete", "dev/a", "denied", "no matching grant"),
        ("rbac.manage", "*", "denied", "no matching grant"),
    ],
)
def test_decisions_through_rbac_test(
    server: App, action: str, resource: str, status: str, reason_start: str
) -> None:
    with client(server, "alice") as alice:
        setup_roles(alice)
        result = alice.post(
            "/rbac/test", json={"email": "bob", "action": action, "resource": resource}
        ).json()
    assert result["status"] == status
    assert result["reason"].startswith(reason_start)
    assert result["user_roles"] == ["auditor", "developer"]


def test_init_rules_and_management_rights(server: App) -> None:
    with client(server, "bob") as bob, client(server, "alice") as alice:
        assert bob.post("/rbac/init").status_code == 403  # an administrator is configured
        assert bob.get("/rbac/me").json()["rbac_enabled"] is False
        assert alice.post("/rbac/init").status_code == 200
        assert alice.post("/rbac/init").status_code == 409
        me = alice.get("/rbac/me").json()
        assert me["roles"] == ["admin"] and me["rules"] == ["allow:*:*"]
        refused = bob.post("/rbac/roles", json={"id": "x"})
        assert refused.status_code == 403
        assert "rbac.manage" in refused.json()["message"]
        bad = alice.post("/rbac/permissions", json={"id": "p", "rules": ["permit:unit.read:*"]})
        assert bad.status_code == 400
        assert "unknown effect 'permit'" in bad.json()["message"]
        empty = alice.post("/rbac/permissions", json={"id": "p", "rules": []})
        assert empty.status_code == 400
        missing = alice.post("/rbac/roles/admin/permissions", json={"permission_id": "nope"})
        assert missing.status_code == 404
        last = alice.delete("/rbac/roles/admin")
        assert last.status_code == 409
        assert [r["id"] for r in alice.get("/rbac/roles").json()] == ["admin", "default"]


def test_deleting_a_permission_removes_it_from_roles(server: App) -> None:
    with client(server, "alice") as alice:
        setup_roles(alice)
        assert alice.delete("/rbac/permissions/dev-access").status_code == 200
        roles = {r["id"]: r["permissions"] for r in alice.get("/rbac/roles").json()}
        assert roles["developer"] == ["all-read"]
        result = alice.post(
            "/rbac/test", json={"email": "bob", "action": "unit.write", "resource": "dev/a"}
        ).json()
        assert result["status"] == "denied"  # the cached rules were dropped


def test_concurrent_rbac_edits_lose_nothing(server: App) -> None:
    with client(server, "alice") as alice:
        assert alice.post("/rbac/init").status_code == 200
        assert alice.post("/rbac/roles", json={"id": "team"}).status_code == 201

        def add(index: int) -> int:
            with client(server, "alice") as c:
                perm = {"id": f"p{index}", "rules": [f"allow:unit.read:team{index}/*"]}
                assert c.post("/rbac/permissions", json=perm).status_code == 201
                return c.post(
                    "/rbac/roles/team/permissions", json={"permission_id": f"p{index}"}
                ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(add, range(24)))
        assert codes == [200] * 24
        roles = {r["id"]: r["permissions"] for r in alice.get("/rbac/roles").json()}
        assert sorted(roles["team"]) == sorted(f"p{i}" for i in range(24))
