"""Who can reach a workflow or unit: GET /torc-service/v1/workflows/{id}/access and
GET /v1/access/{path}, checked against what each user's requests really get.

The world (one server per test process, access control on, `root` a system administrator):
alice owns workflow `ml` and unit `team/app`, both shared with `readers` (rita) at level read,
`writers` (will, dora) at write and `admins` (adam) at admin. `ruth` holds a role allowing
reading and changing them by RBAC; `dora` holds one denying changing and deleting them, which
takes away what `writers` gives her; `mona` manages RBAC; `otto` has nothing to do with them.
`root` initialised RBAC, which gave them role `admin` (allow:*:*); `sam`, the other system
administrator, holds no role. `gabe` reads them through the role of his group `auditors`,
which they are not shared with.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from teamgate.services import reach
from tests.conftest import AppFactory, start_app
from tests.inprocess import App

TORC = "/torc-service/v1"
USERS = ("alice", "rita", "will", "dora", "adam", "ruth", "mona", "otto", "root", "sam", "gabe")
GROUPS = {"readers": ("read", ["rita"]), "writers": ("write", ["will", "dora"])}
GROUPS["admins"] = ("admin", ["adam"])
ROLES = {
    "changer": (
        ["allow:workflow.read,workflow.write:alice/ml", "allow:unit.read,unit.lock:team/*"],
        "ruth",
    ),
    "no-change": (
        [
            "deny:workflow.write,workflow.delete:alice/*",
            "deny:unit.write,unit.lock,unit.delete:team/*",
        ],
        "dora",
    ),
    "manager": (["allow:rbac.manage:*"], "mona"),
}
# A role held through a group the resources are not shared with.
GROUP_ROLE = ("auditor", ["allow:workflow.read:alice/*", "allow:unit.read:team/*"], "auditors")
WF_ACTIONS = ("workflow.read", "workflow.write", "workflow.delete", "workflow.share")
UNIT_ACTIONS = ("unit.read", "unit.write", "unit.lock", "unit.delete", "unit.share")
COPIES_PER_ACTION = len(USERS)  # a fresh copy per user for each destructive action


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def state(serial: int) -> bytes:
    return b'{"version": 4, "serial": %d, "lineage": "who", "resources": []}' % serial


@dataclass
class World:
    app: App
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    workflow: int = 0
    unit: str = "team/app"
    workflow_copies: list[int] = field(default_factory=list)
    unit_copies: list[str] = field(default_factory=list)
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def client(self, user: str) -> httpx.Client:
        if user not in self.clients:
            self.clients[user] = self.app.client(user)
        return self.clients[user]

    def share_workflow(self, workflow_id: int) -> None:
        """Shared by alice at each group's level (the REST body's `access`)."""
        for name, (level, _members) in GROUPS.items():
            body = {"group_id": self.groups[name], "access": level}
            path = f"{TORC}/workflows/{workflow_id}/access_groups"
            assert ok(self.client("alice").post(path, json=body))["access"] == level

    def share_unit(self, path: str) -> None:
        for name, (level, _members) in GROUPS.items():
            body = {"group": name, "access": level}
            ok(self.client("alice").post(f"/v1/shares/{path}", json=body))


def _build(app: App) -> World:
    w = World(app)
    root, alice = w.client("root"), w.client("alice")
    others = [("spare", ("", [])), ("auditors", ("", ["gabe"]))]
    for name, (_level, members) in [*GROUPS.items(), *others]:
        w.groups[name] = ok(root.post(f"{TORC}/access_groups", json={"name": name}))["id"]
        for user in members:
            body = {"user_name": user, "role": "member"}
            ok(root.post(f"{TORC}/access_groups/{w.groups[name]}/members", json=body))
    w.workflow = ok(alice.post(f"{TORC}/workflows", json={"name": "ml"}))["id"]
    w.share_workflow(w.workflow)
    ok(alice.post("/v1/units", json={"path": w.unit}))
    ok(alice.put(f"/v1/state/{w.unit}", content=state(0)))
    w.share_unit(w.unit)
    # Copies alike in every way that matters (name, owner, shares), for destructive calls.
    for _ in range(2 * COPIES_PER_ACTION):
        copy = ok(alice.post(f"{TORC}/workflows", json={"name": "ml"}))["id"]
        w.share_workflow(copy)
        w.workflow_copies.append(copy)
    for n in range(3 * COPIES_PER_ACTION):
        path = f"team/copy-{n}"
        ok(alice.post("/v1/units", json={"path": path}))
        w.share_unit(path)
        w.unit_copies.append(path)
    ok(alice.post("/v1/units", json={"path": "alice/access"}))  # see the last test
    ok(root.post("/v1/rbac/init"))
    for role, (rules, user) in ROLES.items():
        ok(root.post("/v1/rbac/permissions", json={"id": role, "rules": rules}))
        ok(root.post("/v1/rbac/roles", json={"id": role}))
        ok(root.post(f"/v1/rbac/roles/{role}/permissions", json={"permission_id": role}))
        ok(root.post("/v1/rbac/users/assign", json={"email": user, "role_id": role}))
    role, rules, group = GROUP_ROLE
    ok(root.post("/v1/rbac/permissions", json={"id": role, "rules": rules}))
    ok(root.post("/v1/rbac/roles", json={"id": role}))
    ok(root.post(f"/v1/rbac/roles/{role}/permissions", json={"permission_id": role}))
    ok(root.post("/v1/rbac/groups/assign", json={"group": group, "role_id": role}))
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        app = start_app(
            stack,
            tmp_path_factory.mktemp("access-who"),
            users=USERS,
            enforce_access_control=True,
            admin_users=("root", "sam"),
        )
        yield _build(app)


def who_workflow(w: World, workflow_id: int, caller: str = "root") -> Any:
    return ok(w.client(caller).get(f"{TORC}/workflows/{workflow_id}/access"))


def who_unit(w: World, path: str, caller: str = "root") -> Any:
    return ok(w.client(caller).get(f"/v1/access/{path}"))


def by_user(answer: Any) -> dict[str, list[str]]:
    return {u["user"]: u["actions"] for u in answer["users"]}


WF_ALL = list(WF_ACTIONS)
WF_EXPECTED = {
    "alice": WF_ALL,
    "adam": WF_ALL,
    "rita": ["workflow.read"],
    "will": ["workflow.read", "workflow.write"],
    "dora": ["workflow.read"],  # writers' write is taken away by her deny rule
    "ruth": ["workflow.read", "workflow.write"],
    "root": WF_ALL,  # `rbac init` gave root role 'admin': allow:*:*
    "gabe": ["workflow.read"],  # through the role of group 'auditors'
}
UNIT_EXPECTED = {
    "alice": list(UNIT_ACTIONS),
    "adam": list(UNIT_ACTIONS),
    "rita": ["unit.read"],
    "will": ["unit.read", "unit.write", "unit.lock"],
    "dora": ["unit.read"],
    "ruth": ["unit.read", "unit.lock"],
    "root": list(UNIT_ACTIONS),
    "gabe": ["unit.read"],
}


def test_workflow_answer(world: World) -> None:
    answer = who_workflow(world, world.workflow)
    assert answer["resource"] == {"kind": "workflow", "id": str(world.workflow), "name": "alice/ml"}
    assert answer["owner"] == "alice"
    assert answer["access_control"] is True
    assert answer["truncated"] is False
    assert answer["actions"] == WF_ALL
    assert by_user(answer) == WF_EXPECTED
    groups = {g["name"]: (g["level"], g["members"], g["actions"]) for g in answer["groups"]}
    assert groups == {
        "readers": ("read", 1, ["workflow.read"]),
        "writers": ("write", 2, ["workflow.read", "workflow.write"]),
        "admins": ("admin", 1, WF_ALL),
    }
    users = {u["user"]: u for u in answer["users"]}
    assert {v["reason"] for v in users["alice"]["via"]} == {"owner"}
    assert {v["reason"] for v in users["rita"]["via"]} == {"group 'readers' (read)"}
    assert {v["reason"] for v in users["adam"]["via"]} == {"group 'admins' (admin)"}
    assert {v["reason"] for v in users["ruth"]["via"]} == {
        "rule allow:workflow.read,workflow.write:alice/ml of permission 'changer' via role "
        "'changer'"
    }
    assert {v["reason"] for v in users["gabe"]["via"]} == {
        "rule allow:workflow.read:alice/* of permission 'auditor' via role 'auditor' of group "
        "'auditors'"
    }
    deny = "explicit deny by rule deny:workflow.write,workflow.delete:alice/* of permission "
    deny += "'no-change' via role 'no-change'"
    # Only what the deny takes away: writers never gave dora delete.
    assert users["dora"]["blocked"] == [
        {"action": "workflow.write", "rule": deny, "overrides": "group 'writers' (write)"}
    ]
    assert all(u["blocked"] == [] for name, u in users.items() if name != "dora")
    assert {v["reason"] for v in users["root"]["via"]} == {
        "rule allow:*:* of permission 'admin' via role 'admin'"
    }
    # sam may share it only as a system administrator: not a reader of other users' data.
    assert answer["administrators"] == [{"user": "sam", "actions": ["workflow.share"]}]


def test_unit_answer(world: World) -> None:
    answer = who_unit(world, world.unit)
    assert answer["resource"] == {"kind": "unit", "id": "team/app", "name": "team/app"}
    assert answer["owner"] == "alice"
    assert by_user(answer) == UNIT_EXPECTED
    users = {u["user"]: u for u in answer["users"]}
    blocked = {b["action"]: b["overrides"] for b in users["dora"]["blocked"]}
    assert blocked == {
        "unit.write": "group 'writers' (write)",
        "unit.lock": "group 'writers' (write)",
    }
    levels = {g["name"]: g["level"] for g in answer["groups"]}
    assert levels == {"readers": "read", "writers": "write", "admins": "admin"}
    assert answer["administrators"] == [{"user": "sam", "actions": ["unit.share"]}]


def _workflow_call(w: World, user: str, action: str) -> tuple[int, httpx.Response]:
    """(the workflow the call is on, user's request for `action` on it); destructive calls
    take a fresh copy."""
    client = w.client(user)
    if action == "workflow.read":
        return w.workflow, client.get(f"{TORC}/workflows/{w.workflow}")
    if action == "workflow.write":
        return w.workflow, client.post(f"{TORC}/workflows/{w.workflow}/reset_status")
    target = w.workflow_copies.pop()
    if action == "workflow.delete":
        return target, client.delete(f"{TORC}/workflows/{target}")
    spare = w.groups["spare"]
    return target, client.post(f"{TORC}/workflows/{target}/access_groups/{spare}")


def _unit_call(w: World, user: str, action: str) -> tuple[str, httpx.Response]:
    client = w.client(user)
    if action == "unit.read":
        return w.unit, client.get(f"/v1/state/{w.unit}")
    if action == "unit.write":
        return w.unit, client.put(f"/v1/state/{w.unit}", content=state(next(w.serial)))
    target = w.unit_copies.pop()
    if action == "unit.lock":
        return target, client.post(f"/v1/locks/{target}", json={"who": user})
    if action == "unit.delete":
        return target, client.delete(f"/v1/units/{target}")
    return target, client.post(f"/v1/shares/{target}", json={"group": "spare"})


def _may(answer: Any, user: str, action: str) -> bool:
    """Whether the answer says `user` may do `action`: as a listed user or as an admin."""
    admins = {a["user"]: a["actions"] for a in answer["administrators"]}
    return action in by_user(answer).get(user, []) or action in admins.get(user, [])


@pytest.mark.parametrize(("kind", "actions"), [("workflow", WF_ACTIONS), ("unit", UNIT_ACTIONS)])
def test_the_answer_is_what_requests_get(world: World, kind: str, actions: tuple[str, ...]) -> None:
    """For every user and action: the request is allowed exactly when the answer about its
    target, asked just before, lists that user with that action."""
    call: Callable[[World, str, str], tuple[Any, httpx.Response]]
    call, who = (_workflow_call, who_workflow) if kind == "workflow" else (_unit_call, who_unit)
    seen = {True: 0, False: 0}
    for user in USERS:
        for action in actions:
            target, _ = _peek(world, kind, action)
            expected = _may(who(world, target), user, action)
            got_target, response = call(world, user, action)
            assert got_target == target
            assert response.status_code in (200, 201, 204, 403), (user, action, response.text)
            assert response.is_success is expected, (user, action, response.text)
            seen[expected] += 1
    assert seen[True] and seen[False]  # both outcomes were exercised


def _peek(w: World, kind: str, action: str) -> tuple[Any, None]:
    """The target the next call for `action` will use (without taking it)."""
    if kind == "workflow":
        shared = action in ("workflow.read", "workflow.write")
        return (w.workflow if shared else w.workflow_copies[-1]), None
    return (w.unit if action in ("unit.read", "unit.write") else w.unit_copies[-1]), None


@pytest.mark.parametrize("who", ["otto", "will", "rita", "ruth", "dora", "gabe"])
def test_refused_to_others(world: World, who: str) -> None:
    """Not the owner, no admin-level share, no rbac.manage, no system administrator: 403,
    with the decision's message, and nothing of the answer."""
    for path in (f"{TORC}/workflows/{world.workflow}/access", f"/v1/access/{world.unit}"):
        response = world.client(who).get(path)
        assert response.status_code == 403, (who, path, response.text)
        assert "owner, its admin-level groups, RBAC managers and system administrators" in (
            response.text
        )
        assert not {"adam", "admins", "readers"} & set(response.text.replace("'", " ").split())


@pytest.mark.parametrize("who", ["alice", "adam", "mona", "sam"])
def test_allowed_to_owner_admin_group_managers_and_administrators(world: World, who: str) -> None:
    assert by_user(who_workflow(world, world.workflow, who)) == WF_EXPECTED
    assert by_user(who_unit(world, world.unit, who)) == UNIT_EXPECTED


def test_missing_is_404_first(world: World) -> None:
    for user in ("otto", "root"):
        assert world.client(user).get(f"{TORC}/workflows/999999/access").status_code == 404
        assert world.client(user).get("/v1/access/team/nothing-here").status_code == 404
    anonymous = world.app.client()
    assert anonymous.get(f"{TORC}/workflows/{world.workflow}/access").status_code == 403


def test_a_unit_named_access_is_still_a_unit(world: World) -> None:
    """/v1/access/<path> cannot be mistaken for /v1/units/<path>: a unit may end in /access."""
    alice = world.client("alice")
    assert ok(alice.get("/v1/units/alice/access"))["path"] == "alice/access"
    assert who_unit(world, "alice/access", "alice")["resource"]["id"] == "alice/access"


def test_candidates_beyond_the_bound_are_reported(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More candidates than the server asks about at once: the answer says it may miss some."""
    full = who_workflow(world, world.workflow)
    assert full["truncated"] is False
    monkeypatch.setattr(reach, "MAX_CANDIDATES", 3)
    cut = who_workflow(world, world.workflow)
    assert cut["truncated"] is True
    assert cut["candidates"] < full["candidates"]
    # what is listed is still right for whoever was asked about
    assert all(by_user(full)[user] == actions for user, actions in by_user(cut).items())


def test_answers_at_once_are_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """While every turn is taken, another question waits, then gets a 429 with Retry-After
    (one answer may load thousands of users' facts: callers cannot take every thread)."""
    monkeypatch.setattr(reach, "WAIT_SECS", 0.05)
    held = 0
    try:
        while reach._TURNS.acquire(blocking=False):
            held += 1
        assert held == reach.MAX_AT_ONCE
        busy = world.client("root").get(f"{TORC}/workflows/{world.workflow}/access")
        assert busy.status_code == 429 and busy.headers["Retry-After"]
    finally:
        for _ in range(held):
            reach._TURNS.release()
    assert who_workflow(world, world.workflow)["truncated"] is False


def test_with_access_control_off(app_factory: AppFactory) -> None:
    """Everyone may do everything then; the answer says so and lists who could with it on."""
    app = app_factory(users=("alice", "bob"), enforce_access_control=False)
    alice, bob = app.client("alice"), app.client("bob")
    created = ok(alice.post(f"{TORC}/workflows", json={"name": "ml"}))
    answer = who_workflow(World(app, clients={"bob": bob}), created["id"], "bob")
    assert answer["access_control"] is False
    assert by_user(answer) == {"alice": WF_ALL}
