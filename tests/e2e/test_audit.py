"""The audit log against real servers: what the Torc tutorial and taco leave in it, filters,
who may read it, failed logins without secrets, rolled-back changes, retention."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, select

from teamgate.storage.db.engine import Database, database_url
from teamgate.storage.db.tables import api_token, audit_event
from tests.conftest import BIN, Server, execute_sql, password_of, start_server, torc, write_htpasswd

SPEC = """\
name: ml_training_workflow
description: Train a machine learning model
jobs:
  - name: train_model
    command: echo "Training model..."
"""
TORC_PREFIX = "/torc-service/v1"


def server_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--database",
        str(tmp_path / "db" / "torc.db"),
        "--blob-store",
        str(tmp_path / "blobs"),
        "--auth-file",
        str(write_htpasswd(tmp_path / "etc" / "htpasswd")),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
        *extra,
    ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = start_server(tmp_path / "server", *server_args(tmp_path))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on which the tutorial has run (its tests only read the audit log)."""
    root = tmp_path_factory.mktemp("tutorial")
    started = start_server(root / "server", *server_args(root))
    try:
        run_tutorial(started, root)
        yield started
    finally:
        started.stop()


def api(server: Server, user: str, password: str | None = None) -> httpx.Client:
    auth = (user, password if password is not None else password_of(user))
    return httpx.Client(base_url=server.base_url, auth=auth, timeout=30)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def torc_events(server: Server, *filters: str) -> list[dict[str, Any]]:
    """`torc audit list -f json` as alice."""
    events: list[dict[str, Any]] = json.loads(
        ok(torc(server, "alice", "audit", "list", *filters, "-f", "json"))
    )
    return events


def stored_rows(server: Server, table: Table = audit_event) -> list[dict[str, Any]]:
    """Every row of `table` (the audit log's) as the database holds it (not through the API)."""
    assert server.database is not None
    db = Database(database_url(server.database), pool_size=1)
    try:
        with db.read() as conn:
            return [dict(row._mapping) for row in conn.execute(select(table))]
    finally:
        db.dispose()


def actions(events: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in events]


# -- the Torc tutorial -----------------------------------------------------------------


def run_tutorial(server: Server, tmp_path: Path) -> None:
    """Steps 4-8 of the tutorial: groups, members, alice's workflow, carol refused, a share."""
    ok(torc(server, "alice", "access-groups", "create", "ml-team", "--description", "ML"))
    ok(torc(server, "alice", "access-groups", "create", "data-team", "--description", "Data"))
    for group, user in (("1", "alice"), ("1", "bob"), ("2", "carol"), ("2", "dave")):
        ok(torc(server, "alice", "access-groups", "add-user", group, user))
    (tmp_path / "ml.yaml").write_text(SPEC)
    created = ok(
        torc(server, "alice", "workflows", "create", str(tmp_path / "ml.yaml"), "-f", "json")
    )
    assert json.loads(created)["id"] == 1
    refused = torc(server, "carol", "workflows", "get", "1")
    assert refused.returncode == 1 and "does not have access to workflow 1" in refused.stderr
    ok(torc(server, "alice", "access-groups", "add-workflow", "1", "2"))
    ok(torc(server, "carol", "workflows", "get", "1"))
    ok(torc(server, "alice", "access-groups", "remove-workflow", "1", "2"))


def test_tutorial_changes_and_denials_are_listed(tutorial: Server) -> None:
    events = torc_events(tutorial)
    assert actions(events) == [
        "workflow.unshare",
        "workflow.share",
        "workflow.read",  # carol's denial, named by the decision
        *["group.member.add"] * 4,
        "group.create",
        "group.create",
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)
    assert [e["time"] for e in events] == sorted((e["time"] for e in events), reverse=True)
    assert all(e["client"] == "127.0.0.1" and e["request_id"] for e in events)

    unshare, share, denial, *members, data_team, ml_team = events
    assert ml_team | {"id": 0, "time": "", "request_id": ""} == {
        "id": 0,
        "time": "",
        "user": "alice",
        "client": "127.0.0.1",
        "request_id": "",
        "action": "group.create",
        "resource": "group/1",
        "decision": "allowed",
        "reason": "system administrator",
        "detail": "name 'ml-team'",
    }
    assert ml_team["time"].endswith("Z") and len(ml_team["time"]) == len("2024-05-01T12:00:00.000Z")
    assert (data_team["resource"], data_team["detail"]) == ("group/2", "name 'data-team'")
    assert [(m["resource"], m["detail"]) for m in reversed(members)] == [
        ("group/1", "user 'alice' as member"),
        ("group/1", "user 'bob' as member"),
        ("group/2", "user 'carol' as member"),
        ("group/2", "user 'dave' as member"),
    ]
    assert {k: denial[k] for k in ("user", "resource", "decision", "reason", "detail")} == {
        "user": "carol",
        "resource": "workflow/1",
        "decision": "denied",
        "reason": "no matching grant",
        "detail": f"GET {TORC_PREFIX}/workflows/{{id}}",  # the route that asked
    }
    for change, action in ((share, "workflow.share"), (unshare, "workflow.unshare")):
        assert {k: change[k] for k in ("user", "action", "resource", "reason", "detail")} == {
            "user": "alice",
            "action": action,
            "resource": "workflow/1",
            "reason": "owner",
            # a share records its level; removing one does not
            "detail": "group 2 'data-team'" + (" (write)" if action == "workflow.share" else ""),
        }

    table = ok(torc(tutorial, "alice", "audit", "list", "--user", "carol")).splitlines()
    assert table[0].startswith("╭") and table[-1].startswith("╰")
    headers = ["Time", "User", "Client", "Action", "Resource", "Decision", "Reason", "Detail"]
    assert [cell.strip() for cell in table[1].split("│")[1:-1]] == headers
    assert "no matching grant" in table[3] and "carol" in table[3]


def rest_events(server: Server, **params: str) -> list[dict[str, Any]]:
    """GET /v1/audit as alice: the same filters as the CLI, without starting a process."""
    with api(server, "alice") as alice:
        response = alice.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_filters(tutorial: Server) -> None:
    server = tutorial
    every = torc_events(server)
    # through the CLI
    denial = "workflow.read"
    assert actions(torc_events(server, "--user", "carol")) == [denial]
    assert [e["user"] for e in torc_events(server, "--decision", "denied")] == ["carol"]
    assert set(actions(torc_events(server, "--action", "group."))) == {
        "group.create",
        "group.member.add",
    }
    assert torc_events(server, "--limit", "2") == every[:2]
    combined = ("--user", "alice", "--action", "workflow.share", "--decision", "allowed")
    assert actions(torc_events(server, *combined)) == ["workflow.share"]
    # the same filters over REST
    assert rest_events(server) == every
    assert rest_events(server, decision="failed-login") == []
    assert actions(rest_events(server, action="group.create")) == ["group.create"] * 2
    assert actions(rest_events(server, action="workflow.")) == [
        "workflow.unshare",
        "workflow.share",
        denial,
    ]
    assert rest_events(server, action="GET") == []  # routes are details, not actions
    assert rest_events(server, user="anonymous") == []
    in_group_1 = torc_events(server, "--resource", "group/1")
    assert [e["detail"] for e in in_group_1] == [
        "user 'bob' as member",
        "user 'alice' as member",
        "name 'ml-team'",
    ]
    assert len(rest_events(server, resource="group/")) == len(in_group_1) + 3
    assert actions(rest_events(server, resource="workflow/1")) == [
        "workflow.unshare",
        "workflow.share",
        denial,
    ]
    assert rest_events(server, resource=f"{TORC_PREFIX}/workflows") == []
    # times: since inclusive, until exclusive, ISO times or dates, zone offsets honoured
    assert torc_events(server, "--since", "2001-01-01") == every
    assert rest_events(server, until="2001-01-01") == []
    middle = every[3]["time"]
    newer = rest_events(server, since=middle)
    older = rest_events(server, until=middle)
    assert newer + older == every
    assert all(e["time"] >= middle for e in newer) and all(e["time"] < middle for e in older)
    # the same wall time two hours east is two hours earlier, two hours west is later
    assert rest_events(server, since=middle[:-1] + "+02:00") == every
    assert rest_events(server, since=middle[:-1] + "-02:00") == []
    assert rest_events(server, since="2999-01-01") == []


def test_prefixes_are_whole_segments_and_anonymous_is_no_user(server: Server) -> None:
    for resource, user in (("group/1", "alice"), ("group/12", None), ("group/1/x", "bob")):
        execute_sql(
            server,
            "INSERT INTO audit_event (time, user_name, action, resource, decision) "
            "VALUES (:t, :u, 'x', :r, 'allowed')",
            t="2024-01-01T00:00:00.000Z",
            u=user,
            r=resource,
        )
    execute_sql(
        server,
        "INSERT INTO audit_event (time, action, resource, decision) "
        "VALUES ('2024-01-02T00:00:00.000Z', 'a_b%', 'c', 'allowed')",
    )

    def resources(**params: str) -> list[str]:
        return [e["resource"] for e in rest_events(server, **params)]

    assert resources(resource="group/1") == ["group/1/x", "group/1"]
    assert resources(resource="group/") == ["group/1/x", "group/12", "group/1"]
    assert resources(resource="group") == ["group/1/x", "group/12", "group/1"]
    assert resources(resource="gro") == []
    assert resources(user="anonymous") == ["c", "group/12"]
    # LIKE wildcards in a filter are literal characters
    assert resources(action="a_b%") == ["c"]
    assert resources(action="a%") == []
    assert resources(action="x", resource="group/1/") == ["group/1/x"]


def test_rest_pages_and_both_paths(tutorial: Server) -> None:
    server = tutorial
    with api(server, "alice") as alice:
        everything = alice.get(f"{TORC_PREFIX}/audit").json()
        assert everything["next_cursor"] is None and everything["count"] == 9
        assert alice.get("/v1/audit").json() == everything
        seen: list[int] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
            page = alice.get("/v1/audit", params=params).json()
            seen += [e["id"] for e in page["items"]]
            after = page["next_cursor"]
            if after is None:
                break
            assert page["count"] == 2
        assert seen == [e["id"] for e in everything["items"]]
        page = alice.get("/v1/audit", params={"limit": 3, "action": "group."}).json()
        rest = alice.get("/v1/audit", params={"after": page["next_cursor"], "action": "group."})
        assert [e["action"] for e in page["items"] + rest.json()["items"]] == [
            "group.member.add"
        ] * 4 + ["group.create"] * 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"until": "2024-13-01"}, "until must be an ISO 8601 time"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "must be before until"),
        ({"decision": "maybe"}, "decision must be one of allowed, denied, failed-login"),
        ({"limit": 0}, "limit must be between 1 and 10000"),
        ({"limit": 10001}, "limit must be between 1 and 10000"),
        ({"limit": "ten"}, "'limit' must be an integer"),
        ({"after": 12345}, "cursor 12345 names no audit event"),
        ({"after": -1}, "after"),
    ],
)
def test_bad_filters_are_400(tutorial: Server, params: dict[str, Any], message: str) -> None:
    with api(tutorial, "alice") as alice:
        response = alice.get(f"{TORC_PREFIX}/audit", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "BadRequest"
    assert message in response.json()["message"]


# -- who may read it ----------------------------------------------------------------------


def test_non_admins_are_refused_and_that_is_recorded(server: Server) -> None:
    refused = torc(server, "bob", "audit", "list")
    assert refused.returncode == 1
    assert json.loads(refused.stderr) == {
        "error": "Forbidden",
        "message": "User 'bob' is not a system administrator",
    }
    with api(server, "carol") as carol:
        assert carol.get("/v1/audit").status_code == 403
    events = torc_events(server)
    # The action the decision refused; no one resource, so the path; the route as detail.
    assert [(e["user"], e["action"], e["resource"], e["detail"]) for e in events] == [
        ("carol", "audit.read", "/v1/audit", "GET /v1/audit"),
        ("bob", "audit.read", f"{TORC_PREFIX}/audit", f"GET {TORC_PREFIX}/audit"),
    ]
    assert {(e["decision"], e["reason"]) for e in events} == {
        ("denied", "not a system administrator")
    }


def test_every_refusal_names_its_action_resource_and_reason(server: Server) -> None:
    """The checks once written by hand are decisions too: a refusal is filed under the action
    it refused and what it was about, with what decided, not under the route."""
    with api(server, "carol") as carol:
        assert carol.get(f"{TORC_PREFIX}/users/bob/groups").status_code == 403
        token = carol.post("/v1/auth/token").json()["token"]
    with api(server, "carol", token) as with_token:
        assert with_token.post("/v1/auth/token").status_code == 403
    minted, _issued, listed = torc_events(server)
    route = f"GET {TORC_PREFIX}/users/{{user_name:path}}/groups"
    fields = ("user", "action", "resource", "decision", "detail", "reason")
    assert {k: listed[k] for k in fields} == {
        "user": "carol",
        "action": "user.groups",
        "resource": "user/bob",
        "decision": "denied",
        "detail": route,
        "reason": "not user 'bob' nor a system administrator",
    }
    assert [minted[k] for k in fields] == [
        "carol",
        "token.create",
        "/v1/auth/token",
        "denied",
        "POST /v1/auth/token",
        "signed in with a token",
    ]


# -- failed logins ------------------------------------------------------------------------

SECRET = "S3cret-never-stored"
TOKEN_SECRET = "x" * 43


def test_failed_logins_record_the_user_never_the_secret(server: Server) -> None:
    fake_token = f"tg_0123456789abcdef_{TOKEN_SECRET}"
    with api(server, "bob", SECRET) as wrong:
        assert wrong.get(f"{TORC_PREFIX}/workflows").status_code == 401
    with api(server, "nobody", SECRET) as unknown:
        assert unknown.get("/v1/units").status_code == 401
    with api(server, "dave", fake_token) as token_as_password:
        assert token_as_password.get("/v1/rbac/me").status_code == 401
    bearer = {"Authorization": f"Bearer {fake_token}"}
    assert httpx.get(f"{server.base_url}/v1/auth/me", headers=bearer).status_code == 401
    garbled = {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()}
    assert httpx.get(f"{server.base_url}/v1/auth/me", headers=garbled).status_code == 401
    # no credentials offered: a 401, but nobody tried to sign in
    assert httpx.get(f"{server.base_url}/v1/auth/me").status_code == 401

    events = torc_events(server, "--decision", "failed-login")
    assert [(e["user"], e["action"], e["detail"]) for e in events] == [
        (None, "GET /v1/auth/me", "basic, malformed"),
        (None, "GET /v1/auth/me", "bearer token tg_0123456789abcdef"),
        ("dave", "GET /v1/rbac/me", "basic with token tg_0123456789abcdef"),
        ("nobody", "GET /v1/units", "basic"),
        ("bob", f"GET {TORC_PREFIX}/workflows", "basic"),
    ]
    assert events[-1]["reason"] == "Invalid user name or password"
    assert events[-1]["resource"] == f"{TORC_PREFIX}/workflows"
    rows = stored_rows(server)
    assert len(rows) == 5
    for row in rows:
        text = json.dumps(row)
        assert SECRET not in text and TOKEN_SECRET not in text, row
    assert SECRET not in server.log() and TOKEN_SECRET not in server.log()


def test_a_broken_audit_log_never_turns_a_refusal_into_a_500(server: Server) -> None:
    execute_sql(server, "DROP TABLE audit_event")
    with api(server, "carol") as carol:
        assert carol.get(f"{TORC_PREFIX}/audit").status_code == 403
    with api(server, "bob", SECRET) as wrong:
        assert wrong.get(f"{TORC_PREFIX}/ping").status_code == 401
    assert server.log().count("Could not record") == 2
    assert SECRET not in server.log()


# -- transactions ---------------------------------------------------------------------------


def test_a_rolled_back_change_leaves_no_record(server: Server) -> None:
    with api(server, "alice") as alice:
        missing = alice.post(f"{TORC_PREFIX}/access_groups/99/members", json={"user_name": "bob"})
        assert missing.status_code == 404
        assert alice.post(f"{TORC_PREFIX}/access_groups", json={"name": "ops"}).status_code == 200
        taken = alice.post(f"{TORC_PREFIX}/access_groups", json={"name": "ops"})
        assert taken.status_code == 409
        assert alice.post("/v1/rbac/init").status_code == 200
        # the last holder of rbac.manage: the revoke is made, then refused and rolled back
        last = alice.post("/v1/rbac/users/revoke", json={"email": "alice", "role_id": "admin"})
        assert last.status_code == 409, last.text
    assert actions(torc_events(server)) == ["rbac.init", "group.create"]
    assert {r["action"] for r in stored_rows(server)} == {"rbac.init", "group.create"}


def test_a_token_is_issued_and_revoked_only_with_its_record(server: Server) -> None:
    """The token row and its audit record share one transaction: when the record cannot be
    written, neither the new token nor the revocation is kept."""
    with api(server, "alice") as alice:
        token = alice.post("/v1/auth/token").json()["token"]
    execute_sql(server, "DROP TABLE audit_event")
    with api(server, "alice") as alice:
        assert alice.post("/v1/auth/token").status_code == 500
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"{server.base_url}/v1/auth"
    assert httpx.delete(f"{url}/token", headers=bearer, timeout=30).status_code == 500
    assert httpx.get(f"{url}/me", headers=bearer, timeout=30).json()["auth"] == "token"  # valid
    assert [row["revoked_at"] for row in stored_rows(server, api_token)] == [None]


# -- taco ---------------------------------------------------------------------------------


def taco(server: Server, config: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(XDG_CONFIG_HOME=str(config), OPENTACO_SERVER=server.base_url, COLUMNS="200")
    env.update(OPENTACO_USERNAME=user, OPENTACO_PASSWORD=password_of(user))
    return subprocess.run(
        [str(BIN / "taco"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_taco_rbac_tokens_and_units(server: Server, tmp_path: Path) -> None:
    alice = tmp_path / "alice-config"
    bob = tmp_path / "bob-config"
    ok(taco(server, alice, "alice", "login"))
    for args in (
        ("rbac", "init"),
        (
            "rbac",
            "permission",
            "create",
            "dev-access",
            "Dev",
            "dev units",
            "--rule",
            "allow:unit.read,unit.lock:dev/*",
        ),
        ("rbac", "role", "create", "developer", "Developer", "dev team"),
        ("rbac", "role", "assign-permission", "developer", "dev-access"),
        ("rbac", "user", "assign", "bob", "developer"),
        ("unit", "create", "dev/app"),
    ):
        ok(taco(server, alice, "alice", *args))
    with api(server, "alice") as rest:
        assert rest.post(f"{TORC_PREFIX}/access_groups", json={"name": "devs"}).status_code == 200
    ok(taco(server, alice, "alice", "unit", "share", "dev/app", "devs"))
    ok(taco(server, bob, "bob", "unit", "lock", "dev/app"))
    ok(taco(server, alice, "alice", "unit", "unlock", "dev/app", "--force"))
    ok(taco(server, alice, "alice", "rbac", "role", "revoke-permission", "developer", "dev-access"))
    ok(taco(server, alice, "alice", "unit", "rm", "dev/app"))
    ok(taco(server, alice, "alice", "logout"))

    events = json.loads(ok(taco(server, alice, "alice", "audit", "list", "-o", "json")))
    summary = [(e["user"], e["action"], e["resource"]) for e in events]
    assert summary[0][1] == "token.revoke" and summary[-1][1] == "token.create"
    token = summary[-1][2]
    assert token.startswith("token/") and summary[0][2] == token
    assert summary[1:-1] == [
        ("alice", "unit.delete", "unit/dev/app"),
        ("alice", "rbac.role.permission.revoke", "rbac/role/developer"),
        ("alice", "unit.force_unlock", "unit/dev/app"),
        ("bob", "unit.lock", "unit/dev/app"),
        ("alice", "unit.share", "unit/dev/app"),
        ("alice", "group.create", "group/1"),
        ("alice", "rbac.user.assign", "rbac/user/bob"),
        ("alice", "rbac.role.permission.assign", "rbac/role/developer"),
        ("alice", "rbac.role.create", "rbac/role/developer"),
        ("alice", "rbac.permission.create", "rbac/permission/dev-access"),
        ("alice", "rbac.init", "rbac"),
    ]
    by_action = {e["action"]: e for e in events}
    held = by_action["unit.force_unlock"]["detail"]
    assert held.startswith("lock held by user 'bob' (lock ") and ", taco@" in held
    assert by_action["unit.lock"]["detail"].startswith("lock ")
    assert ", Who 'taco@" in by_action["unit.lock"]["detail"]  # what bob's client said
    assert by_action["unit.share"]["detail"] == "group 1 'devs' (write)"
    assert by_action["rbac.user.assign"]["detail"] == "role 'developer'"
    assert by_action["rbac.permission.create"]["detail"] == "allow:unit.read,unit.lock:dev/*"
    assert by_action["rbac.init"]["reason"] == "system administrator"
    assert by_action["unit.delete"]["reason"] == "owner"

    rbac_only = json.loads(
        ok(taco(server, alice, "alice", "audit", "list", "--action", "rbac.", "-o", "json"))
    )
    assert [e["action"] for e in rbac_only] == [a for _, a, _ in summary if a.startswith("rbac.")]
    units = json.loads(
        ok(
            taco(
                server,
                alice,
                "alice",
                "audit",
                "list",
                "--resource",
                "unit/dev",
                "--limit",
                "2",
                "-o",
                "json",
            )
        )
    )
    assert [e["action"] for e in units] == ["unit.delete", "unit.force_unlock"]
    table = ok(taco(server, alice, "alice", "audit", "list", "--action", "unit.share"))
    assert "unit.share" in table and "group 1 'devs'" in table
    refused = taco(server, bob, "bob", "audit", "list")
    assert refused.returncode == 1 and "not a system administrator" in refused.stderr


# -- retention ------------------------------------------------------------------------------


def test_retention_prunes_old_events_at_startup(tmp_path: Path) -> None:
    args = server_args(tmp_path)
    first = start_server(tmp_path / "server", *args, "--audit-retention-days", "0")
    try:
        with api(first, "alice") as alice:
            assert (
                alice.post(f"{TORC_PREFIX}/access_groups", json={"name": "kept"}).status_code == 200
            )
        for when in ("2001-01-01T00:00:00.000Z", "2002-01-01T00:00:00.000Z"):
            execute_sql(
                first,
                "INSERT INTO audit_event (time, action, resource, decision) "
                "VALUES (:t, 'old', 'x', 'allowed')",
                t=when,
            )
    finally:
        first.stop()
    keep_forever = start_server(tmp_path / "server", *args, "--audit-retention-days", "0")
    try:
        assert len(torc_events(keep_forever, "--action", "old")) == 2
    finally:
        keep_forever.stop()
    pruning = start_server(tmp_path / "server", *args, "--audit-retention-days", "30")
    try:
        assert torc_events(pruning, "--action", "old") == []
        assert actions(torc_events(pruning)) == ["group.create"]
    finally:
        pruning.stop()
    assert "Pruned 2 audit events older than 30 days" in pruning.log()
