"""`torc access who` and `taco unit access` through the real CLIs against a real server.

alice (system administrator) owns workflow 1 and unit dev/app, both shared with `team`
(bob, dave) at the default level, write. After `rbac init` (which gives alice role `admin`),
dave holds a role denying him writes. carol has nothing to do with either.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_taco_cli import taco
from tests.conftest import Server, password_of, start_server, torc, write_htpasswd

DENY = "deny:workflow.write:alice/*", "deny:unit.write:dev/*"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("access-who-cli")
    started = start_server(
        root / "server",
        "--database",
        str(root / "torc.db"),
        "--blob-store",
        str(root / "blobs"),
        "--auth-file",
        str(write_htpasswd(root / "htpasswd")),
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    try:
        _setup(started)
        yield started
    finally:
        started.stop()


def _setup(server: Server) -> None:
    auth = ("alice", password_of("alice"))
    with httpx.Client(base_url=server.base_url, auth=auth, timeout=30) as alice:
        torc_api = "/torc-service/v1"
        alice.post(f"{torc_api}/access_groups", json={"name": "team"}).raise_for_status()
        for user in ("bob", "dave"):
            body = {"user_name": user, "role": "member"}
            alice.post(f"{torc_api}/access_groups/1/members", json=body).raise_for_status()
        alice.post(f"{torc_api}/workflows", json={"name": "ml"}).raise_for_status()
        alice.post(f"{torc_api}/workflows/1/access_groups/1").raise_for_status()
        alice.post("/v1/units", json={"path": "dev/app"}).raise_for_status()
        alice.post("/v1/shares/dev/app", json={"group": "team"}).raise_for_status()
        alice.post("/v1/rbac/init").raise_for_status()
        permission = {"id": "no-writes", "rules": list(DENY)}
        alice.post("/v1/rbac/permissions", json=permission).raise_for_status()
        alice.post("/v1/rbac/roles", json={"id": "no-writes"}).raise_for_status()
        body = {"permission_id": "no-writes"}
        alice.post("/v1/rbac/roles/no-writes/permissions", json=body).raise_for_status()
        body = {"email": "dave", "role_id": "no-writes"}
        alice.post("/v1/rbac/users/assign", json=body).raise_for_status()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_torc_access_who_table(server: Server) -> None:
    out = ok(torc(server, "alice", "access", "who", "1"))
    lines = out.splitlines()
    assert lines[0] == "Workflow 1 (alice/ml), owned by alice"
    assert "Shared with:" in lines
    assert _row(out, "team") == ["team", "write", "2", "read, write"]
    assert _row(out, "alice") == ["alice", "read, write, delete, share", "owner"]
    assert _row(out, "bob") == ["bob", "read, write", "group 'team' (write)"]
    assert _row(out, "dave")[:2] == ["dave", "read"]
    assert "Blocked by deny rules:" in lines
    blocked = _rows(out, "dave")[1]
    assert blocked[:2] == ["dave", "write"]
    assert blocked[2].startswith("rule deny:workflow.write:alice/* of permission 'no-writes'")
    assert blocked[3] == "group 'team' (write)"
    assert "carol" not in out
    assert (
        lines[-1]
        == "3 users checked (owner, group members, holders of RBAC roles, administrators)."
    )


def test_torc_access_who_json(server: Server) -> None:
    answer = json.loads(ok(torc(server, "alice", "access", "who", "1", "-f", "json")))
    assert answer["resource"] == {"kind": "workflow", "id": "1", "name": "alice/ml"}
    assert answer["owner"] == "alice"
    users = {u["user"]: u for u in answer["users"]}
    assert {name: u["actions"] for name, u in users.items()} == {
        "alice": ["workflow.read", "workflow.write", "workflow.delete", "workflow.share"],
        "bob": ["workflow.read", "workflow.write"],
        "dave": ["workflow.read"],
    }
    assert [b["action"] for b in users["dave"]["blocked"]] == ["workflow.write"]
    assert answer["administrators"] == []  # alice, the only one, holds role admin too
    assert (answer["candidates"], answer["truncated"]) == (3, False)


def test_torc_access_who_refused_and_missing(server: Server) -> None:
    refused = torc(server, "bob", "access", "who", "1")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "User 'bob' may not ask who can reach workflow 1" in refused.stderr
    missing = torc(server, "alice", "access", "who", "99")
    assert missing.returncode != 0
    assert "99" in missing.stderr and "not found" in missing.stderr.lower()


def test_taco_unit_access(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "config"
    answer = json.loads(
        ok(taco(server, config, "alice", "-o", "json", "unit", "access", "dev/app"))
    )
    assert answer["resource"] == {"kind": "unit", "id": "dev/app", "name": "dev/app"}
    users = {u["user"]: u["actions"] for u in answer["users"]}
    assert users == {
        "alice": ["unit.read", "unit.write", "unit.lock", "unit.delete", "unit.share"],
        "bob": ["unit.read", "unit.write", "unit.lock"],
        "dave": ["unit.read", "unit.lock"],
    }
    assert [g["name"] for g in answer["groups"]] == ["team"]
    text = ok(taco(server, config, "alice", "unit", "access", "dev/app"))
    assert text.splitlines()[0] == "Unit dev/app, owned by alice"
    assert _row(text, "bob") == ["bob", "read, write, lock", "group 'team' (write)"]
    refused = taco(server, config, "carol", "unit", "access", "dev/app")
    assert refused.returncode != 0
    assert "User 'carol' may not ask who can reach unit 'dev/app'" in refused.stderr
    missing = taco(server, config, "alice", "unit", "access", "dev/none")
    assert missing.returncode != 0 and "Unit 'dev/none' not found" in missing.stderr


def _rows(out: str, first: str) -> list[list[str]]:
    """The table rows (cells, stripped) whose first cell is `first`."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    return [row for row in rows if row and row[0] == first]


def _row(out: str, first: str) -> list[str]:
    return _rows(out, first)[0]
