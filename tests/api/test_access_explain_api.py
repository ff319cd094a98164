"""GET /torc-service/v1/access_explain/{workflow_id}/{user} and the `steps` of /v1/rbac/test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import start_app
from tests.inprocess import App

USERS = ("alice", "bob", "carol", "dave", "anonymous", "nobody@example.com")
CHECKS = ["access control", "caller", "deny rules", "owner", "groups", "allow rules"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One application per test process: the tests only read what the set-up made."""
    with ExitStack() as stack:
        started = start_app(
            stack,
            tmp_path_factory.mktemp("explain-api"),
            enforce_access_control=True,
            admin_users=("alice",),
        )
        with client(started, "alice") as alice, client(started, "bob") as bob:
            _setup(alice)
            _private(alice, bob)
        yield started


def client(server: App, user: str | None) -> httpx.Client:
    return server.client(user)


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


def _private(alice: httpx.Client, bob: httpx.Client) -> None:
    """bob's workflow 3, named like a secret, shared with group 2 (bob-team: bob only)."""
    torc = "/torc-service/v1"
    alice.post(f"{torc}/access_groups", json={"name": "bob-team"}).raise_for_status()
    body = {"user_name": "bob", "role": "member"}
    alice.post(f"{torc}/access_groups/2/members", json=body).raise_for_status()
    created = bob.post(f"{torc}/workflows", json={"name": "bob-private-secret-name"})
    assert created.raise_for_status().json()["id"] == PRIVATE
    bob.post(f"{torc}/workflows/{PRIVATE}/access_groups/2").raise_for_status()


PRIVATE = 3  # bob's workflow
# What a caller who may not read a workflow must never see in an answer about it.
SECRETS = ("bob-private-secret-name", "bob-team", "owned by", "shared with", "alice/ml")


def test_explain_agrees_with_access_check(server: App) -> None:
    with client(server, "alice") as alice:
        for user in USERS:
            for workflow in (1, 2, PRIVATE):
                explained = alice.get(f"/torc-service/v1/access_explain/{workflow}/{user}").json()
                checked = alice.get(f"/torc-service/v1/access_check/{workflow}/{user}").json()
                assert explained["allowed"] is checked["has_access"], (user, workflow)
                assert explained["reason"] == checked["reason"], (user, workflow)


def test_the_answer_in_full(server: App) -> None:
    """A system administrator sees every fact, also of a workflow dave may not read."""
    with client(server, "alice") as alice:
        response = alice.get("/torc-service/v1/access_explain/1/dave")
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
                "detail": "shared with group(s) 1 (write); dave belongs to 'data-team' (1, write)",
            },
            {"check": "allow rules", "matched": False, "detail": "none match"},
        ],
    }


def test_anonymous_and_unknown_users(server: App) -> None:
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
def test_refusals(server: App, caller: str | None, path: str, status: int, message: str) -> None:
    with client(server, caller) as c:
        response = c.get(f"/torc-service/v1/access_explain{path}")
    assert response.status_code == status
    assert response.json()["message"].startswith(message)


def test_rbac_test_answers_with_the_same_steps(server: App) -> None:
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


# -- issue 10, finding 6: an answer tells nothing the caller could not read ---------------


def _hidden_answer(user: str, workflow: int, action: str, rules: str) -> dict[str, object]:
    return {
        "user_name": user,
        "workflow_id": workflow,
        "action": action,
        "allowed": False,
        "reason": "no matching grant",
        "message": f"User '{user}' does not have access to workflow {workflow}",
        "steps": [
            {"check": "access control", "matched": False, "detail": "on"},
            {
                "check": "caller",
                "matched": False,
                "detail": f"{user}; action {action} on workflow {workflow}",
            },
            {
                "check": "rules",
                "matched": False,
                "detail": f"{rules} (which of them match is not shown)",
            },
            {
                "check": "resource",
                "matched": False,
                "detail": f"hidden: you may not read workflow {workflow}, so its name, owner "
                "and groups are not shown (a system administrator can explain it in full)",
            },
        ],
    }


DAVE_RULES = (
    "dave holds rule deny:workflow.read:alice/* of permission 'not-alice' via role 'not-alice'"
)


def test_a_caller_who_may_not_read_the_workflow_learns_only_the_decision(server: App) -> None:
    """dave may read neither alice's workflow 1 (a deny rule beats his group) nor bob's
    private one: both answers are the same but for the id, so asking about every id tells
    him nothing about names, owners, shares, or which of his rules match. (On b12cc17 he was
    shown `bob/bob-private-secret-name`, `owned by bob` and bob's group.)"""
    with client(server, "dave") as dave:
        for workflow in (1, PRIVATE):
            response = dave.get(f"/torc-service/v1/access_explain/{workflow}/dave")
            assert response.status_code == 200
            expected = _hidden_answer("dave", workflow, "workflow.read", DAVE_RULES)
            assert response.json() == expected
            assert not any(secret in response.text for secret in SECRETS), response.text


@pytest.mark.parametrize("action", ["workflow.write"])
def test_other_actions_give_the_decision_but_not_what_made_it(server: App, action: str) -> None:
    """dave's group (a write-level share) lets him change workflow 1 although he may not
    read it: he is told he may, not that the group (or whose workflow it is) is why; bob's
    stays a plain refusal."""
    with client(server, "dave") as dave:
        shared, private = (
            dave.get(f"/torc-service/v1/access_explain/{w}/dave", params={"action": action})
            for w in (1, PRIVATE)
        )
    assert (shared.json()["allowed"], shared.json()["reason"]) == (
        True,
        "allowed (what allows it is not shown: you may not read it)",
    )
    rules = f"dave holds no rule for {action}"
    assert private.json() == _hidden_answer("dave", PRIVATE, action, rules)
    for response in (shared, private):
        assert not any(secret in response.text for secret in (*SECRETS, "data-team"))


def test_access_check_hides_the_same(server: App) -> None:
    """The reason of a refused check names no hidden fact either (alice's deny rule on
    dave reads "no matching grant", as a refusal on bob's workflow does)."""
    asked = (("dave", 1), ("dave", PRIVATE), ("carol", 2), ("carol", PRIVATE))
    answers = []
    for name, workflow in asked:
        with client(server, name) as c:
            answers.append(
                (name, workflow, c.get(f"/torc-service/v1/access_check/{workflow}/{name}"))
            )
    for name, workflow, response in answers:
        assert response.status_code == 200
        assert response.json() == {
            "has_access": False,
            "user_name": name,
            "workflow_id": workflow,
            "reason": "no matching grant",
        }


@pytest.mark.parametrize("user", ["bob", "carol", "dave"])
def test_own_explain_and_check_agree(server: App, user: str) -> None:
    with client(server, user) as c:
        for workflow in (1, 2, PRIVATE):
            explained = c.get(f"/torc-service/v1/access_explain/{workflow}/{user}").json()
            checked = c.get(f"/torc-service/v1/access_check/{workflow}/{user}").json()
            assert explained["allowed"] is checked["has_access"], (user, workflow)
            assert explained["reason"] == checked["reason"], (user, workflow)


def test_a_caller_who_may_read_the_workflow_sees_every_fact(server: App) -> None:
    """carol reads alice's workflow 1 through data-team, so she is told so in full."""
    with client(server, "carol") as carol:
        result = carol.get("/torc-service/v1/access_explain/1/carol").json()
    assert result["reason"] == "group 'data-team' (write)"
    assert [s["check"] for s in result["steps"]] == CHECKS
    assert {"check": "owner", "matched": False, "detail": "owned by alice"} in result["steps"]
