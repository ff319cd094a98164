"""Many runners, two server processes, one database: four `torc run ID --num-cpus 2` processes,
two on each server, run 200 short jobs. Each job writes (name, its runner's pid, start, end)
to a ledger: each job ran exactly once, each has one completed result, and no runner ever ran
more jobs at once than its --num-cpus. On the test backend (SQLite, or PostgreSQL with
TEAMGATE_TEST_BACKEND=postgresql)."""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import BIN, Server, cli_env, start_server

DEADLINE = 180.0
JOBS = 200
RUNNERS = 4
CPUS = 2
OPTIONS = ("-p", "0.1", "--num-cpus", str(CPUS))


def ledger_command(ledger: Path) -> str:
    """Record `name runner-pid start end` ($PPID: bash's parent, the runner that spawned it)."""
    return (
        f's=$(date +%s.%N); sleep 0.02; echo "$TORC_JOB_NAME $PPID $s $(date +%s.%N)" >> {ledger}'
    )


def listed(server: Server, what: str, workflow_id: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.torc_url, timeout=30) as client:
        page = client.get(f"/{what}", params={"workflow_id": workflow_id, "limit": 10_000})
        page.raise_for_status()
        return list(page.json()["items"])


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of these (start, end) intervals open at one instant."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])  # ends first
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_most_at_once_counts_overlaps() -> None:
    assert most_at_once([(0, 1), (1, 2), (2, 3)]) == 1  # touching is not overlapping
    assert most_at_once([(0, 3), (1, 2), (1.5, 4), (3.5, 5)]) == 3


def test_four_runners_on_two_servers_run_each_job_once_within_their_cpus(tmp_path: Path) -> None:
    args = ("--database", str(tmp_path / "db" / "torc.db"))
    servers = [start_server(tmp_path / f"server{i}", *args) for i in range(2)]
    runners: list[subprocess.Popen[str]] = []
    try:
        ledger = tmp_path / "ledger.txt"
        command = ledger_command(ledger)
        jobs = [{"name": f"j{i:03d}", "command": command} for i in range(JOBS)]
        with httpx.Client(base_url=servers[0].torc_url, timeout=30) as client:
            made = client.post("/workflow_specs", json={"name": "many", "jobs": jobs})
            assert made.status_code == 200, made.text
            workflow_id = int(made.json()["id"])
            client.post(f"/workflows/{workflow_id}/initialize_jobs").raise_for_status()
        for k in range(RUNNERS):
            work = tmp_path / f"runner{k}"
            work.mkdir()
            runners.append(
                subprocess.Popen(
                    [str(BIN / "torc"), "run", str(workflow_id), "-o", "output", *OPTIONS],
                    env=cli_env(servers[k % 2]),
                    cwd=work,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for each in runners:
            out, err = each.communicate(timeout=DEADLINE)
            assert each.returncode == 0, out + err

        rows = [line.split() for line in ledger.read_text().splitlines()]
        ran = Counter(name for name, *_ in rows)
        assert set(ran) == {j["name"] for j in jobs}
        assert [name for name, n in ran.items() if n != 1] == []  # each ran exactly once
        spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for _, pid, start, end in rows:
            spans[int(pid)].append((float(start), float(end)))
        assert set(spans) <= {r.pid for r in runners}  # every job ran under one of our runners
        assert len(spans) >= 2, spans.keys()  # the work was shared
        peaks = {pid: most_at_once(found) for pid, found in spans.items()}
        assert max(peaks.values()) <= CPUS, peaks  # no runner oversubscribed its CPUs

        for server in servers:  # both servers see the same, finished workflow
            assert {j["status"] for j in listed(server, "jobs", workflow_id)} == {"completed"}
        by_id = {j["id"]: j["name"] for j in listed(servers[1], "jobs", workflow_id)}
        results = listed(servers[1], "results", workflow_id)
        per_job = Counter(by_id[r["job_id"]] for r in results)
        assert per_job == Counter({j["name"]: 1 for j in jobs})
        assert {r["status"] for r in results} == {"completed"}
        nodes = listed(servers[0], "compute_nodes", workflow_id)
        assert sorted(n["pid"] for n in nodes) == sorted(r.pid for r in runners)
    finally:
        for each in runners:
            if each.poll() is None:
                each.kill()
                each.wait()
        for server in servers:
            server.stop()
