"""Concurrent runners against one workflow, in process (threads; SQLite and PostgreSQL): every
job is claimed by exactly one caller, and with completions racing, every job still runs once
and a fan-in job becomes ready only after all its blockers completed."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.api.test_execution import V1, create, initialize, node, offer, ok, result, statuses
from tests.inprocess import App

THREADS = 6


def _together(work: Callable[[int], list[int]]) -> list[int]:
    """Run `work(i)` in THREADS threads released at once; all the ids they return."""
    barrier = threading.Barrier(THREADS)

    def start(i: int) -> list[int]:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return [job_id for ids in pool.map(start, range(THREADS)) for job_id in ids]


def test_each_ready_job_is_claimed_once(secured_app: App) -> None:
    owner = secured_app.client("bob")
    wf = create(owner, [{"name": f"j{i:03d}", "command": "true"} for i in range(240)])
    initialize(owner, wf)
    clients = [secured_app.client("bob") for _ in range(THREADS)]

    def claim(i: int) -> list[int]:
        got: list[int] = []
        while True:
            if i % 2:
                url = f"{V1}/workflows/{wf}/claim_next_jobs"
                jobs = ok(clients[i].post(url, params={"limit": 7}))["jobs"]
            else:
                url = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/5"
                jobs = ok(clients[i].post(url, json=offer()))["jobs"]
            if not jobs:
                return got
            got.extend(j["id"] for j in jobs)

    claimed = _together(claim)
    assert len(claimed) == 240
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert set(statuses(owner, wf).values()) == {"pending"}


def test_racing_completions_unblock_the_fan_in_once(secured_app: App) -> None:
    owner = secured_app.client("bob")
    width = 60
    jobs: list[dict[str, Any]] = [{"name": "start", "command": "true"}]
    jobs += [
        {"name": f"w{i:02d}", "command": "true", "depends_on": ["start"]} for i in range(width)
    ]
    jobs.append(
        {"name": "end", "command": "true", "depends_on": [f"w{i:02d}" for i in range(width)]}
    )
    wf = create(owner, jobs)
    initialize(owner, wf)
    clients = [secured_app.client("bob") for _ in range(THREADS)]
    nodes = [node(owner, wf) for _ in range(THREADS)]
    order: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> list[int]:
        client, me = clients[i], nodes[i]
        done: list[int] = []
        idle = 0
        while idle < 50:
            url = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/2"
            claimed = ok(client.post(url, json=offer(me)))["jobs"]
            if not claimed:
                if ok(client.get(f"{V1}/workflows/{wf}/is_complete"))["is_complete"]:
                    return done
                idle += 1
                continue
            for job in claimed:
                ok(client.put(f"{V1}/jobs/{job['id']}/start_job/1/{me}"))
                with lock:
                    order.append(job["name"])
                url = f"{V1}/jobs/{job['id']}/complete_job/completed/1"
                ok(client.post(url, json=result(job, me)))
                done.append(job["id"])
        return done

    ran = _together(run)
    assert len(ran) == width + 2 and len(set(ran)) == width + 2
    assert order[0] == "start" and order[-1] == "end"
    assert set(statuses(owner, wf).values()) == {"completed"}


def test_queue_claims_by_many_nodes_hand_each_job_to_one_node(secured_app: App) -> None:
    """Claims for runners' queues (asked twice each time, as after a lost answer), started in
    batches: every job goes to one node, and a node's repeated claim hands back only its own."""
    owner = secured_app.client("bob")
    wf = create(owner, [{"name": f"j{i:03d}", "command": "true"} for i in range(240)])
    initialize(owner, wf)
    clients = [secured_app.client("bob") for _ in range(THREADS)]
    nodes = [node(owner, wf) for _ in range(THREADS)]

    def claim(i: int) -> list[int]:
        client, me = clients[i], nodes[i]
        url = f"{V1}/workflows/{wf}/claim_jobs_based_on_resources/6"
        mine: set[int] = set()
        while True:
            first = [
                j["id"]
                for j in ok(client.post(url, json=offer(me), params={"queue": "true"}))["jobs"]
            ]
            again = [
                j["id"]
                for j in ok(client.post(url, json=offer(me), params={"queue": "true"}))["jobs"]
            ]
            assert again == first  # nothing new while its own fill the limit
            if not first:
                return sorted(mine)
            mine.update(first)
            body = {"run_id": 1, "compute_node_id": me, "job_ids": first}
            started = ok(client.post(f"{V1}/workflows/{wf}/batch_start_jobs", json=body))
            assert sorted(started["started"]) == sorted(first) and not started["errors"]

    claimed = _together(claim)
    assert len(claimed) == 240
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert set(statuses(owner, wf).values()) == {"running"}
