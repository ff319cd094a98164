"""A server killed with `kill -9` in the middle of a real `torc run`, then restarted on the same
port and database: the runner retries with backoff (TORC_RETRY_SECONDS) and finishes with exit
status 0; every job has exactly one result, completed, and ran exactly once (each job appends
a line to a file). On the test backend (SQLite, or PostgreSQL with
TEAMGATE_TEST_BACKEND=postgresql)."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests import polling
from tests.conftest import BIN, PG, Server, _wait_healthy, backend_args, cli_env, start_server

DEADLINE = 120.0
STAGES = 12  # jobs per stage
TWO_CPUS = ("--num-cpus", "2")


def until(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    return polling.until(what, check, deadline, step=0.02)


def workflow_jobs(ledger: Path) -> list[dict[str, Any]]:
    """Three stages: `a<i>` (short sleeps), `b<i>` after `a<i>`, and `end` after every `b`."""
    record = f'echo "$TORC_JOB_NAME $TORC_ATTEMPT_ID $$" >> {ledger}'
    jobs: list[dict[str, Any]] = []
    for i in range(STAGES):
        jobs.append({"name": f"a{i}", "command": f"{record}; sleep 0.{1 + i % 3}"})
        jobs.append({"name": f"b{i}", "command": f"{record}; sleep 0.1", "depends_on": [f"a{i}"]})
    jobs.append({"name": "end", "command": record, "depends_on": [f"b{i}" for i in range(STAGES)]})
    return jobs


def restart(server: Server, workdir: Path, *args: str) -> Server:
    """The same server again, on its port (a fixed port is not printed: wait for /healthz)."""
    log_path = workdir / f"server-restarted-{server.port}.log"
    cmd = [str(BIN / "torc-server"), "run", "--host", "127.0.0.1", "--port", str(server.port)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*cmd, *backend_args(args)],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            text=True,
            cwd=workdir,
        )
    again = Server(process, server.port, log_path, database=server.database)
    PG.attach(again)
    _wait_healthy(again)
    return again


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def listed(server: Server, what: str, workflow_id: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.torc_url, timeout=10) as client:
        page = client.get(f"/{what}", params={"workflow_id": workflow_id, "limit": 10_000})
        page.raise_for_status()
        return list(page.json()["items"])


def test_a_run_survives_a_server_killed_and_restarted(tmp_path: Path) -> None:
    args = ("--database", str(tmp_path / "db" / "torc.db"))
    server = start_server(tmp_path / "server", *args)
    servers = [server]
    runner: subprocess.Popen[str] | None = None
    try:
        ledger = tmp_path / "ledger.txt"
        jobs = workflow_jobs(ledger)
        with httpx.Client(base_url=server.torc_url, timeout=10) as client:
            made = client.post("/workflow_specs", json={"name": "restart", "jobs": jobs})
            assert made.status_code == 200, made.text
            workflow_id = int(made.json()["id"])
        work = tmp_path / "work"
        work.mkdir()
        runner = subprocess.Popen(
            [str(BIN / "torc"), "run", str(workflow_id), "-o", "output", "-p", "0.1", *TWO_CPUS],
            env=cli_env(server, TORC_RETRY_SECONDS="90"),
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # mid-run: some jobs done, some to do, and one running right now
        until("a few jobs to finish", lambda: len(ledger_lines(ledger)) >= 6)
        until(
            "a job running",
            lambda: any(j["status"] == "running" for j in listed(server, "jobs", workflow_id)),
        )
        done_before = len(ledger_lines(ledger))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        assert done_before < len(jobs), "the run was over before the kill"
        assert runner.poll() is None, "the runner gave up when the server went away"
        server = restart(server, tmp_path / "server", *args)
        servers.append(server)
        out, err = runner.communicate(timeout=DEADLINE)
        assert runner.returncode == 0, out + err

        ran = Counter(line.split()[0] for line in ledger_lines(ledger))
        assert set(ran) == {j["name"] for j in jobs}
        assert [name for name, n in ran.items() if n != 1] == [], ran  # none ran twice
        by_id = {j["id"]: j for j in listed(server, "jobs", workflow_id)}
        assert {j["status"] for j in by_id.values()} == {"completed"}
        results = listed(server, "results", workflow_id)
        per_job = Counter(by_id[r["job_id"]]["name"] for r in results)
        assert per_job == Counter({j["name"]: 1 for j in jobs}), per_job  # none lost or doubled
        assert {r["status"] for r in results} == {"completed"}
        logs = "".join(p.read_text() for p in (work / "output").glob("job_runner_*.log"))
        assert "retry" in logs, logs  # the runner did meet the dead server, and waited it out
    finally:
        if runner is not None and runner.poll() is None:
            runner.kill()
            runner.wait()
        for each in servers:
            each.stop()
