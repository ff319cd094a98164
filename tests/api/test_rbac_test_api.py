"""POST /v1/rbac/test answers from the facts the server enforces with (issue 10, "One gate").

One application per test process. Before `rbac init`, bob creates prod/bobs and carol creates
prod/vault, which she shares with ops (group 1: dave). Then alice (system administrator)
initialises RBAC and gives bob and frank the role developer (read, write, lock on dev/*);
frank creates dev/app. dave and carol have no role; erin has nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import USERS, start_app
from tests.inprocess import App

DEV_RULE = (
    "rule allow:unit.read,unit.write,unit.lock:dev/* "
    "of permission 'dev-access' via role 'developer'"
)
OWNS = "{} owns units or has some shared with their groups"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One application per test process: what a test changes (units it creates, erin's role)
    changes no other test's answer."""
    with ExitStack() as stack:
        started = start_app(
            stack,
            tmp_path_factory.mktemp("rbac-test-api"),
            users=(*USERS, "frank", "erin"),
            enforce_access_control=True,
            admin_users=("alice",),
        )
        _setup(started)
        yield started


def client(server: App, user: str) -> httpx.Client:
    return server.client(user, base_url=f"{server.base_url}/v1")


def _setup(server: App) -> None:
    torc = server.client("alice")
    with torc:
        torc.post("/torc-service/v1/access_groups", json={"name": "ops"}).raise_for_status()
        member = {"user_name": "dave", "role": "member"}
        torc.post("/torc-service/v1/access_groups/1/members", json=member).raise_for_status()
    with client(server, "bob") as bob, client(server, "carol") as carol:
        bob.post("/units", json={"path": "prod/bobs"}).raise_for_status()
        carol.post("/units", json={"path": "prod/vault"}).raise_for_status()
        carol.post("/shares/prod/vault", json={"group": "ops"}).raise_for_status()
    with client(server, "alice") as alice:
        alice.post("/rbac/init").raise_for_status()
        rule = "allow:unit.read,unit.write,unit.lock:dev/*"
        permission = {"id": "dev-access", "rules": [rule]}
        alice.post("/rbac/permissions", json=permission).raise_for_status()
        alice.post("/rbac/roles", json={"id": "developer"}).raise_for_status()
        body = {"permission_id": "dev-access"}
        alice.post("/rbac/roles/developer/permissions", json=body).raise_for_status()
        for user in ("bob", "frank"):
            body = {"email": user, "role_id": "developer"}
            alice.post("/rbac/users/assign", json=body).raise_for_status()
    with client(server, "frank") as frank:
        frank.post("/units", json={"path": "dev/app"}).raise_for_status()


def rbac_test(server: App, asker: str, **body: Any) -> dict[str, Any]:
    with client(server, asker) as c:
        response = c.post("/rbac/test", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def step(result: dict[str, Any], check: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in result["steps"] if s["check"] == check)
    return found


# -- one unit: its real owner and shares ---------------------------------------------------


@pytest.mark.parametrize("asker", ["alice", "bob"])
def test_the_owner_of_a_unit_is_its_real_owner(server: App, asker: str) -> None:
    """b12cc17 said `owned by nobody` and denied, although bob owns prod/bobs and may pull it."""
    result = rbac_test(server, asker, email="bob", action="unit.read", resource="prod/bobs")
    assert (result["status"], result["reason"]) == ("allowed", "owner")
    assert step(result, "owner") == {"check": "owner", "matched": True, "detail": "owned by bob"}
    with client(server, "bob") as bob:
        assert bob.get("/units/prod/bobs").status_code == 200  # what the server does


def test_a_share_with_the_users_group_is_seen(server: App) -> None:
    result = rbac_test(server, "dave", email="dave", action="unit.write", resource="prod/vault")
    assert (result["status"], result["reason"]) == ("allowed", "group 'ops' (write)")
    detail = "shared with group(s) 1 (write); dave belongs to 'ops' (1, write)"
    assert step(result, "groups")["detail"] == detail


@pytest.mark.parametrize(
    ("user", "path", "action", "method", "url"),
    [
        ("bob", "prod/bobs", "unit.read", "GET", "/units/prod/bobs"),
        ("bob", "prod/vault", "unit.read", "GET", "/units/prod/vault"),
        ("dave", "prod/vault", "unit.read", "GET", "/units/prod/vault"),
        ("frank", "dev/app", "unit.read", "GET", "/units/dev/app"),
        ("frank", "prod/bobs", "unit.read", "GET", "/versions/prod/bobs"),
        ("carol", "dev/app", "unit.read", "GET", "/versions/dev/app"),
    ],
)
def test_the_answer_is_what_the_server_does(
    server: App, user: str, path: str, action: str, method: str, url: str
) -> None:
    result = rbac_test(server, "alice", email=user, action=action, resource=path)
    with client(server, user) as c:
        status = c.request(method, url).status_code
    assert status in (200, 403)
    assert (result["status"] == "allowed") is (status == 200), (result, status)


# -- a unit the caller may not read (finding 6, for units) ---------------------------------


@pytest.mark.parametrize("action", ["unit.read", "unit.write", "unit.delete", "unit.lock"])
def test_a_caller_who_may_not_read_the_unit_learns_no_owner_or_share(
    server: App, action: str
) -> None:
    result = rbac_test(server, "bob", email="bob", action=action, resource="prod/vault")
    assert (result["status"], result["reason"]) == ("denied", "no matching grant")
    assert [s["check"] for s in result["steps"]] == [
        "access control",
        "caller",
        "deny rules",
        "resource",
        "allow rules",
    ]
    assert step(result, "resource")["detail"] == (
        "hidden: you may not read unit prod/vault, so its owner and groups are not shown "
        "(a system administrator can explain it in full)"
    )
    text = str(result)
    assert "carol" not in text and "ops" not in text and "group(s)" not in text


def test_a_system_administrator_sees_the_owner_and_shares(server: App) -> None:
    result = rbac_test(server, "alice", email="bob", action="unit.read", resource="prod/vault")
    assert step(result, "owner")["detail"] == "owned by carol"
    detail = "shared with group(s) 1 (write); bob belongs to none of them"
    assert step(result, "groups")["detail"] == detail


# -- creating a unit: the same code path as the server -------------------------------------


@pytest.mark.parametrize(
    ("user", "path"),
    [("frank", "dev/new-by-frank"), ("frank", "prod/new-by-frank"), ("dave", "dev/new-by-dave")],
)
def test_create_answers_as_the_server_creates(server: App, user: str, path: str) -> None:
    """Asked before the unit exists, the answer is what `POST /v1/units` then does."""
    result = rbac_test(server, "alice", email=user, action="unit.write", resource=path)
    assert step(result, "owner")["detail"] == "owned by nobody: not created yet"
    with client(server, user) as c:
        created = c.post("/units", json={"path": path})
    assert created.status_code in (201, 403)
    assert (result["status"] == "allowed") is (created.status_code == 201), (result, created.text)


def test_lock_of_a_missing_unit_needs_write_first(server: App) -> None:
    allowed = rbac_test(server, "frank", email="frank", action="unit.lock", resource="dev/lockme")
    assert allowed["status"] == "allowed"
    create = step(allowed, "create")
    assert create["matched"] is True
    assert create["detail"].startswith("dev/lockme does not exist yet: locking it creates it")
    denied = rbac_test(server, "frank", email="frank", action="unit.lock", resource="prod/lockme")
    assert (denied["status"], denied["reason"]) == ("denied", "no matching grant")


# -- what unit ls would show ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "body", "status", "reason"),
    [
        ("frank", {}, "allowed", f"{OWNS.format('frank')}; {DEV_RULE}"),
        ("frank", {"resource": "*"}, "allowed", f"{OWNS.format('frank')}; {DEV_RULE}"),  # `ls`
        ("frank", {"prefix": "dev"}, "allowed", f"{OWNS.format('frank')}; {DEV_RULE}"),
        ("frank", {"prefix": "prod"}, "denied", "no matching grant"),
        ("dave", {}, "allowed", "dave owns units or has some shared with their groups"),
        (
            "carol",
            {"prefix": "prod"},
            "allowed",
            "carol owns units or has some shared with their groups",
        ),
        (
            "bob",
            {},
            "allowed",
            f"bob owns units or has some shared with their groups; {DEV_RULE}",
        ),
    ],
)
def test_ls_answers_what_listing_would_show(
    server: App, user: str, body: dict[str, str], status: str, reason: str
) -> None:
    """b12cc17 tested the literal resource `*`: denied for all of these but bob."""
    result = rbac_test(server, "alice", email=user, action="unit.read", **body)
    assert (result["status"], result["reason"]) == (status, reason)
    with client(server, user) as c:
        listed = c.get("/units", params={"prefix": body.get("prefix")} if "prefix" in body else {})
    assert (listed.json()["count"] > 0) is step(result, "listing")["matched"]


def test_ls_with_a_rule_before_any_unit_matches(server: App) -> None:
    nothing = rbac_test(server, "erin", email="erin", action="unit.read")
    assert nothing["status"] == "denied"
    assert nothing["reason"].startswith("user not found: 'erin' has no roles assigned")
    assert step(nothing, "listing") == {
        "check": "listing",
        "matched": False,
        "detail": "unit ls shows erin no unit now",
    }
    with client(server, "alice") as alice:
        permission = {"id": "ops-read", "rules": ["allow:unit.read:ops/*"]}
        alice.post("/rbac/permissions", json=permission).raise_for_status()
        alice.post("/rbac/roles", json={"id": "ops-reader"}).raise_for_status()
        body = {"permission_id": "ops-read"}
        alice.post("/rbac/roles/ops-reader/permissions", json=body).raise_for_status()
        body = {"email": "erin", "role_id": "ops-reader"}
        alice.post("/rbac/users/assign", json=body).raise_for_status()
    result = rbac_test(server, "erin", email="erin", action="unit.read")
    assert result["status"] == "allowed"
    assert result["reason"].endswith(
        "of permission 'ops-read' via role 'ops-reader' (no unit matches yet)"
    )


# -- users without roles, and bad questions ------------------------------------------------


def test_a_user_without_roles_is_reported_as_not_found(server: App) -> None:
    """A mistyped name used to look like any user without grants."""
    result = rbac_test(server, "alice", email="bobb", action="unit.read", resource="dev/app")
    assert result["status"] == "denied"
    assert result["reason"] == (
        "user not found: 'bobb' has no roles assigned; check the user name or e-mail "
        "(taco rbac user list shows who has roles)"
    )
    assert (result["user_found"], result["user_roles"], result["rbac_enabled"]) == (
        False,
        [],
        True,
    )
    known = rbac_test(server, "alice", email="bob", action="unit.read", resource="dev/app")
    assert known["user_found"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "fly", "resource": "dev/app"}, "unknown action 'fly': use one of unit.read"),
        ({"action": "unit.write"}, "unit.write needs a resource"),
        ({"action": "unit.delete", "resource": "a/../b"}, "must not contain '.' or '..'"),
        ({"action": "unit.write", "resource": "dev/x", "prefix": "dev"}, "a prefix goes with"),
    ],
)
def test_bad_questions_are_400(server: App, body: dict[str, str], message: str) -> None:
    with client(server, "bob") as bob:
        response = bob.post("/rbac/test", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message) or message in response.json()["message"]
