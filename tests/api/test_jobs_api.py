"""Jobs through the API, in process: what a spec stores, creating (one and in bulk), listing,
reading, changing and deleting jobs, and that no id crosses workflows (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_execution import V1, create, jobs_by_name, ok
from tests.inprocess import App


@pytest.fixture
def owner(secured_app: App) -> httpx.Client:
    return secured_app.client("bob")


def new_workflow(client: httpx.Client, name: str = "plain") -> int:
    return int(ok(client.post(f"{V1}/workflows", json={"name": name}))["id"])


def job(workflow_id: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "name": name, "command": "true", **extra}


def test_a_spec_is_stored_whole(owner: httpx.Client) -> None:
    spec = {
        "name": "pipeline",
        "files": [{"name": "raw", "path": "data/raw.csv"}, {"name": "out", "path": "out.txt"}],
        "user_data": [{"name": "cfg", "data": {"k": [1, 2]}}],
        "resource_requirements": [
            {"name": "big", "num_cpus": 2, "memory": "2g", "runtime": "PT30M"}
        ],
        "jobs": [
            {
                "name": "make",
                "command": "echo > ${files.output.raw}",
                "priority": 3,
                "env": {"B": "2", "A": "1"},
                "resource_requirements": "big",
            },
            {"name": "use", "command": "cat ${files.input.raw} > ${files.output.out}"},
        ],
    }
    wf = int(ok(owner.post(f"{V1}/workflow_specs", json=spec))["id"])
    page = ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf, "include_relationships": True}))
    jobs = {j["name"]: j for j in page["items"]}
    make, use = jobs["make"], jobs["use"]
    assert make["priority"] == 3 and make["env"] == {"A": "1", "B": "2"}
    assert make["command"] == "echo > data/raw.csv"
    assert use["depends_on_job_ids"] == [make["id"]]
    assert len(make["output_file_ids"]) == 1 and make["output_file_ids"] == use["input_file_ids"]
    assert use["resource_requirements_id"] != make["resource_requirements_id"]  # the default one
    assert ok(owner.get(f"{V1}/jobs/{use['id']}"))["input_file_ids"] == use["input_file_ids"]


def test_create_list_get_update_delete(owner: httpx.Client) -> None:
    wf = new_workflow(owner)
    first = ok(owner.post(f"{V1}/jobs", json=job(wf, "first", status="completed", priority=2)))
    assert first["status"] == "uninitialized" and first["resource_requirements_id"] is not None
    bulk = ok(
        owner.post(
            f"{V1}/bulk_jobs",
            json={"jobs": [job(wf, f"n{i}", depends_on_job_ids=[first["id"]]) for i in range(5)]},
        )
    )["jobs"]
    assert [j["depends_on_job_ids"] for j in bulk] == [[first["id"]]] * 5
    page = ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf, "offset": 2, "limit": 2}))
    assert [j["name"] for j in page["items"]] == ["n1", "n2"]
    assert (page["total_count"], page["count"], page["has_more"]) == (6, 2, True)
    named = ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf, "name": "N3"}))["items"]
    assert [j["name"] for j in named] == ["n3"]
    downstream = ok(
        owner.get(f"{V1}/jobs", params={"workflow_id": wf, "upstream_job_id": first["id"]})
    )
    assert downstream["total_count"] == 5
    changed = ok(owner.put(f"{V1}/jobs/{first['id']}", json=job(wf, "first", command="echo hi")))
    assert changed["command"] == "echo hi"
    whole = ok(owner.get(f"{V1}/jobs/{bulk[0]['id']}"))  # read, modify, write back
    ok(owner.put(f"{V1}/jobs/{whole['id']}", json={**whole, "priority": 9}))
    assert ok(owner.get(f"{V1}/jobs/{whole['id']}"))["priority"] == 9
    disabled = ok(owner.put(f"{V1}/jobs/{first['id']}", json=job(wf, "first", status="disabled")))
    assert disabled["status"] == "disabled"
    deleted = ok(owner.delete(f"{V1}/jobs/{bulk[0]['id']}"))
    assert deleted["name"] == "n0"
    assert owner.get(f"{V1}/jobs/{bulk[0]['id']}").status_code == 404
    assert ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf}))["total_count"] == 5


def test_no_id_crosses_workflows(owner: httpx.Client) -> None:
    mine, other = new_workflow(owner, "mine"), new_workflow(owner, "other")
    theirs = ok(owner.post(f"{V1}/jobs", json=job(other, "t")))
    local = ok(owner.post(f"{V1}/jobs", json=job(mine, "m")))
    refused = [
        job(mine, "x", depends_on_job_ids=[theirs["id"]]),
        job(mine, "x", resource_requirements_id=theirs["resource_requirements_id"]),
        job(mine, "x", input_file_ids=[123456]),
        job(mine, "x", output_user_data_ids=[123456]),
    ]
    for body in refused:
        response = owner.post(f"{V1}/jobs", json=body)
        assert response.status_code == 400, response.text
    moved = owner.put(f"{V1}/jobs/{local['id']}", json=job(other, "m"))
    assert moved.status_code == 400
    relinked = owner.put(
        f"{V1}/jobs/{local['id']}", json=job(mine, "m", depends_on_job_ids=[theirs["id"]])
    )
    assert relinked.status_code == 400
    mixed = {"jobs": [job(mine, "a"), job(other, "b")]}
    assert owner.post(f"{V1}/bulk_jobs", json=mixed).status_code == 400
    assert [j for j in jobs_by_name(owner, mine)] == ["m"]
    assert [j for j in jobs_by_name(owner, other)] == ["t"]


def test_bad_requests_are_400_409_or_404(owner: httpx.Client) -> None:
    wf = create(owner, [{"name": "a", "command": "true"}])
    cases: list[tuple[str, str, Any, int]] = [
        ("POST", "/jobs", job(wf, "a"), 409),  # name taken
        ("POST", "/jobs", job(wf, ""), 400),
        ("POST", "/jobs", job(wf, "x", priority=-1), 400),
        ("POST", "/jobs", job(wf, "x", surprise=1), 400),
        ("POST", "/jobs", job(wf, "x", env={"A": 1}), 400),
        ("POST", "/jobs", job(2**40, "x"), 400),
        ("POST", "/jobs", job(999_999, "x"), 404),
        ("POST", "/bulk_jobs", {"jobs": []}, 400),
        ("POST", "/bulk_jobs", {"jobs": [job(wf, "d"), job(wf, "d")]}, 400),
        ("GET", "/jobs", None, 400),  # workflow_id is required
        ("GET", f"/jobs?workflow_id={wf}&status=nonsense", None, 400),
        ("GET", f"/jobs?workflow_id={wf}&sort_by=secret", None, 400),
        ("GET", f"/jobs?workflow_id={wf}&limit=0", None, 400),
        ("GET", "/jobs/99999999", None, 404),
        ("GET", "/results/99999999", None, 404),
        ("POST", f"/workflows/{wf}/claim_jobs_based_on_resources/5", {"num_cpus": 1}, 400),
        (
            "POST",
            f"/workflows/{wf}/claim_jobs_based_on_resources/5",
            {"num_cpus": 1, "memory_gb": 1, "num_gpus": 0, "num_nodes": 1, "time_limit": "soon"},
            400,
        ),
        (
            "POST",
            f"/workflows/{wf}/claim_jobs_based_on_resources/0",
            {"num_cpus": 1, "memory_gb": 1, "num_gpus": 0, "num_nodes": 1},
            400,
        ),
        ("POST", "/workflows/99999/initialize_jobs", None, 404),
        ("POST", f"/jobs/{2**31}/retry/1?max_retries=1", None, 400),
    ]
    for method, path, body, status in cases:
        response = owner.request(method, V1 + path, json=body)
        assert response.status_code == status, (method, path, response.text)
    assert list(jobs_by_name(owner, wf)) == ["a"]
