"""A runner killed with `kill -9` mid-job stops sending heartbeats: a real server (heartbeat
timeout 1.5 s) recovers its job by policy, and another runner finishes the workflow (requeue);
under `fail` the job is failed; `torc workflows sync-status` repairs at once. On the test
backend (SQLite, or PostgreSQL with TEAMGATE_TEST_BACKEND=postgresql)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import polling
from tests.conftest import BIN, Server, cli_env, start_server

DEADLINE = 60.0


def until(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    return polling.until(what, check, deadline, step=0.05)


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.torc_url, timeout=10)


def make_workflow(server: Server, jobs: list[dict[str, Any]]) -> int:
    with api(server) as client:
        made = client.post("/workflow_specs", json={"name": "lost", "jobs": jobs})
        assert made.status_code == 200, made.text
        return int(made.json()["id"])


def runner(server: Server, workflow_id: int, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "torc"), "run", str(workflow_id), "-o", str(out), "-p", "0.1", *extra],
        env=cli_env(server),
        cwd=out.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def job(server: Server, workflow_id: int, name: str) -> dict[str, Any]:
    with api(server) as client:
        items = client.get("/jobs", params={"workflow_id": workflow_id}).json()["items"]
    [found] = [j for j in items if j["name"] == name]
    return dict(found)


def results(server: Server, workflow_id: int) -> list[dict[str, Any]]:
    with api(server) as client:
        return list(client.get("/results", params={"workflow_id": workflow_id}).json()["items"])


def kill_runner_mid_job(server: Server, tmp_path: Path) -> tuple[int, subprocess.Popen[str]]:
    """A workflow whose job `slow` runs on a runner that is then killed (and its job too)."""
    jobs = [
        {"name": "slow", "command": "sleep 2"},
        {"name": "after", "command": "true", "depends_on": ["slow"]},
    ]
    workflow_id = make_workflow(server, jobs)
    (tmp_path / "first").mkdir(exist_ok=True)
    first = runner(server, workflow_id, tmp_path / "first" / "output")
    until("slow to run", lambda: job(server, workflow_id, "slow")["status"] == "running")
    os.killpg(first.pid, signal.SIGKILL)  # the runner and its job: a lost machine
    first.wait()
    return workflow_id, first


@pytest.fixture
def quick(tmp_path: Path) -> Callable[..., Server]:
    started: list[Server] = []

    def make(*args: str) -> Server:
        server = start_server(
            tmp_path / "server",
            "--database", str(tmp_path / "db" / "torc.db"),
            "--heartbeat-timeout", "1.5",
            *args,
        )  # fmt: skip
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def test_a_killed_runners_job_is_requeued_and_another_runner_finishes(
    quick: Callable[..., Server], tmp_path: Path
) -> None:
    server = quick()
    workflow_id, _ = kill_runner_mid_job(server, tmp_path)
    killed_at = time.monotonic()
    until("slow to be ready again", lambda: job(server, workflow_id, "slow")["status"] == "ready")
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < 1.5 + 2.0, recovered_in  # the timeout plus one sweep, with margin
    (tmp_path / "second").mkdir()
    second = runner(server, workflow_id, tmp_path / "second" / "output")
    out, err = second.communicate(timeout=DEADLINE)
    assert second.returncode == 0, out + err
    found = {(r["job_id"], r["attempt_id"], r["status"]) for r in results(server, workflow_id)}
    slow, after = job(server, workflow_id, "slow"), job(server, workflow_id, "after")
    assert found == {
        (slow["id"], 1, "terminated"),  # lost
        (slow["id"], 2, "completed"),
        (after["id"], 1, "completed"),
    }
    with api(server) as client:
        events = client.get("/events", params={"workflow_id": workflow_id}).json()["items"]
    lost = [e["data"]["message"] for e in events if e["data"].get("type") == "job_lost"]
    assert len(lost) == 1 and "stopped sending heartbeats" in lost[0]


def test_under_the_fail_policy_a_killed_runners_job_fails(
    quick: Callable[..., Server], tmp_path: Path
) -> None:
    server = quick("--lost-job-policy", "fail")
    workflow_id, _ = kill_runner_mid_job(server, tmp_path)
    until("slow to fail", lambda: job(server, workflow_id, "slow")["status"] == "failed")
    # as after any failure: a dependent without cancel_on_blocking_job_failure runs anyway
    assert job(server, workflow_id, "after")["status"] == "ready"
    assert [(r["status"], r["return_code"]) for r in results(server, workflow_id)] == [
        ("failed", -1)
    ]


def torc(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "torc"), *args],
        env=cli_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sync_status_repairs_a_dead_runners_jobs_at_once(
    quick: Callable[..., Server], tmp_path: Path
) -> None:
    server = quick("--heartbeat-timeout", "0")  # no sweep: only sync-status repairs
    workflow_id, first = kill_runner_mid_job(server, tmp_path)
    listed = torc(server, "-f", "json", "workflows", "sync-status", str(workflow_id))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["recovered_jobs"] == []  # no timeout: nobody is lost
    forced = torc(server, "workflows", "sync-status", str(workflow_id), "--force")
    assert forced.returncode == 0, forced.stderr
    assert job(server, workflow_id, "slow")["status"] == "running"  # its node is still active
    # the node is marked inactive (as an operator, or a Slurm epilog, would), then forced
    with api(server) as client:
        nodes = client.get("/compute_nodes", params={"workflow_id": workflow_id}).json()["items"]
        [node] = [n for n in nodes if n["pid"] == first.pid]
        client.put(f"/compute_nodes/{node['id']}", json={"is_active": False}).raise_for_status()
    forced = torc(server, "workflows", "sync-status", str(workflow_id), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "jobs recovered: 1 " in forced.stdout and "slow" in forced.stdout, forced.stdout
    assert job(server, workflow_id, "slow")["status"] == "ready"
