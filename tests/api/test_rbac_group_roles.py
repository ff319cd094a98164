"""RBAC roles for access groups (in process): `/v1/rbac/groups/*`, and what members get.

A group's role reaches each member while they are a member, through reads, writes and
lists of workflows and units; deny still wins; explanations name the group; changes reach
another server process sharing the database within the one-second window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.inprocess import App, running
from tests.polling import until

TORC = "/torc-service/v1"
WORKFLOWS = f"{TORC}/workflows"
TEAM_RULES = [
    "allow:workflow.read,workflow.write:alice/etl-*",
    "allow:unit.read,unit.write,unit.lock:team/*",
]


@pytest.fixture
def http(secured_app: App) -> dict[str, httpx.Client]:
    return {user: secured_app.client(user) for user in ("alice", "bob", "carol")}


def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def role(admin: httpx.Client, role_id: str, *rules: str) -> None:
    """A role `role_id` holding one permission `<role_id>-perm` with `rules`."""
    ok(admin.post("/v1/rbac/permissions", json={"id": f"{role_id}-perm", "rules": list(rules)}))
    ok(admin.post("/v1/rbac/roles", json={"id": role_id}))
    body = {"permission_id": f"{role_id}-perm"}
    ok(admin.post(f"/v1/rbac/roles/{role_id}/permissions", json=body))


def group(admin: httpx.Client, name: str, *members: str) -> int:
    group_id = int(ok(admin.post(f"{TORC}/access_groups", json={"name": name}))["id"])
    for member in members:
        ok(admin.post(f"{TORC}/access_groups/{group_id}/members", json={"user_name": member}))
    return group_id


def assign(client: httpx.Client, group_name: str, role_id: str) -> httpx.Response:
    return client.post("/v1/rbac/groups/assign", json={"group": group_name, "role_id": role_id})


def revoke(client: httpx.Client, group_name: str, role_id: str) -> httpx.Response:
    return client.post("/v1/rbac/groups/revoke", json={"group": group_name, "role_id": role_id})


def setup_team(alice: httpx.Client) -> int:
    """RBAC on, role `team` (TEAM_RULES), group `data-team` with bob; alice's workflows
    etl-daily and train and units team/app and other/app. Returns the group's id."""
    ok(alice.post("/v1/rbac/init"))
    role(alice, "team", *TEAM_RULES)
    group_id = group(alice, "data-team", "bob")
    for name in ("etl-daily", "train"):
        ok(alice.post(WORKFLOWS, json={"name": name}))
    for path in ("team/app", "other/app"):
        ok(alice.post("/v1/units", json={"path": path}))
    return group_id


def workflows_seen(client: httpx.Client) -> list[str]:
    return [w["name"] for w in ok(client.get(WORKFLOWS))["items"]]


def units_seen(client: httpx.Client) -> list[str]:
    return [u["path"] for u in ok(client.get("/v1/units"))["units"]]


def reaches(alice: httpx.Client, client: httpx.Client) -> dict[str, Any]:
    """What `client` can do with alice's team resources: each read and write, both lists."""
    daily = next(w for w in ok(alice.get(WORKFLOWS))["items"] if w["name"] == "etl-daily")
    return {
        "workflow read": client.get(f"{WORKFLOWS}/{daily['id']}").status_code,
        "workflow write": client.post(f"{WORKFLOWS}/{daily['id']}/initialize_jobs").status_code,
        "unit read": client.get("/v1/units/team/app").status_code,
        "unit write": client.put("/v1/state/team/app", content=b'{"version": 4}').status_code,
        "other unit": client.get("/v1/units/other/app").status_code,
        "workflows": workflows_seen(client),
        "units": units_seen(client),
    }


MEMBER = {
    "workflow read": 200,
    "workflow write": 200,
    "unit read": 200,
    "unit write": 200,
    "other unit": 403,
    "workflows": ["etl-daily"],
    "units": ["team/app"],
}
NOT_MEMBER = {
    "workflow read": 403,
    "workflow write": 403,
    "unit read": 403,
    "unit write": 403,
    "other unit": 403,
    "workflows": [],
    "units": [],
}


def test_assign_list_revoke_and_their_errors(http: dict[str, httpx.Client]) -> None:
    alice = http["alice"]
    setup_team(alice)
    role(alice, "viewer", "allow:unit.read:*")
    group(alice, "ops")
    assert ok(alice.get("/v1/rbac/groups"))["items"] == []
    assigned = ok(assign(alice, "data-team", "team"))
    assert assigned["message"] == "Role 'team' assigned to group 'data-team'"
    assert (assigned["group"], assigned["role_id"], assigned["created_by"]) == (
        "data-team",
        "team",
        "alice",
    )
    again = assign(alice, "data-team", "team")
    assert again.status_code == 409
    assert again.json()["message"] == "Group 'data-team' already has role 'team'"
    assert "Group 'nope' not found" in assign(alice, "nope", "team").json()["message"]
    assert assign(alice, "nope", "team").status_code == 404
    assert assign(alice, "ops", "nope").status_code == 404
    assert "Role 'nope' not found" in assign(alice, "ops", "nope").json()["message"]
    ok(assign(alice, "ops", "viewer"))
    ok(assign(alice, "ops", "team"))
    listed = ok(alice.get("/v1/rbac/groups"))
    pairs = [(g["group"], g["role_id"]) for g in listed["items"]]
    assert pairs == [("data-team", "team"), ("ops", "team"), ("ops", "viewer")]
    assert (listed["total_count"], listed["has_more"]) == (3, False)
    page = ok(alice.get("/v1/rbac/groups", params={"offset": 1, "limit": 1}))
    assert [(g["group"], g["role_id"]) for g in page["items"]] == [("ops", "team")]
    assert (page["total_count"], page["has_more"]) == (3, True)
    assert ok(revoke(alice, "ops", "team"))["message"] == "Role 'team' revoked from group 'ops'"
    missing = revoke(alice, "ops", "team")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Group 'ops' does not have role 'team'"
    assert revoke(alice, "nope", "team").status_code == 404
    pairs = [(g["group"], g["role_id"]) for g in ok(alice.get("/v1/rbac/groups"))["items"]]
    assert pairs == [("data-team", "team"), ("ops", "viewer")]


@pytest.mark.parametrize(
    "body",
    [
        {"group": "", "role_id": "team"},
        {"group": "g" * 256, "role_id": "team"},
        {"group": "data-team", "role_id": "r" * 129},
        {"group": "data-team"},
        {"group": "data-team", "role_id": "team", "extra": 1},
        {"group": "bad\u0007name", "role_id": "team"},
        {"group": "   ", "role_id": "team"},
    ],
)
def test_bad_bodies_are_400(http: dict[str, httpx.Client], body: dict[str, Any]) -> None:
    alice = http["alice"]
    ok(alice.post("/v1/rbac/init"))
    for route in ("assign", "revoke"):
        response = alice.post(f"/v1/rbac/groups/{route}", json=body)
        assert response.status_code == 400, response.text
    for params in ({"limit": 0}, {"limit": 10_001}, {"offset": -1}):
        assert alice.get("/v1/rbac/groups", params=params).status_code == 400


def test_only_rbac_managers_assign_list_or_revoke(http: dict[str, httpx.Client]) -> None:
    alice, bob, carol = http["alice"], http["bob"], http["carol"]
    group_id = setup_team(alice)
    # carol administers the group: that gives her no say over its roles
    body = {"user_name": "carol", "role": "admin"}
    ok(alice.post(f"{TORC}/access_groups/{group_id}/members", json=body))
    for client in (bob, carol):
        refused = assign(client, "data-team", "team")
        assert refused.status_code == 403
        assert "rbac.manage" in refused.json()["message"]
        assert client.get("/v1/rbac/groups").status_code == 403
    ok(assign(alice, "data-team", "team"))
    for client in (bob, carol):
        assert revoke(client, "data-team", "team").status_code == 403
    # a manager through a role of their own may
    role(alice, "rbac-admin", "allow:rbac.manage:*")
    ok(alice.post("/v1/rbac/users/assign", json={"email": "carol", "role_id": "rbac-admin"}))
    ok(revoke(carol, "data-team", "team"))
    ok(assign(carol, "data-team", "team"))


def test_changes_are_audited(http: dict[str, httpx.Client]) -> None:
    alice, bob = http["alice"], http["bob"]
    setup_team(alice)
    ok(assign(alice, "data-team", "team"))
    ok(revoke(alice, "data-team", "team"))
    assert assign(bob, "data-team", "team").status_code == 403
    events = ok(alice.get("/v1/audit", params={"action": "rbac.group."}))["items"]
    seen = [(e["user"], e["action"], e["resource"], e["decision"], e["detail"]) for e in events]
    assert seen == [  # newest first
        ("alice", "rbac.group.revoke", "rbac/group/data-team", "allowed", "role 'team'"),
        ("alice", "rbac.group.assign", "rbac/group/data-team", "allowed", "role 'team'"),
    ]
    assert [e["reason"] for e in events] == ["system administrator"] * 2
    denied = ok(alice.get("/v1/audit", params={"user": "bob", "decision": "denied"}))["items"]
    assert [e["action"] for e in denied] == ["rbac.manage"], denied


def test_members_hold_the_role_while_members(http: dict[str, httpx.Client]) -> None:
    alice, bob, carol = http["alice"], http["bob"], http["carol"]
    group_id = setup_team(alice)
    assert reaches(alice, bob) == NOT_MEMBER
    assert bob.post("/v1/units", json={"path": "team/new"}).status_code == 403
    ok(assign(alice, "data-team", "team"))
    assert reaches(alice, bob) == MEMBER
    # creating a unit is decided by its RBAC name too (bob then owns it)
    assert bob.post("/v1/units", json={"path": "team/new"}).status_code == 201
    assert bob.post("/v1/units", json={"path": "elsewhere/new"}).status_code == 403
    member = {**MEMBER, "units": ["team/app", "team/new"]}
    gone = {**NOT_MEMBER, "units": ["team/new"]}
    assert reaches(alice, bob) == member
    assert reaches(alice, carol) == NOT_MEMBER  # carol is in no group
    ok(alice.delete(f"{TORC}/access_groups/{group_id}/members/bob"))
    assert reaches(alice, bob) == gone
    ok(alice.post(f"{TORC}/access_groups/{group_id}/members", json={"user_name": "bob"}))
    assert reaches(alice, bob) == member
    ok(revoke(alice, "data-team", "team"))
    assert reaches(alice, bob) == gone


@pytest.mark.parametrize("removed", ["group", "role"])
def test_deleting_the_group_or_role_ends_the_assignment(
    http: dict[str, httpx.Client], removed: str
) -> None:
    alice = http["alice"]
    group_id = setup_team(alice)
    bob = http["bob"]
    ok(assign(alice, "data-team", "team"))
    assert reaches(alice, bob) == MEMBER
    if removed == "group":
        ok(alice.delete(f"{TORC}/access_groups/{group_id}"))
    else:
        ok(alice.delete("/v1/rbac/roles/team"))
    assert ok(alice.get("/v1/rbac/groups"))["items"] == []
    assert reaches(alice, bob) == NOT_MEMBER
    # a group or role made again under the same name starts with no assignment
    if removed == "group":
        group(alice, "data-team", "bob")
    else:
        ok(alice.post("/v1/rbac/roles", json={"id": "team"}))
    assert ok(alice.get("/v1/rbac/groups"))["items"] == []
    assert reaches(alice, bob) == NOT_MEMBER


@pytest.mark.parametrize("deny_through", ["group", "user"])
def test_deny_wins_whichever_way_it_comes(http: dict[str, httpx.Client], deny_through: str) -> None:
    alice, bob = http["alice"], http["bob"]
    setup_team(alice)
    role(alice, "no-team-writes", "deny:unit.write:team/*")
    ok(assign(alice, "data-team", "team"))
    if deny_through == "group":
        ok(assign(alice, "data-team", "no-team-writes"))
    else:
        body = {"email": "bob", "role_id": "no-team-writes"}
        ok(alice.post("/v1/rbac/users/assign", json=body))
    assert bob.get("/v1/units/team/app").status_code == 200
    assert bob.put("/v1/state/team/app", content=b"{}").status_code == 403
    body = {"email": "bob", "action": "unit.write", "resource": "team/app"}
    tested = ok(alice.post("/v1/rbac/test", json=body))
    via = "via role 'no-team-writes'" + (" of group 'data-team'" if deny_through == "group" else "")
    assert tested["reason"] == (
        f"explicit deny by rule deny:unit.write:team/* of permission 'no-team-writes-perm' {via}"
    )


def test_explanations_name_the_group(http: dict[str, httpx.Client]) -> None:
    alice, bob = http["alice"], http["bob"]
    setup_team(alice)
    ok(assign(alice, "data-team", "team"))
    via = "of permission 'team-perm' via role 'team' of group 'data-team'"
    body = {"email": "bob", "action": "unit.write", "resource": "team/app"}
    tested = ok(alice.post("/v1/rbac/test", json=body))
    assert tested["status"] == "allowed"
    assert tested["reason"] == f"rule {TEAM_RULES[1]} {via}"
    assert tested["user_roles"] == []  # bob's only role is the group's
    assert tested["group_roles"] == [{"group": "data-team", "role": "team"}]
    assert tested["user_found"] is True
    assert tested["applicable_permissions"] == ["team-perm"]
    assert any(via in step["detail"] for step in tested["steps"]), tested["steps"]
    daily = next(w for w in ok(alice.get(WORKFLOWS))["items"] if w["name"] == "etl-daily")
    explained = ok(alice.get(f"{TORC}/access_explain/{daily['id']}/bob"))
    assert via in str(explained), explained
    me = ok(bob.get("/v1/rbac/me"))
    assert me["group_roles"] == [{"group": "data-team", "role": "team"}]
    assert me["permissions"] == ["team-perm"]
    assert me["rules"] == TEAM_RULES


def test_another_process_sees_changes_within_a_second(secured_app: App) -> None:
    """Two applications over one database: a change made through one reaches the other
    (whose facts are cached) within the one-second window: the access version's recheck."""
    alice = secured_app.client("alice")
    group_id = setup_team(alice)
    ok(assign(alice, "data-team", "team"))
    with running(secured_app.settings) as other:
        bob = other.client("bob")

        def status() -> int:
            return bob.get("/v1/units/team/app").status_code

        def seen(expected: int) -> Callable[[], bool]:
            return lambda: status() == expected

        changes: list[tuple[Callable[[], httpx.Response], int]] = [
            (lambda: revoke(alice, "data-team", "team"), 403),
            (lambda: assign(alice, "data-team", "team"), 200),
            (lambda: alice.delete(f"{TORC}/access_groups/{group_id}/members/bob"), 403),
        ]
        assert status() == 200  # bob's facts are now cached in `other`
        for change, expected in changes:
            ok(change())
            started = time.monotonic()
            until("the other process to see the change", seen(expected), 2.0)
            assert time.monotonic() - started < 1.0
