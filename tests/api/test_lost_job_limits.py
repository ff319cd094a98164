"""The lost-job sweep's two limits, in process (SQLite and PostgreSQL): a job lost on its last
allowed attempt (--lost-job-max-attempts) is failed instead of requeued, and a Slurm allocation
whose runner's compute node is lost is ended (failed) in the same sweep, so its group may get
a new one."""

from __future__ import annotations

from typing import Any

import httpx

from teamgate.services.lost_jobs import LostJobSettings, LostJobSweeper, sweep
from teamgate.settings import Settings
from tests.api.test_execution import OWNER, V1, create, node, offer, ok, statuses
from tests.api.test_lost_jobs_api import results, running_jobs, silence
from tests.conftest import AppFactory
from tests.inprocess import App

ALLOCATION = {"group_name": "big", "account": "acct", "num_cpus": 2, "memory_bytes": 1 << 30}


def claim_and_start(client: httpx.Client, wf: int, node_id: int) -> list[dict[str, Any]]:
    """Claim what is ready for `node_id` and start it (the workflow is initialized already)."""
    claim = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/5"
    jobs = ok(client.post(claim, json=offer(node_id)))["jobs"]
    for job in jobs:
        ok(client.put(f"{V1}/jobs/{job['id']}/start_job/1/{node_id}"))
    return list(jobs)


def lose(app: App, client: httpx.Client, wf: int, node_id: int) -> dict[str, Any]:
    silence(app, node_id)
    return dict(ok(client.post(f"{V1}/workflows/{wf}/sync_status")))


def lost_events(client: httpx.Client, wf: int) -> list[dict[str, Any]]:
    events = ok(client.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
    return [e["data"] for e in events if e["data"].get("type") == "job_lost"]


def test_the_default_is_three_attempts() -> None:
    assert Settings().lost_job_max_attempts == 3
    assert LostJobSettings().max_attempts == 3


def test_a_job_lost_on_its_last_allowed_attempt_is_failed(app_factory: AppFactory) -> None:
    app = app_factory(require_auth=True, enforce_access_control=True, lost_job_max_attempts=2)
    bob = app.client(OWNER)
    after = {
        "name": "b",
        "command": "true",
        "depends_on": ["a"],
        "cancel_on_blocking_job_failure": True,
    }
    wf = create(bob, [{"name": "a", "command": "sleep 60"}, after])
    first = node(bob, wf)
    [a] = running_jobs(bob, wf, first, 5)
    one = lose(app, bob, wf, first)
    assert [(j["status"], j["exhausted"]) for j in one["recovered_jobs"]] == [("ready", False)]
    second = node(bob, wf)
    [again] = claim_and_start(bob, wf, second)
    assert (again["id"], again["attempt_id"]) == (a["id"], 2)
    two = lose(app, bob, wf, second)
    assert [
        (j["job_id"], j["attempt_id"], j["status"], j["exhausted"]) for j in two["recovered_jobs"]
    ] == [(a["id"], 2, "failed", True)]
    assert two["canceled_jobs"] == [after_id(bob, wf)]
    assert statuses(bob, wf) == {"a": "failed", "b": "canceled"}
    assert [(r["attempt_id"], r["status"]) for r in results(bob, wf)] == [
        (1, "terminated"),
        (2, "failed"),
    ]
    first_event, last_event = lost_events(bob, wf)
    assert "not requeued" not in first_event["message"]
    assert last_event["status"] == "failed" and last_event["exhausted"] is True
    assert "failed, not requeued: attempt 2 was its last" in last_event["message"]
    assert "--lost-job-max-attempts 2" in last_event["message"]
    assert ok(bob.get(f"{V1}/jobs/{a['id']}"))["attempt_id"] == 2  # no third attempt made


def after_id(client: httpx.Client, wf: int) -> int:
    page = ok(client.get(f"{V1}/jobs", params={"workflow_id": wf}))["items"]
    [found] = [j["id"] for j in page if j["name"] == "b"]
    return int(found)


def test_no_limit_requeues_again_and_again(app_factory: AppFactory) -> None:
    app = app_factory(require_auth=True, enforce_access_control=True, lost_job_max_attempts=0)
    bob = app.client(OWNER)
    wf = create(bob, [{"name": "a", "command": "sleep 60"}])
    running_jobs(bob, wf, node(bob, wf), 5)
    for attempt in range(1, 6):
        if attempt > 1:
            [again] = claim_and_start(bob, wf, node(bob, wf))
            assert again["attempt_id"] == attempt
        nodes = ok(bob.get(f"{V1}/compute_nodes", params={"workflow_id": wf}))["items"]
        lost = lose(app, bob, wf, max(n["id"] for n in nodes))
        assert [j["status"] for j in lost["recovered_jobs"]] == ["ready"]
    assert statuses(bob, wf) == {"a": "ready"}


def allocation(client: httpx.Client, wf: int, node_id: int, group: str) -> dict[str, Any]:
    base = f"{V1}/workflows/{wf}/slurm_allocations"
    made = ok(client.post(base, json={**ALLOCATION, "group_name": group}))
    change = {"state": "running", "slurm_job_id": "7", "compute_node_id": node_id}
    return dict(ok(client.patch(f"{base}/{made['id']}", json=change)))


def test_the_sweep_ends_the_slurm_allocation_of_a_lost_node(secured_app: App) -> None:
    bob = secured_app.client(OWNER)
    wf = create(bob, [{"name": f"j{i}", "command": "sleep 60"} for i in range(2)])
    lost_node, live_node = node(bob, wf), node(bob, wf)
    running_jobs(bob, wf, lost_node, 1)
    gone = allocation(bob, wf, lost_node, "big")
    alive = allocation(bob, wf, live_node, "small")
    submitted = ok(
        bob.post(f"{V1}/workflows/{wf}/slurm_allocations", json={**ALLOCATION, "group_name": "x"})
    )  # no runner yet: no node, left alone
    base = f"{V1}/workflows/{wf}/slurm_allocations"
    refused = bob.post(base, json={**ALLOCATION, "only_if_none_active": True})
    assert refused.status_code == 409  # the group has one, running
    silence(secured_app, lost_node)
    db = secured_app.app.state.database
    [recovery] = sweep(db, LostJobSettings(timeout_secs=60))
    assert [n.id for n in recovery.nodes] == [lost_node]
    assert [(a.id, a.group_name, a.compute_node_id) for a in recovery.allocations] == [
        (gone["id"], "big", lost_node)
    ]
    states = {a["id"]: a for a in ok(bob.get(base))["items"]}
    assert states[gone["id"]]["state"] == "failed" and states[gone["id"]]["ended_at"]
    assert states[alive["id"]]["state"] == "running" and states[alive["id"]]["ended_at"] is None
    assert states[submitted["id"]]["state"] == "submitted"
    events = ok(bob.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
    ended = [e["data"] for e in events if e["data"].get("type") == "allocation_failed"]
    assert [(e["allocation_id"], e["group"]) for e in ended] == [(gone["id"], "big")]
    assert f"compute node {lost_node}" in ended[0]["message"]
    ok(bob.post(base, json={**ALLOCATION, "only_if_none_active": True}))  # the group may again
    assert sweep(db, LostJobSettings(timeout_secs=60)) == []  # once


def test_sync_status_reports_the_ended_allocation(secured_app: App) -> None:
    bob = secured_app.client(OWNER)
    wf = create(bob, [{"name": "a", "command": "sleep 60"}])
    node_id = node(bob, wf)
    running_jobs(bob, wf, node_id, 1)
    made = allocation(bob, wf, node_id, "big")
    repaired = lose(secured_app, bob, wf, node_id)
    assert repaired["ended_slurm_allocations"] == [
        {"id": made["id"], "group_name": "big", "compute_node_id": node_id}
    ]
    [ended] = ok(bob.get(f"{V1}/workflows/{wf}/slurm_allocations"))["items"]
    assert (ended["id"], ended["state"]) == (made["id"], "failed")


def test_a_new_server_waits_a_timeout_before_declaring_runners_lost(secured_app: App) -> None:
    """After a restart, runners silent while no server was up get one timeout to beat again."""
    bob = secured_app.client(OWNER)
    wf = create(bob, [{"name": "a", "command": "sleep 60"}])
    node_id = node(bob, wf)
    running_jobs(bob, wf, node_id, 1)
    silence(secured_app, node_id)  # its last beat: long before this server process started
    now = [1000.0]
    sweeper = LostJobSweeper(
        secured_app.app.state.database, LostJobSettings(timeout_secs=60), clock=lambda: now[0]
    )
    assert sweeper.sweep_logged() == 0  # the sweep at start
    now[0] += 59.9
    assert sweeper.sweep_logged() == 0
    assert statuses(bob, wf) == {"a": "running"}
    now[0] += 0.2
    assert sweeper.sweep_logged() == 1
    assert statuses(bob, wf) == {"a": "ready"}
