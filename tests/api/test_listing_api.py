"""Listing over HTTP (in process): RBAC patterns in the workflow list, cursors
(`after` / `next_cursor`) on `GET /workflows` and `GET /v1/units`, and their bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.inprocess import App

WORKFLOWS = "/torc-service/v1/workflows"


@pytest.fixture
def http(secured_app: App) -> dict[str, httpx.Client]:
    return {user: secured_app.client(user) for user in ("alice", "bob", "carol")}


def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def grant(admin: httpx.Client, user: str, role: str, *rules: str) -> None:
    """Give `user` a new role holding one permission with `rules`."""
    ok(admin.post("/v1/rbac/permissions", json={"id": f"{role}-perm", "rules": list(rules)}))
    ok(admin.post("/v1/rbac/roles", json={"id": role}))
    ok(admin.post(f"/v1/rbac/roles/{role}/permissions", json={"permission_id": f"{role}-perm"}))
    ok(admin.post("/v1/rbac/users/assign", json={"email": user, "role_id": role}))


def listed(client: httpx.Client, **params: Any) -> list[str]:
    return [w["name"] for w in ok(client.get(WORKFLOWS, params=params))["items"]]


def test_rbac_allow_shows_a_workflow_in_the_list_and_deny_hides_it(
    http: dict[str, httpx.Client],
) -> None:
    alice, bob = http["alice"], http["bob"]
    ok(alice.post("/v1/rbac/init"))
    for name in ("etl-daily", "etl-hourly", "train"):
        ok(alice.post(WORKFLOWS, json={"name": name}))
    hourly = next(w for w in ok(alice.get(WORKFLOWS))["items"] if w["name"] == "etl-hourly")
    assert listed(bob) == []
    grant(alice, "bob", "etl-reader", "allow:workflow.read:alice/etl-*")
    assert listed(bob) == ["etl-daily", "etl-hourly"]
    assert ok(bob.get(WORKFLOWS))["total_count"] == 2
    assert ok(bob.get(f"{WORKFLOWS}/{hourly['id']}"))["name"] == "etl-hourly"
    grant(alice, "bob", "no-hourly", "deny:workflow.read:*/etl-hourly")
    assert listed(bob) == ["etl-daily"]
    assert bob.get(f"{WORKFLOWS}/{hourly['id']}").status_code == 403
    # a deny beats ownership in the list as it does for a single read
    grant(alice, "alice", "no-train", "deny:workflow.read:alice/train")
    assert listed(alice) == ["etl-daily", "etl-hourly"]
    assert listed(http["carol"]) == []


def pages(client: httpx.Client, path: str, key: str, **params: Any) -> Iterator[Any]:
    """Every page of a list, following next_cursor."""
    while True:
        page = ok(client.get(path, params=params))
        yield page
        assert len(page[key]) <= params["limit"]
        if page["next_cursor"] is None:
            return
        params = {**params, "after": page["next_cursor"]}


@pytest.mark.parametrize(
    ("params", "order"),
    [
        ({}, "created"),
        ({"sort_by": "name"}, "name"),
        ({"sort_by": "name", "reverse_sort": True}, "-name"),
    ],
)
def test_workflow_cursor_pages_give_every_workflow_once(
    http: dict[str, httpx.Client], params: dict[str, Any], order: str
) -> None:
    alice = http["alice"]
    names = [f"w{i:02d}" for i in range(11)]
    for name in reversed(names):  # ids ascending = names descending
        ok(alice.post(WORKFLOWS, json={"name": name}))
    seen: list[str] = []
    for page in pages(alice, WORKFLOWS, "items", limit=4, **params):
        assert (page["total_count"], page["max_limit"]) == (11, 10_000)
        assert page["has_more"] == (page["next_cursor"] is not None)
        seen += [w["name"] for w in page["items"]]
    assert seen == (names if order == "name" else list(reversed(names)))


def test_a_cursor_from_another_sort_order_or_list_is_400(http: dict[str, httpx.Client]) -> None:
    alice = http["alice"]
    for name in ("a", "b", "c"):
        ok(alice.post(WORKFLOWS, json={"name": name}))
        ok(alice.post("/v1/units", json={"path": f"cur/{name}"}))
    cursor = ok(alice.get(WORKFLOWS, params={"limit": 1}))["next_cursor"]
    unit_cursor = ok(alice.get("/v1/units", params={"limit": 1}))["next_cursor"]
    for params in (
        {"after": cursor, "sort_by": "name"},
        {"after": unit_cursor},
        {"after": "!!"},
        {"after": "x" * 5000},
    ):
        response = alice.get(WORKFLOWS, params=params)
        assert response.status_code == 400, response.text
        assert "Traceback" not in response.text
    for params in ({"after": cursor}, {"limit": 0}, {"limit": 10_001}, {"limit": "x"}):
        assert alice.get("/v1/units", params=params).status_code == 400


def test_unit_list_pages_by_cursor(http: dict[str, httpx.Client]) -> None:
    alice, bob = http["alice"], http["bob"]
    ok(alice.post("/v1/rbac/init"))
    paths = sorted(f"team{t}/app{i}" for t in range(3) for i in range(4))
    for path in paths:
        ok(alice.post("/v1/units", json={"path": path}))
    grant(alice, "bob", "teams", "allow:unit.read:team*", "deny:unit.read:team1/*")
    for client, expected in ((alice, paths), (bob, [p for p in paths if "team1/" not in p])):
        found = pages(client, "/v1/units", "units", limit=5)
        assert [u["path"] for page in found for u in page["units"]] == expected
    # without a limit, one page holds up to 1,000 units
    whole = ok(bob.get("/v1/units", params={"prefix": "team2"}))
    assert [u["path"] for u in whole["units"]] == [p for p in paths if p.startswith("team2/")]
    assert whole["next_cursor"] is None
