"""batch_complete_jobs in process (SQLite and PostgreSQL): many completions of one workflow in
one transaction, dependents settled in it, an entry that cannot be recorded reported alone,
and a refused batch (no access, too many entries, a malformed body) changing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_execution import (
    DIAMOND,
    OUTSIDER,
    V1,
    Runner,
    create,
    initialize,
    ok,
    result,
    statuses,
)
from tests.inprocess import App

OWNER = "bob"


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


@pytest.fixture
def owner(app: App) -> httpx.Client:
    return app.client(OWNER)


def entry(job: dict[str, Any], node: int, rc: int = 0, run_id: int = 1) -> dict[str, Any]:
    body = result(job, node, rc, run_id)
    return {"job_id": job["id"], "status": body["status"], "run_id": run_id, "result": body}


def batch(client: httpx.Client, wf: int, entries: list[dict[str, Any]]) -> httpx.Response:
    return client.post(f"{V1}/workflows/{wf}/batch_complete_jobs", json={"completions": entries})


def started(runner: Runner) -> list[dict[str, Any]]:
    jobs = runner.claim()
    for job in jobs:
        ok(runner.client.put(f"{V1}/jobs/{job['id']}/start_job/1/{runner.node}"))
    return jobs


def results_of(client: httpx.Client, wf: int) -> list[dict[str, Any]]:
    return list(ok(client.get(f"{V1}/results", params={"workflow_id": wf}))["items"])


def test_a_batch_completes_its_jobs_and_readies_their_dependents(owner: httpx.Client) -> None:
    wf = create(owner, DIAMOND)
    initialize(owner, wf)
    runner = Runner(owner, wf)
    [a] = started(runner)
    answer = ok(batch(owner, wf, [entry(a, runner.node)]))
    assert answer == {"completed": [a["id"]], "errors": []}
    bc = started(runner)
    assert sorted(j["name"] for j in bc) == ["b", "c"]
    answer = ok(batch(owner, wf, [entry(j, runner.node) for j in bc]))
    assert sorted(answer["completed"]) == sorted(j["id"] for j in bc) and not answer["errors"]
    assert statuses(owner, wf)["d"] == "ready"  # in the same transaction: no delay
    [d] = started(runner)
    ok(batch(owner, wf, [entry(d, runner.node)]))
    assert set(statuses(owner, wf).values()) == {"completed"}
    assert len(results_of(owner, wf)) == 4
    kinds = ok(owner.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
    assert sum("job_completed" in str(e) for e in kinds) == 4


def test_a_failure_in_a_batch_cancels_flagged_dependents(owner: httpx.Client) -> None:
    jobs = [
        {"name": "bad", "command": "false"},
        {"name": "good", "command": "true"},
        {
            "name": "flagged",
            "command": "true",
            "depends_on": ["bad"],
            "cancel_on_blocking_job_failure": True,
        },
        {"name": "after_good", "command": "true", "depends_on": ["good"]},
    ]
    wf = create(owner, jobs)
    initialize(owner, wf)
    runner = Runner(owner, wf)
    claimed = started(runner)
    entries = [entry(j, runner.node, rc=1 if j["name"] == "bad" else 0) for j in claimed]
    assert len(ok(batch(owner, wf, entries))["completed"]) == 2
    assert statuses(owner, wf) == {
        "bad": "failed",
        "good": "completed",
        "flagged": "canceled",
        "after_good": "ready",
    }


def test_stale_entries_are_reported_alone_and_the_rest_recorded(
    app: App, owner: httpx.Client
) -> None:
    wf = create(owner, [{"name": f"j{i}", "command": "true"} for i in range(4)])
    other = create(owner, [{"name": "x", "command": "true"}])
    initialize(owner, wf)
    initialize(owner, other)
    runner = Runner(owner, wf)
    j0, j1, j2, j3 = started(runner)
    [x] = started(Runner(owner, other))
    ok(batch(owner, wf, [entry(j1, runner.node)]))  # j1 is completed already
    wrong_run = entry(j2, runner.node, run_id=7)
    mismatched = entry(j3, runner.node)
    mismatched["result"]["job_id"] = j0["id"]
    entries = [
        entry(j0, runner.node),
        entry(j0, runner.node),  # twice
        entry(j1, runner.node, rc=1),  # stale: completed already, and not as this says
        wrong_run,
        mismatched,
        entry(x, runner.node),  # a job of another workflow
        {
            **entry(j3, runner.node),
            "job_id": 10**9,
            "result": {**entry(j3, runner.node)["result"], "job_id": 10**9},
        },
    ]
    answer = ok(batch(owner, wf, entries))
    assert answer["completed"] == [j0["id"]]
    assert [e["job_id"] for e in answer["errors"]] == [
        j0["id"],
        j1["id"],
        j2["id"],
        j3["id"],
        x["id"],
        10**9,
    ]
    assert "not a job of workflow" in answer["errors"][4]["message"]
    assert answer["errors"][4]["message"] == answer["errors"][5]["message"].replace(
        str(10**9), str(x["id"])
    )  # another workflow's job and no job at all read alike
    assert statuses(owner, wf) == {
        "j0": "completed",
        "j1": "completed",
        "j2": "running",
        "j3": "running",
    }
    assert statuses(owner, other) == {"x": "running"}
    assert not results_of(owner, other)
    assert len(results_of(owner, wf)) == 2


def test_an_empty_batch_is_answered_and_changes_nothing(owner: httpx.Client) -> None:
    wf = create(owner, DIAMOND)
    initialize(owner, wf)
    assert ok(batch(owner, wf, [])) == {"completed": [], "errors": []}


def test_refused_batches_change_nothing(app: App, owner: httpx.Client) -> None:
    wf = create(owner, DIAMOND)
    initialize(owner, wf)
    runner = Runner(owner, wf)
    [a] = started(runner)
    before = statuses(owner, wf)
    good = entry(a, runner.node)
    outsider = app.client(OUTSIDER)
    assert batch(outsider, wf, [good]).status_code == 403
    assert batch(owner, 10**9, [good]).status_code == 404
    huge = batch(owner, wf, [good] * 1001)
    assert huge.status_code == 400, huge.text
    bad_status = {**good, "status": "bogus"}
    assert batch(owner, wf, [good, bad_status]).status_code == 400
    no_result = {k: v for k, v in good.items() if k != "result"}
    assert batch(owner, wf, [good, no_result]).status_code == 400
    for body in ({}, {"completions": None}, {"completions": {}}, [], {"completions": [1]}):
        response = owner.post(f"{V1}/workflows/{wf}/batch_complete_jobs", json=body)
        assert response.status_code == 400, (body, response.text)
    assert statuses(owner, wf) == before
    assert not results_of(owner, wf)


def test_a_status_that_cannot_end_a_job_is_reported(owner: httpx.Client) -> None:
    wf = create(owner, DIAMOND)
    initialize(owner, wf)
    runner = Runner(owner, wf)
    [a] = started(runner)
    answer = ok(batch(owner, wf, [{**entry(a, runner.node), "status": "ready"}]))
    assert answer["completed"] == [] and "status must be one of" in answer["errors"][0]["message"]
    assert statuses(owner, wf)["a"] == "running"
