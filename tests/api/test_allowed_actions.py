"""What a caller may do, asked in advance: GET /workflows/{id}/allowed_actions and the
`allowed_actions` of GET /v1/units/{path}, the answers the console shows its controls by."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import App

V1 = "/torc-service/v1"


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def group_with(app: App, name: str, member: str) -> int:
    alice = app.client("alice")
    group = ok(alice.post(f"{V1}/access_groups", json={"name": name}))
    ok(alice.post(f"{V1}/access_groups/{group['id']}/members", json={"user_name": member}))
    return int(group["id"])


def test_a_workflows_allowed_actions_follow_the_callers_level(secured_app: App) -> None:
    bob = secured_app.client("bob")
    spec = {"name": "wf", "jobs": [{"name": "a", "command": "true"}]}
    wf = ok(bob.post(f"{V1}/workflow_specs", json=spec))["id"]
    for name, member, level in (("readers", "carol", "read"), ("writers", "dave", "write")):
        group = group_with(secured_app, name, member)
        ok(bob.post(f"{V1}/workflows/{wf}/access_groups/{group}", json={"access": level}))

    def allowed(user: str) -> list[str]:
        answer = ok(secured_app.client(user).get(f"{V1}/workflows/{wf}/allowed_actions"))
        assert answer["workflow_id"] == wf
        return list(answer["allowed_actions"])

    assert allowed("bob") == [
        "access.who",
        "workflow.delete",
        "workflow.read",
        "workflow.share",
        "workflow.shares",
        "workflow.write",
    ]
    assert allowed("carol") == ["workflow.read", "workflow.shares"]
    assert allowed("dave") == ["workflow.read", "workflow.shares", "workflow.write"]
    refused = secured_app.client("alice").get(f"{V1}/workflows/{wf}/allowed_actions")
    assert refused.status_code == 403  # may not read it: told nothing more
    missing = bob.get(f"{V1}/workflows/999999/allowed_actions")
    assert missing.status_code == 404


def test_a_units_allowed_actions_come_with_it(secured_app: App) -> None:
    bob = secured_app.client("bob")
    state = {"version": 4, "serial": 1, "lineage": "l", "resources": []}
    ok(bob.post("/v1/backend/net", content=json.dumps(state)))
    group_with(secured_app, "unit-readers", "carol")
    ok(bob.post("/v1/shares/net", json={"group": "unit-readers", "access": "read"}))
    owner = ok(bob.get("/v1/units/net"))["allowed_actions"]
    assert {"unit.read", "unit.write", "unit.lock", "unit.delete", "unit.share"} <= set(owner)
    assert "unit.unshare:unit-readers" in owner
    reader = ok(secured_app.client("carol").get("/v1/units/net"))["allowed_actions"]
    assert reader == ["unit.read"]
