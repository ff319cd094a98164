"""Races on units that the in-process tests (tests/api) and the two-process ones (tests/e2e) both
run: many callers released at once, one lock winner, no lost write.

Callers are `httpx.Client`s for the units API (`…/v1`), made by a function of the caller's
number, so that they can be spread over several servers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

Work = Callable[[int, httpx.Client], httpx.Response]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state(serial: int, pad: int = 0) -> bytes:
    """A small Terraform-like state; distinct for each serial."""
    body = {"version": 4, "serial": serial, "lineage": "test", "outputs": {}, "resources": []}
    if pad:
        body["padding"] = "x" * pad
    return json.dumps(body).encode()


def run_together(
    n: int, work: Work, make_client: Callable[[int], httpx.Client]
) -> list[httpx.Response]:
    """Run `work(i, client)` in n threads released at once by a barrier (connections open)."""
    clients = [make_client(i) for i in range(n)]
    for c in clients:  # open every connection before the start line
        assert c.get("/auth/me").status_code == 200
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException | None] = [None] * n

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = work(i, clients[i])
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for c in clients:
        c.close()
    errors = [r for r in results if not isinstance(r, httpx.Response)]
    assert not errors, errors
    return results  # type: ignore[return-value]


def lock_request(kind: str, path: str) -> Work:
    def work(i: int, c: httpx.Client) -> httpx.Response:
        if kind == "backend":
            body = {"ID": f"lock-{i}", "Operation": "OperationTypeApply", "Who": f"runner-{i}"}
            return c.request("LOCK", f"/backend/{path}", json=body)
        return c.post(f"/locks/{path}", json={"id": f"lock-{i}", "who": f"runner-{i}"})

    return work


def check_one_winner(kind: str, responses: list[httpx.Response]) -> dict[str, Any]:
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [423] * (len(responses) - 1), statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    for r in responses:
        if r.status_code == 423:
            body = r.json()
            holder = {k: body[k] for k in winner} if kind == "backend" else body["lock"]
            assert holder == winner, (holder, winner)
            assert body["locked_by"] == "alice"
    return winner  # type: ignore[no-any-return]


def check_pushes_with_the_lock_lose_no_write(
    alice: httpx.Client, make_client: Callable[[int], httpx.Client], path: str, max_versions: int
) -> None:
    """Twenty pushes at once under one lock: every one is a new generation, the kept versions
    are distinct writes, newest first, at most `max_versions` of them."""
    writes = 20
    response = alice.put(f"/state/{path}", content=state(0))
    assert response.status_code == 200, response.text
    lock = alice.post(f"/locks/{path}", json={}).json()
    contents = [state(i + 1) for i in range(writes)]
    responses = run_together(
        writes,
        lambda i, c: c.put(f"/state/{path}", params={"lock_id": lock["ID"]}, content=contents[i]),
        make_client,
    )
    assert [r.status_code for r in responses] == [200] * writes, [r.text for r in responses]
    found = alice.get(f"/units/{path}").json()
    assert found["version"] == writes + 1  # the first write plus 20: none lost
    assert found["locked"] is True
    versions = alice.get(f"/versions/{path}").json()["versions"]
    assert len(versions) == min(writes, max_versions)
    generations = [v["version"] for v in versions]
    assert generations == list(range(writes, writes - len(versions), -1))  # newest first
    current = alice.get(f"/state/{path}").content
    kept = [current] + [
        alice.get(f"/state/{path}", params={"version": g}).content for g in generations
    ]
    everything = {sha(c) for c in [state(0), *contents]}
    assert len({sha(c) for c in kept}) == len(kept)  # every kept state is a distinct write
    assert {sha(c) for c in kept} <= everything
    assert [v["sha256"] for v in versions] == [sha(c) for c in kept[1:]]
    if len(kept) == writes + 1:
        assert {sha(c) for c in kept} == everything
