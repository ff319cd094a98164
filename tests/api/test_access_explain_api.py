"""GET /torc-service/v1/access_explain/{workflow_id}/{user} and the `steps` of /v1/rbac/test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, password_of, start_server, write_htpasswd

USERS = ("alice", "bob", "carol", "dave", "anonymous", "nobody@example.com")
CHECKS = ["access control", "caller", "deny rules", "owner", "groups", "allow rules"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("explain-api")
    started = start_server(
        root / "server",
        "--database",
        str(root / "torc.db"),
        "--auth-file",
        str(write_htpasswd(root / "htpasswd")),
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    try:
        with client(started, "alice") as alice:
            _setup(alice)
        yield started
    finally:
        started.stop()


def client(server: Server, user: str | None) -> httpx.Client:
    auth = (user, password_of(user)) if user else None
    return httpx.Client(base_url=server.base_url, auth=auth, timeout=30)


def _setup(alice: httpx.Client) -> None:
    """data-team (carol) has alice's workflow 1; bob may read alice's workflows by RBAC,
    dave is denied them by RBAC although he is in data-team too."""
    torc = "/torc-service/v1"
    alice.post(f"{torc}/access_groups", json={"name": "data-team"}).raise_for_status()
    for user in ("carol", "dave"):
        body = {"user_name": user, "role": "member"}
        alice.post(f"{torc}/access_groups/1/members", json=body).raise_for_status()
    alice.post(f"{torc}/workflows", json={"name": "ml"}).raise_for_status()
    alice.post(f"{torc}/workflows", json={"name": "solo"}).raise_for_status()
    alice.post(f"{torc}/workflows/1/access_groups/1").raise_for_status()
    alice.post("/v1/rbac/init").raise_for_status()
    for pid, rule, user in (
        ("read-alice", "allow:workflow.read,workflow.delete:alice/*", "bob"),
        ("not-alice", "deny:workflow.read:alice/*", "dave"),
    ):
        alice.post("/v1/rbac/permissions", json={"id": pid, "rules": [rule]}).raise_for_status()
        alice.post("/v1/rbac/roles", json={"id": pid}).raise_for_status()
        body = {"permission_id": pid}
        alice.post(f"/v1/rbac/roles/{pid}/permissions", json=body).raise_for_status()
        body = {"email": user, "role_id": pid}
        alice.post("/v1/rbac/users/assign", json=body).raise_for_status()


def test_explain_agrees_with_access_check(server: Server) -> None:
    with client(server, "alice") as alice:
        for user in USERS:
            for workflow in (1, 2):
                explained = alice.get(f"/torc-service/v1/access_explain/{workflow}/{user}").json()
                checked = alice.get(f"/torc-service/v1/access_check/{workflow}/{user}").json()
                assert explained["allowed"] is checked["has_access"], (user, workflow)
                assert explained["reason"] == checked["reason"], (user, workflow)


def test_the_answer_in_full(server: Server) -> None:
    with client(server, "dave") as dave:
        response = dave.get("/torc-service/v1/access_explain/1/dave")
    assert response.status_code == 200
    rule = "rule deny:workflow.read:alice/* of permission 'not-alice' via role 'not-alice'"
    reason = f"explicit deny by {rule}"
    assert response.json() == {
        "user_name": "dave",
        "workflow_id": 1,
        "action": "workflow.read",
        "allowed": False,
        "reason": reason,
        "message": "User 'dave' does not have access to workflow 1",
        "steps": [
            {"check": "access control", "matched": False, "detail": "on"},
            {
                "check": "caller",
                "matched": False,
                "detail": "dave; action workflow.read on alice/ml",
            },
            {
                "check": "deny rules",
                "matched": True,
                "detail": reason.removeprefix("explicit deny by "),
            },
            {"check": "owner", "matched": False, "detail": "owned by alice"},
            {
                "check": "groups",
                "matched": True,
                "detail": "shared with group(s) 1; dave belongs to 'data-team' (1)",
            },
            {"check": "allow rules", "matched": False, "detail": "none match"},
        ],
    }


def test_anonymous_and_unknown_users(server: Server) -> None:
    with client(server, "alice") as alice:
        anonymous = alice.get("/torc-service/v1/access_explain/1/anonymous").json()
        stranger = alice.get("/torc-service/v1/access_explain/1/x%2Fy%40example.com").json()
    assert [s["check"] for s in anonymous["steps"]] == ["access control", "caller"]
    assert anonymous["steps"][1]["detail"].startswith("anonymous (not authenticated)")
    assert anonymous["reason"] == "anonymous"
    assert stranger["user_name"] == "x/y@example.com"
    assert [s["check"] for s in stranger["steps"]] == CHECKS


@pytest.mark.parametrize(
    ("caller", "path", "status", "message"),
    [
        (
            "carol",
            "/1/alice",
            403,
            "User 'carol' may only explain their own access "
            "(system administrators may explain anyone's)",
        ),
        (None, "/1/carol", 403, "User 'anonymous' may only explain their own access"),
        ("alice", "/99/carol", 404, "Workflow not found with ID: 99"),
        ("alice", "/1/carol?action=unit.read", 400, "cannot explain action 'unit.read'"),
    ],
)
def test_refusals(server: Server, caller: str | None, path: str, status: int, message: str) -> None:
    with client(server, caller) as c:
        response = c.get(f"/torc-service/v1/access_explain{path}")
    assert response.status_code == status
    assert response.json()["message"].startswith(message)


def test_rbac_test_answers_with_the_same_steps(server: Server) -> None:
    with client(server, "alice") as alice:
        body = {"email": "bob", "action": "workflow.delete", "resource": "alice/ml"}
        tested = alice.post("/v1/rbac/test", json=body).json()
        explained = alice.get(
            "/torc-service/v1/access_explain/1/bob", params={"action": "workflow.delete"}
        ).json()
    assert tested["status"] == "allowed"
    assert [s["check"] for s in tested["steps"]] == CHECKS
    rules = (
        "rule allow:workflow.read,workflow.delete:alice/* "
        "of permission 'read-alice' via role 'read-alice'"
    )
    assert tested["steps"][-1] == {"check": "allow rules", "matched": True, "detail": rules}
    assert explained["steps"][-1] == tested["steps"][-1]
