"""Running a workflow through the API, in process: initialise, claim, start, complete,
dependents unblocked or canceled, retries, resets, cancellation, status and results, and the
access decisions on each (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.inprocess import App

V1 = "/torc-service/v1"
OWNER, MEMBER, OUTSIDER, ADMIN = "bob", "carol", "dave", "alice"


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def create(client: httpx.Client, jobs: list[dict[str, Any]], **extra: Any) -> int:
    spec = {"name": "wf", "jobs": jobs, **extra}
    return int(ok(client.post(f"{V1}/workflow_specs", json=spec))["id"])


def jobs_by_name(client: httpx.Client, workflow_id: int) -> dict[str, dict[str, Any]]:
    page = ok(client.get(f"{V1}/jobs", params={"workflow_id": workflow_id}))
    return {j["name"]: j for j in page["items"]}


def statuses(client: httpx.Client, workflow_id: int) -> dict[str, str]:
    return {name: j["status"] for name, j in jobs_by_name(client, workflow_id).items()}


def node(client: httpx.Client, workflow_id: int) -> int:
    body = {
        "workflow_id": workflow_id,
        "hostname": "here",
        "pid": 1,
        "start_time": "2026-01-01T00:00:00.000Z",
        "num_cpus": 8,
        "memory_gb": 16.0,
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
        "is_active": True,
    }
    return int(ok(client.post(f"{V1}/compute_nodes", json=body))["id"])


def offer(node_id: int | None = None, cpus: int = 8, memory_gb: float = 16.0) -> dict[str, Any]:
    body: dict[str, Any] = {"num_cpus": cpus, "memory_gb": memory_gb, "num_gpus": 0, "num_nodes": 1}
    if node_id is not None:
        body["id"] = node_id
    return body


def result(job: dict[str, Any], node_id: int, rc: int = 0, run_id: int = 1) -> dict[str, Any]:
    return {
        "job_id": job["id"],
        "workflow_id": job["workflow_id"],
        "run_id": run_id,
        "compute_node_id": node_id,
        "return_code": rc,
        "exec_time_minutes": 0.01,
        "completion_time": "2026-01-01T00:00:01.000Z",
        "status": "completed" if rc == 0 else "failed",
    }


class Runner:
    """What `torc run` does, one call at a time."""

    def __init__(self, client: httpx.Client, workflow_id: int) -> None:
        self.client, self.workflow_id = client, workflow_id
        self.node = node(client, workflow_id)

    def claim(self, limit: int = 100) -> list[dict[str, Any]]:
        url = f"{V1}/workflows/{self.workflow_id}/claim_jobs_based_on_resources/{limit}"
        return list(ok(self.client.post(url, json=offer(self.node)))["jobs"])

    def run(self, job: dict[str, Any], rc: int = 0, run_id: int = 1) -> dict[str, Any]:
        ok(self.client.put(f"{V1}/jobs/{job['id']}/start_job/{run_id}/{self.node}"))
        status = "completed" if rc == 0 else "failed"
        url = f"{V1}/jobs/{job['id']}/complete_job/{status}/{run_id}"
        return dict(ok(self.client.post(url, json=result(job, self.node, rc, run_id))))

    def drain(self, fail: frozenset[str] = frozenset(), run_id: int = 1) -> list[str]:
        """Claim and run until nothing is ready; returns the names in the order they ran."""
        ran: list[str] = []
        while claimed := self.claim():
            for job in claimed:
                self.run(job, 1 if job["name"] in fail else 0, run_id)
                ran.append(job["name"])
        return ran


def initialize(client: httpx.Client, workflow_id: int, **params: Any) -> Any:
    return ok(client.post(f"{V1}/workflows/{workflow_id}/initialize_jobs", params=params))


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


@pytest.fixture
def owner(app: App) -> httpx.Client:
    return app.client(OWNER)


DIAMOND = [
    {"name": "a", "command": "true"},
    {"name": "b", "command": "true", "depends_on": ["a"]},
    {"name": "c", "command": "true", "depends_on": ["a"]},
    {"name": "d", "command": "true", "depends_on": ["b", "c"]},
]


def test_a_diamond_runs_in_dependency_order(owner: httpx.Client) -> None:
    wf = create(owner, DIAMOND)
    assert statuses(owner, wf) == dict.fromkeys("abcd", "uninitialized")
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_uninitialized")) == {"is_uninitialized": True}
    initialize(owner, wf)
    assert statuses(owner, wf) == {"a": "ready", "b": "blocked", "c": "blocked", "d": "blocked"}
    runner = Runner(owner, wf)
    ran = runner.drain()
    assert ran[0] == "a" and sorted(ran[1:3]) == ["b", "c"] and ran[3] == "d"
    assert statuses(owner, wf) == dict.fromkeys("abcd", "completed")
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_complete")) == {
        "is_complete": True,
        "is_canceled": False,
    }
    status = ok(owner.get(f"{V1}/workflows/{wf}/status"))
    assert status["jobs_by_status"]["completed"] == 4 and status["total_jobs"] == 4
    assert status["is_complete"] and status["workflow_user"] == OWNER and status["run_id"] == 1
    results = ok(owner.get(f"{V1}/results", params={"workflow_id": wf}))
    assert results["total_count"] == 4
    assert {r["job_name"] for r in results["items"]} == set("abcd")
    one = results["items"][0]
    assert ok(owner.get(f"{V1}/results/{one['id']}")) == one
    deps = ok(owner.get(f"{V1}/workflows/{wf}/job_dependencies"))
    assert {(d["job_name"], d["depends_on_job_name"]) for d in deps["items"]} == {
        ("b", "a"),
        ("c", "a"),
        ("d", "b"),
        ("d", "c"),
    }


def test_a_failure_cancels_flagged_dependents_and_runs_the_others(owner: httpx.Client) -> None:
    wf = create(
        owner,
        [
            {"name": "bad", "command": "false"},
            {
                "name": "flagged",
                "command": "true",
                "depends_on": ["bad"],
                "cancel_on_blocking_job_failure": True,
            },
            {
                "name": "after_flagged",
                "command": "true",
                "depends_on": ["flagged"],
                "cancel_on_blocking_job_failure": True,
            },
            {"name": "unflagged", "command": "true", "depends_on": ["bad"]},
        ],
    )
    initialize(owner, wf)
    ran = Runner(owner, wf).drain(fail=frozenset({"bad"}))
    assert ran == ["bad", "unflagged"]
    assert statuses(owner, wf) == {
        "bad": "failed",
        "flagged": "canceled",
        "after_flagged": "canceled",
        "unflagged": "completed",
    }
    failed = ok(owner.get(f"{V1}/results", params={"workflow_id": wf, "status": "failed"}))
    assert [(r["job_name"], r["return_code"]) for r in failed["items"]] == [("bad", 1)]
    # fix and rerun the failed part only
    reset = ok(owner.post(f"{V1}/workflows/{wf}/reset_job_status", params={"failed_only": True}))
    assert reset["updated_count"] == 4  # the failed job and everything downstream of it
    assert set(statuses(owner, wf).values()) == {"uninitialized"}
    new_run = ok(owner.post(f"{V1}/workflows/{wf}/reset_status"))["run_id"]
    initialize(owner, wf, only_uninitialized=True)
    ran = Runner(owner, wf).drain(run_id=new_run)
    assert sorted(ran) == ["after_flagged", "bad", "flagged", "unflagged"]
    assert set(statuses(owner, wf).values()) == {"completed"}


def test_wrong_transitions_are_conflicts_not_errors(owner: httpx.Client) -> None:
    wf = create(
        owner,
        [{"name": "a", "command": "true"}, {"name": "b", "command": "true", "depends_on": ["a"]}],
    )
    initialize(owner, wf)
    runner = Runner(owner, wf)
    jobs = jobs_by_name(owner, wf)
    start_b = owner.put(f"{V1}/jobs/{jobs['b']['id']}/start_job/1/{runner.node}")
    assert start_b.status_code == 409, start_b.text
    [a] = runner.claim()
    assert owner.put(f"{V1}/jobs/{a['id']}/start_job/2/{runner.node}").status_code == 409
    runner.run(a)
    # the same completion again (its answer was lost) is done already; another one conflicts
    again = owner.post(f"{V1}/jobs/{a['id']}/complete_job/completed/1", json=result(a, runner.node))
    assert again.status_code == 200, again.text
    failed = {**result(a, runner.node), "return_code": 1, "status": "failed"}
    other = owner.post(f"{V1}/jobs/{a['id']}/complete_job/failed/1", json=failed)
    assert other.status_code == 409
    assert len(ok(owner.get(f"{V1}/results", params={"workflow_id": wf}))["items"]) == 1
    missing = owner.put(f"{V1}/jobs/99999/start_job/1/{runner.node}")
    assert missing.status_code == 404


def test_retry_gives_the_job_another_attempt(owner: httpx.Client) -> None:
    wf = create(owner, [{"name": "a", "command": "true"}])
    initialize(owner, wf)
    runner = Runner(owner, wf)
    [a] = runner.claim()
    ok(owner.put(f"{V1}/jobs/{a['id']}/start_job/1/{runner.node}"))
    again = ok(owner.post(f"{V1}/jobs/{a['id']}/retry/1", params={"max_retries": 2}))
    assert again["status"] == "ready" and again["attempt_id"] == 2
    [a] = runner.claim()
    ok(owner.put(f"{V1}/jobs/{a['id']}/start_job/1/{runner.node}"))
    refused = owner.post(f"{V1}/jobs/{a['id']}/retry/1", params={"max_retries": 2})
    assert refused.status_code == 409


def test_cancel_stops_claims_and_reset_starts_a_new_run(owner: httpx.Client) -> None:
    wf = create(owner, [{"name": f"j{i}", "command": "true"} for i in range(3)])
    initialize(owner, wf)
    runner = Runner(owner, wf)
    first = runner.claim(limit=1)
    ok(owner.put(f"{V1}/workflows/{wf}/cancel"))
    assert runner.claim() == []
    assert statuses(owner, wf)[first[0]["name"]] == "canceled"
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_complete"))["is_canceled"] is True
    workflow = ok(owner.get(f"{V1}/workflows/{wf}"))
    assert (workflow["is_canceled"], workflow["run_id"]) == (True, 1)
    assert ok(owner.post(f"{V1}/workflows/{wf}/reset_status"))["run_id"] == 2
    workflow = ok(owner.get(f"{V1}/workflows/{wf}"))
    assert (workflow["is_canceled"], workflow["run_id"]) == (False, 2)
    ok(owner.post(f"{V1}/workflows/{wf}/reset_job_status"))
    initialize(owner, wf)
    assert len(Runner(owner, wf).drain(run_id=2)) == 3


def test_claims_fit_the_offer_and_follow_priority(owner: httpx.Client) -> None:
    wf = create(
        owner,
        [
            {"name": "big", "command": "true", "resource_requirements": "big"},
            {"name": "low", "command": "true"},
            {"name": "high", "command": "true", "priority": 5},
        ],
        resource_requirements=[{"name": "big", "num_cpus": 4, "memory": "8g"}],
    )
    initialize(owner, wf)
    url = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/10"
    small = ok(owner.post(url, json=offer(cpus=2, memory_gb=1.0)))["jobs"]
    assert [j["name"] for j in small] == ["high", "low"]
    assert ok(owner.post(url, json=offer(cpus=2, memory_gb=1.0)))["jobs"] == []
    assert [j["name"] for j in ok(owner.post(url, json=offer()))["jobs"]] == ["big"]


def test_interrupted_jobs_run_again_when_the_run_continues(owner: httpx.Client) -> None:
    wf = create(
        owner,
        [
            {"name": "done", "command": "true"},
            {"name": "cut", "command": "true"},
            {"name": "next", "command": "true", "depends_on": ["cut"]},
        ],
    )
    initialize(owner, wf)
    runner = Runner(owner, wf)
    claimed = {j["name"]: j for j in runner.claim()}
    runner.run(claimed["done"])
    ok(owner.put(f"{V1}/jobs/{claimed['cut']['id']}/start_job/1/{runner.node}"))
    body = result(claimed["cut"], runner.node, rc=-15) | {"status": "terminated"}
    ok(owner.post(f"{V1}/jobs/{claimed['cut']['id']}/complete_job/terminated/1", json=body))
    initialize(owner, wf, only_uninitialized=True)
    assert statuses(owner, wf) == {"done": "completed", "cut": "ready", "next": "blocked"}
    assert Runner(owner, wf).drain() == ["cut", "next"]


def test_an_outsider_is_refused_everything_and_changes_nothing(
    app: App, owner: httpx.Client
) -> None:
    wf = create(owner, DIAMOND)
    initialize(owner, wf)
    runner = Runner(owner, wf)
    [a] = runner.claim()
    outsider = app.client(OUTSIDER)
    before = statuses(owner, wf)
    calls = [
        ("GET", f"/jobs?workflow_id={wf}", None),
        ("GET", f"/jobs/{a['id']}", None),
        ("GET", f"/results?workflow_id={wf}", None),
        ("GET", f"/workflows/{wf}/status", None),
        ("GET", f"/workflows/{wf}/is_complete", None),
        ("GET", f"/workflows/{wf}/job_dependencies", None),
        ("POST", f"/workflows/{wf}/initialize_jobs", None),
        ("POST", f"/workflows/{wf}/claim_jobs_based_on_resources/5", offer()),
        ("POST", f"/workflows/{wf}/claim_next_jobs", None),
        ("PUT", f"/jobs/{a['id']}/start_job/1/{runner.node}", None),
        ("POST", f"/jobs/{a['id']}/complete_job/completed/1", result(a, runner.node)),
        ("POST", f"/jobs/{a['id']}/retry/1?max_retries=3", None),
        ("POST", f"/workflows/{wf}/reset_status", None),
        ("POST", f"/workflows/{wf}/reset_job_status", None),
        ("PUT", f"/workflows/{wf}/cancel", None),
        ("POST", "/jobs", {"workflow_id": wf, "name": "x", "command": "true"}),
        ("POST", "/bulk_jobs", {"jobs": [{"workflow_id": wf, "name": "x", "command": "true"}]}),
        ("PUT", f"/jobs/{a['id']}", {"workflow_id": wf, "name": "a", "command": "rm -rf /"}),
        ("DELETE", f"/jobs/{a['id']}", None),
    ]
    for method, path, body in calls:
        response = outsider.request(method, V1 + path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert "does not have access" in response.json()["message"]
    assert statuses(owner, wf) == before
    assert jobs_by_name(owner, wf)["a"]["command"] == "true"
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_complete"))["is_canceled"] is False


def test_a_member_of_a_shared_group_runs_and_reads(app: App, owner: httpx.Client) -> None:
    admin = app.client(ADMIN)
    group = ok(admin.post(f"{V1}/access_groups", json={"name": "runners"}))["id"]
    ok(admin.post(f"{V1}/access_groups/{group}/members", json={"user_name": MEMBER}))
    ok(admin.post(f"{V1}/access_groups/{group}/members", json={"user_name": OWNER}))
    wf = create(owner, DIAMOND, access_groups=["runners"])
    member = app.client(MEMBER)
    initialize(member, wf)
    assert len(Runner(member, wf).drain()) == 4
    assert ok(member.get(f"{V1}/results", params={"workflow_id": wf}))["total_count"] == 4
    ok(member.put(f"{V1}/workflows/{wf}/cancel"))
