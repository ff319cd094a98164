"""The records around a run — files, user data, resource requirements, compute nodes, events —
through the Torc API, the server in process.

One server (auth required, access control on, alice a system administrator) serves the module;
every test makes the workflows it uses. bob owns them; carol is a member of the group "team" they
are shared with; dave may read bob's workflows through an RBAC rule and do nothing else; erin is
an outsider. Each refused call is followed by a check that it changed nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from teamgate.storage.db import tables
from tests.conftest import start_app
from tests.inprocess import App

USERS = ("alice", "bob", "carol", "dave", "erin")
ROW_ID_PAST = str(2**31)  # one past the INTEGER ids
HUGE = str(2**63)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "message"}, body
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


@dataclass
class World:
    server: App
    clients: dict[str, httpx.Client]
    group_id: int
    serial: Iterator[int]

    def __call__(self, user: str) -> httpx.Client:
        return self.clients[user]

    def workflow(self, *, jobs: int = 0, shared: bool = True) -> int:
        """A new workflow of bob's (with `jobs` jobs j0, j1, …), shared with "team"."""
        spec: dict[str, Any] = {"name": f"wf-{next(self.serial)}", "jobs": []}
        spec["jobs"] = [{"name": f"j{i}", "command": "true"} for i in range(jobs)]
        if jobs:
            created = ok(self("bob").post("/workflow_specs", json=spec))
        else:
            created = ok(self("bob").post("/workflows", json={"name": spec["name"]}))
        if shared:
            ok(self("bob").post(f"/workflows/{created['id']}/access_groups/{self.group_id}"))
        return int(created["id"])

    def job_ids(self, workflow_id: int) -> list[int]:
        job = tables.job
        with self.server.app.state.database.read() as conn:
            query = select(job.c.id).where(job.c.workflow_id == workflow_id).order_by(job.c.name)
            return [int(r) for r in conn.execute(query).scalars()]

    def sql(self, statement: Any) -> None:
        with self.server.app.state.database.write() as conn:
            conn.execute(statement)

    def column(self, table: Any, column: str, record_id: int) -> Any:
        with self.server.app.state.database.read() as conn:
            query = select(table.c[column]).where(table.c.id == record_id)
            return conn.execute(query).scalar_one()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        server = start_app(
            stack,
            tmp_path_factory.mktemp("run-records"),
            users=USERS,
            require_auth=True,
            enforce_access_control=True,
            admin_users=("alice",),
        )
        clients = {u: server.client(u, base_url=server.torc_url) for u in USERS}
        clients[""] = server.client(base_url=server.torc_url)
        alice = clients["alice"]
        group = ok(alice.post("/access_groups", json={"name": "team"}))
        for user in ("bob", "carol"):
            ok(alice.post(f"/access_groups/{group['id']}/members", json={"user_name": user}))
        rbac = server.client("alice", base_url=f"{server.base_url}/v1")
        assert rbac.post("/rbac/init").status_code == 200
        perm = {"id": "read-bob", "rules": ["allow:workflow.read:bob/*"]}
        assert rbac.post("/rbac/permissions", json=perm).status_code == 201
        assert rbac.post("/rbac/roles", json={"id": "reader"}).status_code == 201
        link = {"permission_id": "read-bob"}
        assert rbac.post("/rbac/roles/reader/permissions", json=link).status_code == 200
        assert rbac.post(
            "/rbac/users/assign", json={"email": "dave", "role_id": "reader"}
        ).is_success
        yield World(server, clients, group["id"], itertools.count(1))


# -- one case per kind of record ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    path: str
    body: dict[str, Any]  # without workflow_id
    change: dict[str, Any] | None  # a PUT body; None: the kind has no PUT


CASES = {
    "files": Case("/files", {"name": "input", "path": "data/in.csv"}, {"st_mtime": 1700000000.5}),
    "user_data": Case(
        "/user_data", {"name": "cfg", "data": {"alpha": [1, 2]}}, {"data": {"alpha": []}}
    ),
    "resource_requirements": Case(
        "/resource_requirements",
        {"name": "big", "num_cpus": 4, "memory": "8g", "runtime": "PT2H"},
        {"num_cpus": 8, "memory": "16g"},
    ),
    "compute_nodes": Case(
        "/compute_nodes",
        {
            "hostname": "node1",
            "pid": 4242,
            "start_time": "2026-01-01T00:00:00Z",
            "num_cpus": 8,
            "memory_gb": 31.5,
            "num_gpus": 0,
            "num_nodes": 1,
            "compute_node_type": "local",
            "scheduler": {"type": "local"},
        },
        {"is_active": False, "duration_seconds": 12.5},
    ),
    "events": Case("/events", {"timestamp": 1700000000000, "data": {"category": "user"}}, None),
}
KINDS = list(CASES)


def create(world: World, user: str, kind: str, workflow_id: int, **extra: Any) -> httpx.Response:
    case = CASES[kind]
    return world(user).post(case.path, json={**case.body, "workflow_id": workflow_id, **extra})


def listed(world: World, kind: str, workflow_id: int, **params: Any) -> list[dict[str, Any]]:
    page = ok(world("bob").get(CASES[kind].path, params={"workflow_id": workflow_id, **params}))
    return list(page["items"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("user", ["bob", "carol"])
def test_owner_and_group_member_create_read_change_delete(
    world: World, kind: str, user: str
) -> None:
    case = CASES[kind]
    workflow_id = world.workflow()
    client = world(user)
    created = ok(create(world, user, kind, workflow_id))
    assert created["workflow_id"] == workflow_id
    for field, value in case.body.items():
        assert created[field] == value
    record = f"{case.path}/{created['id']}"
    assert ok(client.get(record)) == created
    page = ok(client.get(case.path, params={"workflow_id": workflow_id}))
    assert page["items"] == [created]
    assert (page["offset"], page["count"], page["total_count"]) == (0, 1, 1)
    assert page["has_more"] is False and page["max_limit"] == 10_000
    if case.change is not None:
        changed = ok(client.put(record, json=case.change))
        assert changed == {**created, **case.change}
        assert ok(client.get(record)) == changed
    deleted = ok(client.delete(record))
    assert deleted["id"] == created["id"]
    assert_error(client.get(record), 404, "not found with ID")
    assert listed(world, kind, workflow_id) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("user", ["erin", "dave"])
def test_writes_refused_without_workflow_write_change_nothing(
    world: World, kind: str, user: str
) -> None:
    """erin may do nothing on bob's workflow; dave may read it but not write it."""
    case = CASES[kind]
    workflow_id = world.workflow()
    created = ok(create(world, "bob", kind, workflow_id))
    record = f"{case.path}/{created['id']}"
    client = world(user)

    assert_error(create(world, user, kind, workflow_id), 403, "does not have access")
    if case.change is not None:
        assert_error(client.put(record, json=case.change), 403)
    assert_error(client.delete(record), 403)
    assert listed(world, kind, workflow_id) == [created]  # nothing added, changed or removed

    reads = [client.get(record), client.get(case.path, params={"workflow_id": workflow_id})]
    for response in reads:
        if user == "dave":
            assert response.status_code == 200, response.text
        else:
            assert_error(response, 403, "does not have access")


@pytest.mark.parametrize("kind", KINDS)
def test_anonymous_callers_are_401(world: World, kind: str) -> None:
    workflow_id = world.workflow()
    path = CASES[kind].path
    assert world("").get(path, params={"workflow_id": workflow_id}).status_code == 401
    assert (
        world("").post(path, json={**CASES[kind].body, "workflow_id": workflow_id}).status_code
        == 401
    )
    assert listed(world, kind, workflow_id) == []


@pytest.mark.parametrize("kind", [k for k in KINDS if CASES[k].change is not None])
def test_a_record_stays_in_its_workflow(world: World, kind: str) -> None:
    case = CASES[kind]
    first, second = world.workflow(), world.workflow()
    created = ok(create(world, "bob", kind, first))
    record = f"{case.path}/{created['id']}"
    moved = world("bob").put(record, json={**(case.change or {}), "workflow_id": second})
    assert_error(moved, 400, "cannot be moved")
    assert ok(world("bob").get(record)) == created
    same = ok(world("bob").put(record, json={**(case.change or {}), "workflow_id": first}))
    assert same["workflow_id"] == first


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_ids_and_workflows_are_404(world: World, kind: str) -> None:
    path = CASES[kind].path
    for response in (
        world("bob").get(f"{path}/987654"),
        world("bob").delete(f"{path}/987654"),
        world("bob").get(path, params={"workflow_id": 987654}),
        create(world, "bob", kind, 987654),
    ):
        assert_error(response, 404, "not found")
    if CASES[kind].change is not None:
        assert_error(world("bob").put(f"{path}/987654", json=CASES[kind].change), 404)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_bad_ids_and_pages_are_400(world: World, kind: str) -> None:
    path = CASES[kind].path
    workflow_id = world.workflow()
    bob = world("bob")
    too_big = ROW_ID_PAST if kind != "events" else HUGE
    for response in (
        bob.get(f"{path}/{too_big}"),
        bob.get(f"{path}/-1"),
        bob.get(f"{path}/abc"),
        bob.get(path),  # no workflow_id
        bob.get(path, params={"workflow_id": ROW_ID_PAST}),
        bob.get(path, params={"workflow_id": workflow_id, "offset": -1}),
        bob.get(path, params={"workflow_id": workflow_id, "limit": 0}),
        bob.get(path, params={"workflow_id": workflow_id, "limit": 10_001}),
        bob.get(path, params={"workflow_id": workflow_id, "offset": HUGE}),
        bob.get(path, params={"workflow_id": workflow_id, "sort_by": "secret"}),
        bob.get(path, params={"workflow_id": workflow_id, "sort_by": "x" * 100}),
        create(world, "bob", kind, workflow_id, unknown_field=1),
        create(world, "bob", kind, int(ROW_ID_PAST)),
        create(world, "bob", kind, workflow_id, id="not an id"),
        bob.post(path, content=b"{", headers={"content-type": "application/json"}),
        bob.post(path, json=[1, 2]),
    ):
        assert_error(response, 400)
    assert listed(world, kind, workflow_id) == []


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("files", "name", "a\u0000b"),
        ("files", "name", ""),
        ("files", "name", "n" * 256),
        ("files", "path", "p" * 4097),
        ("files", "st_mtime", "yesterday"),
        ("user_data", "name", "n\u0000"),
        ("user_data", "data", {"key\u0000": 1}),
        ("user_data", "data", "x" * (1024 * 1024)),
        ("user_data", "is_ephemeral", "yes"),
        ("resource_requirements", "memory", "8 gigabytes"),
        ("resource_requirements", "memory", "1.5g"),  # refused as a spec refuses it (Torc too)
        ("resource_requirements", "memory", "9" * 33),
        ("resource_requirements", "memory", "9" * 30 + "t"),
        ("resource_requirements", "runtime", "30 minutes"),
        ("resource_requirements", "runtime", "P"),
        ("resource_requirements", "runtime", "PT" + "9" * 60 + "H"),
        ("resource_requirements", "num_cpus", 0),
        ("resource_requirements", "num_cpus", 2**31),
        ("resource_requirements", "num_gpus", -1),
        ("resource_requirements", "num_nodes", 1.5),
        ("compute_nodes", "pid", 2**63),
        ("compute_nodes", "memory_gb", -1),
        ("compute_nodes", "num_cpus", "8"),
        ("compute_nodes", "hostname", "h" * 256),
        ("compute_nodes", "scheduler", {"x": "y" * 70_000}),
        ("events", "timestamp", -5),
        ("events", "timestamp", 2**63),
        ("events", "data", ["z" * (1024 * 1024)]),
    ],
)
def test_bad_fields_are_400_and_store_nothing(
    world: World, kind: str, field: str, value: Any
) -> None:
    workflow_id = world.workflow()
    assert_error(create(world, "bob", kind, workflow_id, **{field: value}), 400)
    assert listed(world, kind, workflow_id) == []
    if CASES[kind].change is not None:  # a PUT is held to the same bounds
        created = ok(create(world, "bob", kind, workflow_id))
        path = f"{CASES[kind].path}/{created['id']}"
        assert_error(world("bob").put(path, json={field: value}), 400)
        assert ok(world("bob").get(path)) == created


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_400(world: World, literal: bytes) -> None:
    workflow_id = world.workflow()
    body = b'{"workflow_id": %d, "name": "f", "path": "p", "st_mtime": %s}' % (
        workflow_id,
        literal,
    )
    response = world("bob").post(
        "/files", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 400)
    assert listed(world, "files", workflow_id) == []


def test_deeply_nested_data_is_400(world: World) -> None:
    workflow_id = world.workflow()
    deep: Any = 1
    for _ in range(100):
        deep = {"a": deep}
    response = create(world, "bob", "user_data", workflow_id, data=deep)
    assert_error(response, 400, "nested")
    raw = b'{"workflow_id": 1, "name": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = world("bob").post(
        "/user_data", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(response, 400)
    assert listed(world, "user_data", workflow_id) == []


def test_a_put_may_omit_fields_and_send_nulls(world: World) -> None:
    """torc-client sends whole models, leaving unset fields out; a null for a field that
    must have a value leaves it as it is."""
    workflow_id = world.workflow()
    node = ok(create(world, "bob", "compute_nodes", workflow_id))
    path = f"/compute_nodes/{node['id']}"
    changed = ok(world("bob").put(path, json={"hostname": None, "is_active": None, "pid": 7}))
    assert changed == {**node, "pid": 7, "is_active": None}
    file = ok(create(world, "bob", "files", workflow_id, st_mtime=5.0))
    cleared = ok(world("bob").put(f"/files/{file['id']}", json={"st_mtime": None, "name": None}))
    assert cleared == {**file, "st_mtime": None}


# -- resource requirements -----------------------------------------------------------------


def test_resource_requirements_are_parsed_and_default_is_reserved(world: World) -> None:
    workflow_id = world.workflow(jobs=1)  # a spec's workflow has its `default`
    bob = world("bob")
    rrs = {r["name"]: r for r in listed(world, "resource_requirements", workflow_id)}
    default = rrs["default"]
    made = ok(create(world, "bob", "resource_requirements", workflow_id))
    rr = tables.resource_requirements
    assert world.column(rr, "memory_bytes", made["id"]) == 8 * 1024**3
    assert world.column(rr, "runtime_s", made["id"]) == 7200
    ok(
        bob.put(
            f"/resource_requirements/{made['id']}", json={"memory": "512m", "runtime": "P1DT1S"}
        )
    )
    assert world.column(rr, "memory_bytes", made["id"]) == 512 * 1024**2
    assert world.column(rr, "runtime_s", made["id"]) == 86_401

    torc_defaults = ok(
        bob.post("/resource_requirements", json={"name": "tiny", "workflow_id": workflow_id})
    )
    assert {
        k: torc_defaults[k] for k in ("num_cpus", "num_gpus", "num_nodes", "memory", "runtime")
    } == {
        "num_cpus": 1,
        "num_gpus": 0,
        "num_nodes": 1,
        "memory": "1m",
        "runtime": "PT1M",
    }

    again = create(world, "bob", "resource_requirements", workflow_id)
    assert_error(again, 409, "already exist")
    reserved = create(world, "bob", "resource_requirements", workflow_id, name="default")
    assert_error(reserved, 409, "reserved")
    renamed = bob.put(f"/resource_requirements/{made['id']}", json={"name": "default"})
    assert_error(renamed, 409, "reserved")
    taken = bob.put(f"/resource_requirements/{made['id']}", json={"name": "tiny"})
    assert_error(taken, 409, "already exist")
    path = f"/resource_requirements/{default['id']}"
    assert_error(bob.put(path, json={"name": "other"}), 409, "cannot be renamed")
    assert_error(bob.delete(path), 409)  # jobs use it, and every workflow keeps one
    assert ok(bob.put(path, json={"num_cpus": 2}))["num_cpus"] == 2
    assert {r["name"] for r in listed(world, "resource_requirements", workflow_id)} == {
        "default",
        "big",
        "tiny",
    }
    # a requirement a job uses cannot be deleted under it
    (job_id,) = world.job_ids(workflow_id)
    world.sql(
        update(tables.job)
        .where(tables.job.c.id == job_id)
        .values(resource_requirements_id=made["id"])
    )
    assert_error(bob.delete(f"/resource_requirements/{made['id']}"), 409, "used by jobs")
    assert ok(bob.delete(f"/resource_requirements/{torc_defaults['id']}"))["name"] == "tiny"


def test_resource_requirements_list_filters(world: World) -> None:
    workflow_id = world.workflow(jobs=2)
    made = ok(create(world, "bob", "resource_requirements", workflow_id))
    first, second = world.job_ids(workflow_id)
    world.sql(
        update(tables.job)
        .where(tables.job.c.id == first)
        .values(resource_requirements_id=made["id"])
    )
    assert [
        r["name"] for r in listed(world, "resource_requirements", workflow_id, job_id=first)
    ] == ["big"]
    assert [
        r["name"] for r in listed(world, "resource_requirements", workflow_id, job_id=second)
    ] == ["default"]
    assert [r["name"] for r in listed(world, "resource_requirements", workflow_id, num_cpus=4)] == [
        "big"
    ]
    assert [
        r["name"] for r in listed(world, "resource_requirements", workflow_id, memory="1m")
    ] == ["default"]
    other = world.workflow(jobs=1)
    (foreign,) = world.job_ids(other)
    assert listed(world, "resource_requirements", workflow_id, job_id=foreign) == []


# -- jobs named in requests and filters -----------------------------------------------------


def test_user_data_links_only_jobs_of_its_workflow(world: World) -> None:
    workflow_id = world.workflow(jobs=2)
    producer, consumer = world.job_ids(workflow_id)
    other = world.workflow(jobs=1)
    (foreign,) = world.job_ids(other)
    bob = world("bob")
    body = {"name": "cfg", "data": 1, "workflow_id": workflow_id}
    for params in (
        {"consumer_job_id": foreign},
        {"producer_job_id": foreign},
        {"consumer_job_id": 987654},
    ):
        assert_error(bob.post("/user_data", json=body, params=params), 400, "does not belong")
    assert listed(world, "user_data", workflow_id) == []

    made = ok(
        bob.post(
            "/user_data",
            json=body,
            params={"producer_job_id": producer, "consumer_job_id": consumer},
        )
    )
    assert listed(world, "user_data", workflow_id, consumer_job_id=consumer) == [made]
    assert listed(world, "user_data", workflow_id, producer_job_id=producer) == [made]
    assert listed(world, "user_data", workflow_id, consumer_job_id=producer) == []
    plain = ok(create(world, "bob", "user_data", workflow_id, name="other", is_ephemeral=True))
    assert listed(world, "user_data", workflow_id, is_ephemeral=True) == [plain]
    assert listed(world, "user_data", workflow_id, name="cfg") == [made]


def test_file_filters(world: World) -> None:
    workflow_id = world.workflow(jobs=2)
    writer, reader = world.job_ids(workflow_id)
    made = ok(create(world, "bob", "files", workflow_id, name="out", path="out.txt"))
    source = ok(create(world, "bob", "files", workflow_id, name="src", path="src.txt"))
    links = [
        {
            "job_id": writer,
            "file_id": made["id"],
            "direction": "output",
            "workflow_id": workflow_id,
        },
        {"job_id": reader, "file_id": made["id"], "direction": "input", "workflow_id": workflow_id},
        {
            "job_id": writer,
            "file_id": source["id"],
            "direction": "input",
            "workflow_id": workflow_id,
        },
    ]
    world.sql(insert(tables.job_file).values(links))
    assert listed(world, "files", workflow_id, produced_by_job_id=writer) == [made]
    assert listed(world, "files", workflow_id, produced_by_job_id=reader) == []
    assert listed(world, "files", workflow_id, is_output="true") == [made]
    assert listed(world, "files", workflow_id, is_output="false") == [source]
    assert listed(world, "files", workflow_id, name="src") == [source]
    assert listed(world, "files", workflow_id, path="out.txt") == [made]
    # deleting a file removes its links to jobs, not the jobs
    ok(world("bob").delete(f"/files/{made['id']}"))
    assert len(world.job_ids(workflow_id)) == 2
    assert listed(world, "files", workflow_id, is_output="true") == []


# -- compute nodes -----------------------------------------------------------------------------


def test_a_runner_registers_and_marks_itself_inactive(world: World) -> None:
    workflow_id = world.workflow(jobs=1)
    bob = world("bob")
    node = ok(create(world, "carol", "compute_nodes", workflow_id))
    assert node["is_active"] is True
    other = ok(create(world, "bob", "compute_nodes", workflow_id, hostname="node2"))
    ok(bob.put(f"/compute_nodes/{node['id']}", json={"is_active": False, "duration_seconds": 3.0}))
    assert listed(world, "compute_nodes", workflow_id, is_active="false") == [
        {**node, "is_active": False, "duration_seconds": 3.0}
    ]
    assert listed(world, "compute_nodes", workflow_id, hostname="node2") == [other]
    assert listed(world, "compute_nodes", workflow_id, scheduled_compute_node_id=1) == []
    # a node a job is running on cannot be deleted under it
    (job_id,) = world.job_ids(workflow_id)
    world.sql(
        update(tables.job).where(tables.job.c.id == job_id).values(compute_node_id=other["id"])
    )
    assert_error(bob.delete(f"/compute_nodes/{other['id']}"), 409, "used by jobs")
    assert ok(bob.delete(f"/compute_nodes/{node['id']}"))["id"] == node["id"]


# -- events and pagination -------------------------------------------------------------------


def test_events_page_oldest_first_and_filter(world: World) -> None:
    workflow_id = world.workflow()
    bob = world("bob")
    made = [
        ok(
            bob.post(
                "/events",
                json={
                    "workflow_id": workflow_id,
                    "timestamp": 1000 + i,
                    "data": {"category": "job" if i % 2 else "workflow", "n": i},
                },
            )
        )
        for i in range(25)
    ]
    pages = [
        ok(bob.get("/events", params={"workflow_id": workflow_id, "offset": o, "limit": 10}))
        for o in (0, 10, 20)
    ]
    assert [p["count"] for p in pages] == [10, 10, 5]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert {p["total_count"] for p in pages} == {25}
    assert [e for p in pages for e in p["items"]] == made  # newest last
    past = ok(bob.get("/events", params={"workflow_id": workflow_id, "offset": 30}))
    assert past["items"] == [] and past["has_more"] is False and past["total_count"] == 25
    newest = listed(world, "events", workflow_id, sort_by="timestamp", reverse_sort="true", limit=1)
    assert newest == [made[-1]]
    jobs = listed(world, "events", workflow_id, category="job")
    assert [e["data"]["n"] for e in jobs] == list(range(1, 25, 2))
    assert [e["data"]["n"] for e in listed(world, "events", workflow_id, after_timestamp=1021)] == [
        22,
        23,
        24,
    ]
    assert listed(world, "events", workflow_id, category="nothing") == []


def test_an_event_without_timestamp_gets_now(world: World) -> None:
    workflow_id = world.workflow()
    made = ok(world("carol").post("/events", json={"workflow_id": workflow_id, "data": "started"}))
    assert made["timestamp"] > 1_700_000_000_000 and made["data"] == "started"


def test_lists_are_per_workflow(world: World) -> None:
    mine, other = world.workflow(), world.workflow()
    for kind in KINDS:
        ok(create(world, "bob", kind, other))
        assert listed(world, kind, mine) == []


# -- torc-client --------------------------------------------------------------------------------


def test_torc_client_drives_the_records(world: World) -> None:
    from torc.openapi_client import (
        ComputeNodeModel,
        ComputeNodesApi,
        EventModel,
        EventsApi,
        FileModel,
        FilesApi,
        ResourceRequirementsApi,
        ResourceRequirementsModel,
        UserDataApi,
        UserDataModel,
    )
    from torc.openapi_client.exceptions import ForbiddenException, NotFoundException

    from tests.api.test_torc_client import connect

    workflow_id = world.workflow()

    def apis(user: str) -> Any:
        client = connect(world.server, user).system.api_client
        return (
            FilesApi(client),
            UserDataApi(client),
            ResourceRequirementsApi(client),
            ComputeNodesApi(client),
            EventsApi(client),
        )

    files, user_data, rrs, nodes, events = apis("carol")
    made = files.create_file(FileModel(name="in", path="in.txt", workflow_id=workflow_id))
    assert made.id is not None and made.path == "in.txt"
    made.st_mtime = 12.5
    assert files.update_file(made.id, made).st_mtime == 12.5
    assert [f.name for f in files.list_files(workflow_id).items] == ["in"]
    data = user_data.create_user_data(
        UserDataModel(name="u", data={"k": [1]}, workflow_id=workflow_id)
    )
    assert user_data.get_user_data(data.id).data == {"k": [1]}
    rr = rrs.create_resource_requirements(
        ResourceRequirementsModel(name="gpu", num_gpus=1, memory="2g", workflow_id=workflow_id)
    )
    assert (rr.num_cpus, rr.runtime) == (1, "PT1M")
    assert [r.name for r in rrs.list_resource_requirements(workflow_id).items] == ["gpu"]
    node = nodes.create_compute_node(
        ComputeNodeModel(
            hostname="h",
            pid=1,
            start_time="2026-01-01T00:00:00Z",
            num_cpus=2,
            memory_gb=4.0,
            num_gpus=0,
            num_nodes=1,
            compute_node_type="local",
            is_active=True,
            workflow_id=workflow_id,
        )
    )
    node.is_active = False
    node.duration_seconds = 9.0
    assert nodes.update_compute_node(node.id, node).is_active is False
    assert nodes.list_compute_nodes(workflow_id, is_active=False).total_count == 1
    event = events.create_event(
        EventModel(timestamp=5, data={"category": "note"}, workflow_id=workflow_id)
    )
    assert events.list_events(workflow_id, category="note").items[0].id == event.id
    assert events.delete_event(event.id).id == event.id
    with pytest.raises(NotFoundException):
        events.get_event(event.id)

    o_files, o_user_data, o_rrs, o_nodes, o_events = apis("erin")
    refused = [
        lambda: o_files.list_files(workflow_id),
        lambda: o_files.get_file(made.id),
        lambda: o_files.create_file(FileModel(name="x", path="x", workflow_id=workflow_id)),
        lambda: o_files.delete_file(made.id),
        lambda: o_user_data.get_user_data(data.id),
        lambda: o_rrs.delete_resource_requirement(rr.id),
        lambda: o_nodes.update_compute_node(node.id, node),
        lambda: o_events.list_events(workflow_id),
    ]
    for call in refused:
        with pytest.raises(ForbiddenException):
            call()
    assert files.get_file(made.id).name == "in"
    assert rrs.get_resource_requirements(rr.id).name == "gpu"
    assert [f.name for f in files.list_files(workflow_id).items] == ["in"]
    assert json.dumps(user_data.get_user_data(data.id).data) == '{"k": [1]}'


def test_a_name_taken_after_the_check_is_409(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unique name is also held by the database: a request that passed the name check while
    another took the name (simulated: the check sees nothing) gets 409, not a server error."""
    from teamgate.storage.db import run_records as store

    workflow_id = world.workflow()
    made = ok(create(world, "bob", "resource_requirements", workflow_id))
    monkeypatch.setattr(store, "resource_requirements_named", lambda *_: None)
    assert_error(create(world, "bob", "resource_requirements", workflow_id), 409, "already exist")
    other = ok(create(world, "bob", "resource_requirements", workflow_id, name="other"))
    path = f"/resource_requirements/{other['id']}"
    assert_error(world("bob").put(path, json={"name": "big"}), 409, "already exist")
    names = [r["name"] for r in listed(world, "resource_requirements", workflow_id)]
    assert names == [made["name"], "other"]


def test_concurrent_creates_of_one_name_store_one(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    workflow_id = world.workflow()
    clients = [world.server.client("bob", base_url=world.server.torc_url) for _ in range(8)]
    body = {**CASES["resource_requirements"].body, "workflow_id": workflow_id}
    with ThreadPoolExecutor(len(clients)) as pool:
        codes = sorted(
            pool.map(lambda c: c.post("/resource_requirements", json=body).status_code, clients)
        )
    assert codes == [200] + [409] * 7
    assert [r["name"] for r in listed(world, "resource_requirements", workflow_id)] == ["big"]
