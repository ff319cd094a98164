"""Runners that went silent, in process: heartbeats, sync_status under both lost-job policies,
repeated runner calls (a lost answer) recorded once, and two recoveries at once recovering each
job once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from teamgate.services.lost_jobs import LostJobSettings, sweep
from tests.api.test_execution import V1, create, node, offer, ok, result, statuses
from tests.conftest import AppFactory, execute_sql
from tests.inprocess import App

LONG_AGO = "2000-01-01T00:00:00.000Z"


def running_jobs(client: httpx.Client, wf: int, node_id: int, n: int) -> list[dict[str, Any]]:
    ok(client.post(f"{V1}/workflows/{wf}/initialize_jobs"))
    claim = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/{n}"
    jobs = ok(client.post(claim, json=offer(node_id)))["jobs"]
    for job in jobs:
        ok(client.put(f"{V1}/jobs/{job['id']}/start_job/1/{node_id}"))
    return list(jobs)


def silence(app: App, node_id: int) -> None:
    """The node's runner last beat long ago (as if killed then)."""
    execute_sql(
        app, "UPDATE compute_node SET last_heartbeat = :t WHERE id = :n", t=LONG_AGO, n=node_id
    )


def results(client: httpx.Client, wf: int) -> list[dict[str, Any]]:
    return list(ok(client.get(f"{V1}/results", params={"workflow_id": wf}))["items"])


@pytest.fixture
def secured(app_factory: AppFactory) -> App:
    return app_factory(require_auth=True, enforce_access_control=True)


def test_heartbeats_keep_a_node_alive_and_a_lost_node_is_told_so(secured: App) -> None:
    bob = secured.client("bob")
    wf = create(bob, [{"name": "a", "command": "sleep 60"}])
    node_id = node(bob, wf)
    registered = ok(bob.get(f"{V1}/compute_nodes/{node_id}"))["last_heartbeat"]
    assert registered is not None  # registering is the first beat
    beat = ok(bob.post(f"{V1}/compute_nodes/{node_id}/heartbeat"))
    assert beat["last_heartbeat"] >= registered
    assert 0 < beat["interval_secs"] <= 30
    assert secured.client("dave").post(f"{V1}/compute_nodes/{node_id}/heartbeat").status_code == 403
    assert bob.post(f"{V1}/compute_nodes/99999/heartbeat").status_code == 404
    running_jobs(bob, wf, node_id, 1)
    silence(secured, node_id)
    repaired = ok(bob.post(f"{V1}/workflows/{wf}/sync_status"))
    assert [n["id"] for n in repaired["lost_compute_nodes"]] == [node_id]
    refused = bob.post(f"{V1}/compute_nodes/{node_id}/heartbeat")
    assert refused.status_code == 409 and "no longer active" in refused.json()["message"]


@pytest.mark.parametrize("policy", ["requeue", "fail"])
def test_sync_status_recovers_a_silent_runners_jobs_by_policy(
    app_factory: AppFactory, policy: str
) -> None:
    app = app_factory(require_auth=True, enforce_access_control=True, lost_job_policy=policy)
    bob = app.client("bob")
    jobs = [
        {"name": "a", "command": "sleep 60"},
        {
            "name": "b",
            "command": "true",
            "depends_on": ["a"],
            "cancel_on_blocking_job_failure": True,
        },
    ]
    wf = create(bob, jobs)
    node_id = node(bob, wf)
    [a] = running_jobs(bob, wf, node_id, 5)
    assert ok(bob.post(f"{V1}/workflows/{wf}/sync_status"))["recovered_jobs"] == []  # alive
    silence(app, node_id)
    assert app.client("dave").post(f"{V1}/workflows/{wf}/sync_status").status_code == 403
    repaired = ok(bob.post(f"{V1}/workflows/{wf}/sync_status"))
    now = "ready" if policy == "requeue" else "failed"
    assert [(j["job_id"], j["was"], j["status"]) for j in repaired["recovered_jobs"]] == [
        (a["id"], "running", now)
    ]
    assert statuses(bob, wf) == (
        {"a": "ready", "b": "blocked"} if policy == "requeue" else {"a": "failed", "b": "canceled"}
    )
    [lost] = results(bob, wf)
    assert (lost["status"], lost["attempt_id"]) == (
        ("terminated" if policy == "requeue" else "failed"),
        1,
    )
    job = ok(bob.get(f"{V1}/jobs/{a['id']}"))
    assert job["attempt_id"] == (2 if policy == "requeue" else 1)
    events = ok(bob.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
    messages = [e["data"].get("message") for e in events if e["data"].get("type") == "job_lost"]
    assert messages == ["lost: runner on here pid 1 stopped sending heartbeats"]
    again = ok(bob.post(f"{V1}/workflows/{wf}/sync_status"))  # idempotent
    assert again["recovered_jobs"] == [] and again["lost_compute_nodes"] == []
    assert len(results(bob, wf)) == 1


def test_the_lost_runners_late_completion_is_refused(secured: App) -> None:
    bob = secured.client("bob")
    wf = create(bob, [{"name": "a", "command": "sleep 60"}])
    first = node(bob, wf)
    [a] = running_jobs(bob, wf, first, 1)
    silence(secured, first)
    ok(bob.post(f"{V1}/workflows/{wf}/sync_status"))
    second = node(bob, wf)
    [again] = running_jobs(bob, wf, second, 1)
    assert again["attempt_id"] == 2
    late = {**result(a, first), "attempt_id": 1}
    refused = bob.post(f"{V1}/jobs/{a['id']}/complete_job/completed/1", json=late)
    assert refused.status_code == 409 and "not its current attempt" in refused.json()["message"]
    done = {**result(a, second), "attempt_id": 2}
    ok(bob.post(f"{V1}/jobs/{a['id']}/complete_job/completed/1", json=done))
    assert [r["status"] for r in results(bob, wf)] == ["terminated", "completed"]


def test_repeated_start_and_completion_are_recorded_once(secured: App) -> None:
    bob = secured.client("bob")
    wf = create(bob, [{"name": "a", "command": "true"}, {"name": "b", "command": "true"}])
    node_id = node(bob, wf)
    a, b = running_jobs(bob, wf, node_id, 2)
    ok(bob.put(f"{V1}/jobs/{a['id']}/start_job/1/{node_id}"))  # the start's answer was lost
    entry = {"job_id": b["id"], "status": "completed", "run_id": 1, "result": result(b, node_id)}
    body = {"completions": [entry]}
    for _ in range(2):  # the second: the batch's answer was lost
        answer = ok(bob.post(f"{V1}/workflows/{wf}/batch_complete_jobs", json=body))
        assert answer == {"completed": [b["id"]], "errors": []}
    for _ in range(2):
        ok(bob.post(f"{V1}/jobs/{a['id']}/complete_job/completed/1", json=result(a, node_id)))
    assert sorted(r["job_id"] for r in results(bob, wf)) == sorted([a["id"], b["id"]])


def test_two_sweeps_at_once_recover_each_job_once(secured: App) -> None:
    bob = secured.client("bob")
    wf = create(bob, [{"name": f"j{i}", "command": "sleep 60"} for i in range(20)])
    node_id = node(bob, wf)
    assert len(running_jobs(bob, wf, node_id, 20)) == 8  # the offer's 8 CPUs
    silence(secured, node_id)
    db = secured.app.state.database
    settings = LostJobSettings(timeout_secs=60, policy="requeue")
    found: list[int] = []
    gate = threading.Barrier(4)

    def one() -> None:
        gate.wait()
        found.extend(len(r.jobs) for r in sweep(db, settings))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(found) == 8
    assert len(results(bob, wf)) == 8
    assert set(statuses(bob, wf).values()) == {"ready"}
