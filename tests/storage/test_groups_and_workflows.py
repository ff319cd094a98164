"""Storage contract for groups, memberships, workflows and shares (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from teamgate.domain.workflows import parse_spec
from teamgate.errors import AlreadyExists, NotFound
from teamgate.storage.db import groups, workflows
from teamgate.storage.db.engine import Database
from teamgate.storage.db.listing import readable_by
from teamgate.storage.db.workflows import WorkflowFilter


def test_group_ids_start_at_one_and_names_are_unique(database: Database) -> None:
    with database.write() as conn:
        first = groups.create_group(conn, name="ml-team", description="ML")
        second = groups.create_group(conn, name="data-team", description=None)
    assert (first.id, second.id) == (1, 2)
    with (
        pytest.raises(AlreadyExists, match="Group 'ml-team' already exists"),
        database.write() as conn,
    ):
        groups.create_group(conn, name="ml-team", description="again")
    with database.read() as conn:
        page = groups.list_groups(conn, offset=0, limit=10)
    assert [g.name for g in page.items] == ["ml-team", "data-team"]
    assert page.total_count == 2 and not page.has_more


def test_failed_insert_keeps_the_rest_of_the_transaction(database: Database) -> None:
    with database.write() as conn:
        groups.create_group(conn, name="a", description=None)
    with database.write() as conn:
        groups.create_group(conn, name="b", description=None)
        with pytest.raises(AlreadyExists):
            groups.create_group(conn, name="a", description=None)
        groups.create_group(conn, name="c", description=None)
    with database.read() as conn:
        assert groups.list_groups(conn, offset=0, limit=10).total_count == 3


def test_memberships_and_cascade_on_group_delete(database: Database) -> None:
    with database.write() as conn:
        group = groups.create_group(conn, name="g", description=None)
        wf = workflows.insert_workflow(conn, name="w", user="alice", description=None)
        groups.add_member(conn, group.id, user="bob", role="admin")
        groups.share_workflow(conn, wf.id, group.id)
    with pytest.raises(AlreadyExists), database.write() as conn:
        groups.add_member(conn, group.id, user="bob", role="member")
    with database.read() as conn:
        assert groups.user_memberships(conn, "bob") == [(group.id, "g", "admin")]
        assert groups.workflow_group_ids(conn, wf.id) == {group.id: "write"}
    with database.write() as conn:
        groups.delete_group(conn, group.id)
    with database.read() as conn:
        assert groups.user_memberships(conn, "bob") == []
        assert groups.workflow_group_ids(conn, wf.id) == {}
        with pytest.raises(NotFound, match="Group not found with ID"):
            groups.list_members(conn, group.id, offset=0, limit=10)


def test_readable_filter_is_owner_or_shared(database: Database) -> None:
    with database.write() as conn:
        team = groups.create_group(conn, name="data-team", description=None)
        groups.add_member(conn, team.id, user="carol", role="member")
        mine = workflows.insert_workflow(conn, name="c1", user="carol", description=None)
        shared = workflows.insert_workflow(conn, name="a1", user="alice", description=None)
        workflows.insert_workflow(conn, name="a2", user="alice", description=None)
        groups.share_workflow(conn, shared.id, team.id)
    with database.read() as conn:
        page = workflows.list_workflows(
            conn,
            visible=readable_by("carol"),
            filters=WorkflowFilter(),
            offset=0,
            limit=100,
        )
    assert sorted(w.id for w in page.items) == sorted([mine.id, shared.id])
    assert page.total_count == 2


def test_spec_jobs_are_stored_and_deleted_with_the_workflow(database: Database) -> None:
    spec = parse_spec(
        {
            "name": "w",
            "jobs": [
                {"name": "a", "command": "echo a", "resource_requirements": "small"},
                {"name": "b", "command": "echo b", "depends_on": ["a"]},
            ],
            "resource_requirements": [{"name": "small", "num_cpus": 1, "memory": "1g"}],
        }
    )
    with database.write() as conn:
        wf = workflows.insert_workflow(conn, name="w", user="alice", description=None)
        assert workflows.insert_jobs(conn, wf.id, spec) == 2
    with database.read() as conn:
        assert workflows.count_jobs(conn, wf.id) == 2
    with database.write() as conn:
        workflows.delete_workflow(conn, wf.id)
    with database.read() as conn:
        assert workflows.count_jobs(conn, wf.id) == 0
        assert workflows.find_workflow(conn, wf.id) is None


def test_concurrent_membership_adds_lose_nothing(database: Database) -> None:
    with database.write() as conn:
        group = groups.create_group(conn, name="g", description=None)
    errors: list[BaseException] = []

    def add(user: str) -> None:
        try:
            with database.write() as conn:
                groups.add_member(conn, group.id, user=user, role="member")
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(f"user{i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with database.read() as conn:
        assert groups.list_members(conn, group.id, offset=0, limit=100).total_count == 20
