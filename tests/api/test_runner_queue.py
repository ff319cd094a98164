"""The calls behind the runner's local queue, in process (SQLite and PostgreSQL): a claim with
`queue=true` that can be repeated (the node's claimed, unstarted jobs come back first), starts
in one batch, a quick job started by its completion, and claimed jobs given back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_batch_complete import batch, entry
from tests.api.test_execution import OUTSIDER, V1, create, initialize, node, offer, ok, statuses
from tests.inprocess import App

OWNER = "bob"
FOUR = [{"name": f"j{i}", "command": "true"} for i in range(4)]


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


@pytest.fixture
def owner(app: App) -> httpx.Client:
    return app.client(OWNER)


def claim(
    client: httpx.Client, wf: int, node_id: int | None, limit: int, cpus: int = 2
) -> httpx.Response:
    url = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/{limit}"
    return client.post(url, json=offer(node_id, cpus=cpus), params={"queue": "true"})


def ids(response: httpx.Response) -> list[int]:
    return [j["id"] for j in ok(response)["jobs"]]


def statuses_by_id(client: httpx.Client, wf: int) -> dict[int, str]:
    jobs = ok(client.get(f"{V1}/jobs", params={"workflow_id": wf}))["items"]
    return {j["id"]: j["status"] for j in jobs}


def start(client: httpx.Client, wf: int, node_id: int, job_ids: list[int]) -> httpx.Response:
    body = {"run_id": 1, "compute_node_id": node_id, "job_ids": job_ids}
    return client.post(f"{V1}/workflows/{wf}/batch_start_jobs", json=body)


def test_a_repeated_claim_hands_the_same_jobs_back_and_no_job_twice(owner: httpx.Client) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    mine, other = node(owner, wf), node(owner, wf)
    first = ids(claim(owner, wf, mine, 3))
    # each fits the 2 CPUs offered on its own: 3 claimed, not packed into 2
    assert len(first) == 3
    assert ids(claim(owner, wf, mine, 3)) == first  # the answer was lost: asked again
    [last] = ids(claim(owner, wf, other, 3))  # the one left
    assert last not in first
    assert ids(claim(owner, wf, other, 3)) == [last]
    more = ids(claim(owner, wf, mine, 10))  # its own come back; nothing is left to add
    assert more == first
    assert sorted(statuses(owner, wf).values()) == ["pending"] * 4


def test_a_job_too_big_for_the_offer_is_not_claimed(owner: httpx.Client) -> None:
    jobs = [{"name": "big", "command": "true", "resource_requirements": "big"}]
    big = {"name": "big", "num_cpus": 4, "memory": "1g"}
    wf = create(owner, jobs, resource_requirements=[big])
    initialize(owner, wf)
    answer = ok(claim(owner, wf, node(owner, wf), 5, cpus=2))
    assert answer["jobs"] == [] and "fits" in answer["reason"]


def test_a_claim_for_a_queue_must_name_its_node(owner: httpx.Client) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    refused = claim(owner, wf, None, 2)
    assert refused.status_code in (400, 422) and "compute node" in refused.text
    assert set(statuses(owner, wf).values()) == {"ready"}


def test_starts_in_one_batch_only_for_the_node_that_claimed(owner: httpx.Client) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    mine, other = node(owner, wf), node(owner, wf)
    a, b = ids(claim(owner, wf, mine, 2))
    [c] = ids(claim(owner, wf, other, 1))
    answer = ok(start(owner, wf, mine, [a, b, c]))
    assert answer["started"] == [a, b]
    assert [e["job_id"] for e in answer["errors"]] == [c]
    assert ok(start(owner, wf, mine, [a, b])) == {"started": [], "errors": []}  # repeated
    states = statuses_by_id(owner, wf)
    assert (states[a], states[b], states[c]) == ("running", "running", "pending")
    stale = owner.post(
        f"{V1}/workflows/{wf}/batch_start_jobs",
        json={"run_id": 2, "compute_node_id": other, "job_ids": [c]},
    )
    assert stale.status_code == 409 and "run" in stale.text
    events = ok(owner.get(f"{V1}/events", params={"workflow_id": wf}))["items"]
    assert sum("job_started" in str(e) for e in events) == 2


def test_a_quick_job_completed_from_pending_has_its_start_recorded(owner: httpx.Client) -> None:
    wf = create(owner, FOUR[:1])
    initialize(owner, wf)
    mine = node(owner, wf)
    [job] = ok(claim(owner, wf, mine, 1))["jobs"]
    assert ok(batch(owner, wf, [entry(job, mine)]))["completed"] == [job["id"]]
    kinds = [str(e) for e in ok(owner.get(f"{V1}/events", params={"workflow_id": wf}))["items"]]
    assert sum("job_started" in k for k in kinds) == 1
    assert sum("job_completed" in k for k in kinds) == 1


def test_claimed_jobs_given_back_are_ready_again(owner: httpx.Client) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    mine, other = node(owner, wf), node(owner, wf)
    a, b = ids(claim(owner, wf, mine, 2))
    [c] = ids(claim(owner, wf, other, 1))
    ok(start(owner, wf, mine, [a]))
    body = {"compute_node_id": mine, "job_ids": [a, b, c]}
    answer = ok(owner.post(f"{V1}/workflows/{wf}/release_jobs", json=body))
    assert answer == {"released": [b]}  # not the running one, not another node's
    [d] = set(statuses_by_id(owner, wf)) - {a, b, c}
    assert ids(claim(owner, wf, other, 3)) == [c, *sorted([b, d])]  # its own first


def test_an_outsider_can_neither_start_nor_give_back(app: App, owner: httpx.Client) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    mine = node(owner, wf)
    a, b = ids(claim(owner, wf, mine, 2))
    outsider = app.client(OUTSIDER)
    assert start(outsider, wf, mine, [a]).status_code in (403, 404)
    body = {"compute_node_id": mine, "job_ids": [b]}
    assert outsider.post(f"{V1}/workflows/{wf}/release_jobs", json=body).status_code in (403, 404)
    assert sorted(statuses(owner, wf).values()) == ["pending", "pending", "ready", "ready"]


@pytest.mark.parametrize(
    "body",
    [
        {"run_id": 1, "compute_node_id": 1, "job_ids": []},
        {"run_id": 1, "compute_node_id": 1, "job_ids": list(range(1001))},
        {"run_id": 1, "compute_node_id": 1, "job_ids": [-1]},
        {"run_id": 1, "compute_node_id": 1, "job_ids": [1], "extra": 1},
        {"run_id": 1, "job_ids": [1]},
    ],
)
def test_a_malformed_start_batch_is_refused(owner: httpx.Client, body: dict[str, Any]) -> None:
    wf = create(owner, FOUR)
    initialize(owner, wf)
    refused = owner.post(f"{V1}/workflows/{wf}/batch_start_jobs", json=body)
    assert refused.status_code == 400
    assert set(statuses(owner, wf).values()) == {"ready"}
