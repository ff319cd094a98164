"""Slurm allocation records in process (SQLite and PostgreSQL): one active allocation per
group when asked (`only_if_none_active`, also under concurrent requests), bounded and
validated bodies, an ended allocation staying ended, and refusals that change nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.test_execution import OUTSIDER, OWNER, V1, create, ok
from tests.inprocess import App

BODY = {"group_name": "big", "account": "acct", "num_cpus": 2, "memory_bytes": 1 << 30}


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


def url(workflow: int, allocation: int | None = None) -> str:
    base = f"{V1}/workflows/{workflow}/slurm_allocations"
    return base if allocation is None else f"{base}/{allocation}"


def listed(client: httpx.Client, workflow: int) -> list[dict[str, Any]]:
    return list(ok(client.get(url(workflow)))["items"])


def test_record_list_and_move_an_allocation(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, [{"name": "a", "command": "true"}])
    made = ok(owner.post(url(wf), json={**BODY, "partition": "debug", "time_limit": "01:00:00"}))
    assert made["state"] == "submitted" and made["submitted_by"] == OWNER
    assert made["ended_at"] is None and made["memory_bytes"] == 1 << 30
    changed = ok(owner.patch(url(wf, made["id"]), json={"state": "running", "slurm_job_id": "7"}))
    assert (changed["state"], changed["slurm_job_id"]) == ("running", "7")
    done = ok(owner.patch(url(wf, made["id"]), json={"state": "done"}))
    assert done["ended_at"] is not None
    again = owner.patch(url(wf, made["id"]), json={"state": "running"})
    assert again.status_code == 409, again.text
    assert owner.patch(url(wf, made["id"]), json={"state": "failed"}).status_code == 409
    assert [a["state"] for a in listed(owner, wf)] == ["done"]


def test_only_if_none_active_refuses_a_second_allocation_for_the_group(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, [{"name": "a", "command": "true"}])
    first = ok(owner.post(url(wf), json={**BODY, "only_if_none_active": True}))
    refused = owner.post(url(wf), json={**BODY, "only_if_none_active": True})
    assert refused.status_code == 409 and "already has 1" in refused.json()["message"]
    other_group = ok(
        owner.post(url(wf), json={**BODY, "group_name": "small", "only_if_none_active": True})
    )
    assert other_group["group_name"] == "small"
    ok(owner.patch(url(wf, first["id"]), json={"state": "failed"}))
    ok(owner.post(url(wf), json={**BODY, "only_if_none_active": True}))  # none active now
    assert len(listed(owner, wf)) == 3


def test_concurrent_requests_make_one_active_allocation(app: App) -> None:
    wf = create(app.client(OWNER), [{"name": "a", "command": "true"}])

    def attempt(_: int) -> int:
        with app.client(OWNER) as client:
            return client.post(url(wf), json={**BODY, "only_if_none_active": True}).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(attempt, range(8)))
    assert codes == [200] + [409] * 7, codes
    assert len(listed(app.client(OWNER), wf)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"account": "a b"},  # not a Slurm name: would reach sbatch's argv
        {"account": "x" * 256},
        {"partition": "--wrap=sh"},
        {"num_cpus": 0},
        {"memory_bytes": -1},
        {"group_name": ""},
        {"slurm_job_id": "1; rm"},
        {"state": "running"},  # set by the server
        {"extra": 1},
    ],
)
def test_bad_bodies_are_400_and_change_nothing(app: App, change: dict[str, Any]) -> None:
    owner = app.client(OWNER)
    wf = create(owner, [{"name": "a", "command": "true"}])
    response = owner.post(url(wf), json={**BODY, **change})
    assert response.status_code == 400, response.text
    assert listed(owner, wf) == []


def test_bad_changes_and_outsiders_are_refused(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, [{"name": "a", "command": "true"}])
    made = ok(owner.post(url(wf), json=BODY))
    for body in ({"state": "lost"}, {"compute_node_id": -1}, {"ended_at": "x" * 65}):
        assert owner.patch(url(wf, made["id"]), json=body).status_code == 400, body
    assert owner.patch(url(wf, 999_999), json={"state": "done"}).status_code == 404
    other = create(owner, [{"name": "b", "command": "true"}])
    assert owner.patch(url(other, made["id"]), json={"state": "done"}).status_code == 404
    outsider = app.client(OUTSIDER)
    assert outsider.get(url(wf)).status_code == 403
    assert outsider.post(url(wf), json=BODY).status_code == 403
    assert outsider.patch(url(wf, made["id"]), json={"state": "done"}).status_code == 403
    assert [a["state"] for a in listed(owner, wf)] == ["submitted"]


def test_a_canceled_workflow_gets_no_allocation(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, [{"name": "a", "command": "true"}])
    ok(owner.post(f"{V1}/workflows/{wf}/initialize_jobs"))
    ok(owner.put(f"{V1}/workflows/{wf}/cancel"))
    refused = owner.post(url(wf), json=BODY)
    assert refused.status_code == 409 and "canceled" in refused.json()["message"]
