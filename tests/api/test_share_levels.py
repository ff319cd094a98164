"""Share levels in process (SQLite and PostgreSQL): a group a workflow or unit is shared with
gets `read`, `write` (the default) or `admin`, and each level allows what domain.levels says and
nothing more; sharing again with another level changes it; listings and explanations show the
level; shares made before levels existed became `write` (migration 0011).

alice (a system administrator) creates the groups; bob owns what is shared; carol is in
`readers`, dave in `writers`, erin in `admins`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from teamgate.storage.db.engine import MIGRATIONS, Database, database_url
from tests.conftest import AppFactory
from tests.inprocess import App

V1 = "/torc-service/v1"
OWNER = "bob"
LEVEL_OF = {"carol": "read", "dave": "write", "erin": "admin"}
GROUP_OF = {"read": "readers", "write": "writers", "admin": "admins"}


@pytest.fixture
def app(app_factory: AppFactory) -> App:
    users = ("alice", "bob", "carol", "dave", "erin", "frank")
    return app_factory(
        require_auth=True, enforce_access_control=True, admin_users=("alice",), users=users
    )


@pytest.fixture
def groups(app: App) -> dict[str, int]:
    """level → the id of the group shared at that level (one member each)."""
    found = {}
    with app.client("alice") as alice:
        for user, level in LEVEL_OF.items():
            made = alice.post(f"{V1}/access_groups", json={"name": GROUP_OF[level]})
            group_id = ok(made)["id"]
            member = {"user_name": user, "group_id": group_id, "role": "member"}
            ok(alice.post(f"{V1}/access_groups/{group_id}/members", json=member))
            found[level] = group_id
    return found


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.status_code, response.text)
    return response.json() if response.content else None


def shared_workflow(app: App, groups: dict[str, int]) -> int:
    """A workflow of bob's with one job, shared with each group at that group's level."""
    with app.client(OWNER) as bob:
        workflow_id = ok(bob.post(f"{V1}/workflows", json={"name": "levels"}))["id"]
        ok(
            bob.post(
                f"{V1}/jobs", json={"workflow_id": workflow_id, "name": "j", "command": "true"}
            )
        )
        for level, group_id in groups.items():
            share = {"group_id": group_id, "access": level}
            answer = ok(bob.post(f"{V1}/workflows/{workflow_id}/access_groups", json=share))
            assert answer["access"] == level
    return workflow_id


def shared_unit(app: App, groups: dict[str, int], path: str) -> str:
    with app.client(OWNER) as bob:
        ok(bob.post("/v1/units", json={"path": path}))
        ok(bob.put(f"/v1/state/{path}", content=b'{"serial": 1}'))
        for level in groups:
            answer = ok(
                bob.post(f"/v1/shares/{path}", json={"group": GROUP_OF[level], "access": level})
            )
            assert answer["access"] == level and answer["previous_access"] is None
    return path


def test_each_level_on_a_workflow_allows_what_it_says(app: App, groups: dict[str, int]) -> None:
    for user, level in LEVEL_OF.items():
        workflow_id = shared_workflow(app, groups)
        with app.client(user) as caller:
            # read: the workflow, its jobs and its shares
            assert caller.get(f"{V1}/workflows/{workflow_id}").status_code == 200
            jobs = caller.get(f"{V1}/jobs", params={"workflow_id": workflow_id})
            assert jobs.status_code == 200 and len(jobs.json()["items"]) == 1
            listed = caller.get(f"{V1}/workflows/{workflow_id}/access_groups")
            assert {g["name"]: g["access"] for g in listed.json()["items"]} == {
                "readers": "read",
                "writers": "write",
                "admins": "admin",
            }
            # write: change it, run it
            change = caller.post(f"{V1}/workflows/{workflow_id}/reset_status")
            init = caller.post(f"{V1}/workflows/{workflow_id}/initialize_jobs")
            assert (change.status_code, init.status_code) == (
                (403, 403) if level == "read" else (200, 200)
            )
            if level == "read":
                message = change.json()["message"]
                assert "group 'readers' (read)" in message and "needs level write" in message
            # admin: share it on, ask who can reach it, delete it
            share = caller.post(f"{V1}/workflows/{workflow_id}/access_groups/{groups['read']}")
            who = caller.get(f"{V1}/workflows/{workflow_id}/access")
            expected = 200 if level == "admin" else 403
            # sharing again without a level: already shared (409) once the caller may share
            assert share.status_code == (409 if level == "admin" else 403), share.text
            assert who.status_code == expected
            delete = caller.delete(f"{V1}/workflows/{workflow_id}")
            assert delete.status_code == expected, delete.text
        with app.client(OWNER) as bob:
            present = bob.get(f"{V1}/workflows/{workflow_id}").status_code
            assert present == (404 if level == "admin" else 200)


def test_each_level_on_a_unit_allows_what_it_says(app: App, groups: dict[str, int]) -> None:
    for user, level in LEVEL_OF.items():
        path = shared_unit(app, groups, f"team/{user}")
        with app.client(user) as caller:
            assert caller.get(f"/v1/state/{path}").content == b'{"serial": 1}'
            assert caller.get(f"/v1/versions/{path}").status_code == 200
            write = caller.put(f"/v1/state/{path}", content=b'{"serial": 2}')
            lock = caller.post(f"/v1/locks/{path}", json={"id": "l1", "who": user})
            writes = 200 if level != "read" else 403
            assert (write.status_code, lock.status_code) == (writes, writes), (
                write.text,
                lock.text,
            )
            if lock.status_code == 200:
                ok(caller.delete(f"/v1/locks/{path}", params={"lock_id": "l1"}))
            share = caller.post(f"/v1/shares/{path}", json={"group": "writers", "access": "admin"})
            delete = caller.delete(f"/v1/units/{path}")
            admin = 200 if level == "admin" else 403
            assert (share.status_code, delete.status_code) == (admin, admin), share.text
        with app.client(OWNER) as bob:
            present = bob.get(f"/v1/units/{path}").status_code
            assert present == (404 if level == "admin" else 200)


def test_sharing_again_with_a_level_changes_it(app: App, groups: dict[str, int]) -> None:
    workflow_id = shared_workflow(app, groups)
    path = shared_unit(app, groups, "team/again")
    readers = groups["read"]
    with app.client(OWNER) as bob:
        same = bob.post(
            f"{V1}/workflows/{workflow_id}/access_groups/{readers}", json={"access": "read"}
        )
        assert same.status_code == 409 and "(read)" in same.json()["message"]
        raised = ok(
            bob.post(
                f"{V1}/workflows/{workflow_id}/access_groups/{readers}", json={"access": "write"}
            )
        )
        assert (raised["access"], raised["previous_access"]) == ("write", "read")
        unit = ok(bob.post(f"/v1/shares/{path}", json={"group": "readers", "access": "write"}))
        assert (unit["access"], unit["previous_access"]) == ("write", "read")
        info = ok(bob.get(f"/v1/units/{path}"))
        assert {s["group"]: s["access"] for s in info["shares"]}["readers"] == "write"
        assert sorted(info["groups"]) == ["admins", "readers", "writers"]
        bad = bob.post(f"/v1/shares/{path}", json={"group": "readers", "access": "owner"})
        assert bad.status_code in (400, 422) and "access" in bad.text
    with app.client("carol") as carol:  # now at write
        change = carol.post(f"{V1}/workflows/{workflow_id}/reset_status")
        assert change.status_code == 200
        assert carol.put(f"/v1/state/{path}", content=b'{"serial": 3}').status_code == 200
    audit = app.client("alice").get("/v1/audit", params={"action": "workflow.share"}).json()
    details = [e["detail"] for e in audit["items"] if e["resource"] == f"workflow/{workflow_id}"]
    assert any("(read -> write)" in d for d in details), details


def test_a_share_without_a_level_is_write(app: App, groups: dict[str, int]) -> None:
    """The torc client's call has no body: the tutorial's "see and interact"."""
    with app.client(OWNER) as bob:
        workflow_id = ok(bob.post(f"{V1}/workflows", json={"name": "plain"}))["id"]
        share = ok(bob.post(f"{V1}/workflows/{workflow_id}/access_groups/{groups['read']}"))
        assert share["access"] == "write"
    with app.client("carol") as carol:
        change = carol.post(f"{V1}/workflows/{workflow_id}/reset_status")
        assert change.status_code == 200
        explained = carol.get(
            f"{V1}/access_explain/{workflow_id}/carol", params={"action": "workflow.delete"}
        ).json()
        assert explained["allowed"] is False
        groups_step = next(s for s in explained["steps"] if s["check"] == "groups")
        assert "(write)" in groups_step["detail"] and not groups_step["matched"]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(database_url(str(tmp_path / "old.db")))
    yield db
    db.dispose()


def test_shares_made_before_levels_become_write(database: Database) -> None:
    """Migration 0011 on a database with shares: each becomes a `write` share."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
        now = "2026-01-01T00:00:00Z"
        conn.execute(text(f"INSERT INTO access_group (name, created_at) VALUES ('g', '{now}')"))
        conn.execute(
            text(
                'INSERT INTO workflow (name, "user", timestamp, attributes) '
                f"VALUES ('w', 'bob', '{now}', '{{}}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO workflow_access_group (workflow_id, group_id, created_at) "
                f"VALUES (1, 1, '{now}')"
            )
        )
    database.migrate()
    with database.read() as conn:
        rows = conn.execute(text("SELECT access FROM workflow_access_group")).all()
    assert [r.access for r in rows] == ["write"]
