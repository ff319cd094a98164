"""The installed `taco` gives access groups RBAC roles: `taco rbac group assign|list|revoke`
against a real server, and `taco rbac test` naming the group a rule came through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_taco_cli import _server, error, ok, taco
from tests.conftest import Server, password_of


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path / "groups")


def test_group_roles_through_taco(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "config"

    def alice(*args: str) -> str:
        return ok(taco(server, config, "alice", *args))

    alice("rbac", "init")
    rule = "allow:unit.read,unit.write:team/*"
    alice("rbac", "permission", "create", "team-rw", "Team", "--rule", rule)
    alice("rbac", "role", "create", "team", "Team")
    alice("rbac", "role", "assign-permission", "team", "team-rw")
    auth = ("alice", password_of("alice"))
    with httpx.Client(base_url=server.torc_url, auth=auth) as admin:
        made = admin.post("/access_groups", json={"name": "data-team"})
        made.raise_for_status()
        members = f"/access_groups/{made.json()['id']}/members"
        admin.post(members, json={"user_name": "bob"}).raise_for_status()

    assert alice("rbac", "group", "list") == "No group roles found\n"
    assert alice("rbac", "group", "assign", "data-team", "team") == (
        "Role team assigned to group data-team\n"
    )
    twice = error(taco(server, config, "alice", "rbac", "group", "assign", "data-team", "team"))
    assert twice["message"] == "Group 'data-team' already has role 'team'"
    unknown = error(taco(server, config, "alice", "rbac", "group", "assign", "nope", "team"))
    assert unknown["message"].startswith("Group 'nope' not found")
    refused = error(taco(server, config, "bob", "rbac", "group", "assign", "data-team", "team"))
    assert "rbac.manage" in refused["message"]

    table = alice("rbac", "group", "list")
    assert "data-team" in table and "team" in table and "alice" in table
    listed = json.loads(alice("-o", "json", "rbac", "group", "ls"))
    assert [(g["group"], g["role_id"], g["created_by"]) for g in listed] == [
        ("data-team", "team", "alice")
    ]

    tested = alice("rbac", "test", "bob", "push", "team/app", "--explain")
    assert "Result: allowed" in tested
    via = "of permission 'team-rw' via role 'team' of group 'data-team'"
    assert f"Reason: rule {rule} {via}" in tested
    assert "Group roles: team (group data-team)" in tested
    me = ok(taco(server, config, "bob", "rbac", "me"))
    assert "team (group data-team)" in me

    assert alice("rbac", "group", "revoke", "data-team", "team") == (
        "Role team revoked from group data-team\n"
    )
    again = error(taco(server, config, "alice", "rbac", "group", "unassign", "data-team", "team"))
    assert again["message"] == "Group 'data-team' does not have role 'team'"
    assert json.loads(alice("-o", "json", "rbac", "group", "list")) == []
    after = alice("rbac", "test", "bob", "push", "team/app")
    assert "Result: denied" in after
