"""Processes for the fault and many-runner benchmarks (bench/faults.py, bench/many_runners.py):
`torc-server` on a free or given port, a fresh database per run (a SQLite file, or a
PostgreSQL database created here and dropped after), `torc run` processes, and polling with
deadlines."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from run_overhead import database  # noqa: F401  (re-exported: one fresh-database helper)

PG_ADMIN = os.environ.get("TEAMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def until(what: str, check: Callable[[], Any], deadline: float = 120.0, step: float = 0.01) -> Any:
    """Poll `check` until it returns something true; SystemExit naming `what` after `deadline`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(step)
    raise SystemExit(f"timed out waiting for {what}")


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    args: tuple[str, ...]
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/torc-service/v1"

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(root: Path, *args: str, port: int = 0) -> Server:
    """`torc-server run` (no authentication); returns once it answers /healthz."""
    root.mkdir(parents=True, exist_ok=True)
    cmd = [script("torc-server"), "run", "--host", "127.0.0.1", "--port", str(port), *args]
    log = (root / f"server-{time.time_ns()}.log").open("w")
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=root)
    if port == 0:
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            for line in process.stdout or ():
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        while not port:
            line = lines.get(timeout=60)
            if line.startswith("TORC_SERVER_PORT="):
                port = int(line.split("=", 1)[1])
    server = Server(process, port, tuple(args), root)
    until("the server to answer", lambda: healthy(server), deadline=60)
    return server


def restart(server: Server) -> Server:
    """The same server again, on its port and database."""
    return start_server(server.root, *server.args, port=server.port)


def healthy(server: Server) -> bool:
    if server.process.poll() is not None:
        raise SystemExit(f"the server exited ({server.process.returncode}); logs in {server.root}")
    try:
        return httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def runner_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env["TORC_API_URL"] = url
    env.update(extra)
    return env


def torc_run(
    url: str, workflow_id: int, cwd: Path, *options: str, **env: str
) -> subprocess.Popen[str]:
    """`torc run ID` in `cwd` (output in cwd/output), in a session of its own."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [script("torc"), "run", str(workflow_id), "-o", "output", *options],
        env=runner_env(url, **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(runner: subprocess.Popen[str], what: str, timeout: float = 600) -> None:
    out, err = runner.communicate(timeout=timeout)
    if runner.returncode != 0:
        raise SystemExit(f"{what} exited {runner.returncode}:\n{out}\n{err}")


def create_workflow(url: str, name: str, jobs: list[dict[str, Any]]) -> int:
    with httpx.Client(base_url=url, timeout=120) as client:
        made = client.post("/workflow_specs", json={"name": name, "jobs": jobs})
        made.raise_for_status()
        return int(made.json()["id"])


def listed(url: str, what: str, workflow_id: int) -> list[dict[str, Any]]:
    """Every row of a list route for the workflow, page by page."""
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            params = {"workflow_id": workflow_id, "offset": len(rows), "limit": 10_000}
            page = client.get(f"/{what}", params=params)
            page.raise_for_status()
            items = page.json()["items"]
            rows.extend(items)
            if len(items) < 10_000:
                return rows


def result_count(url: str, workflow_id: int) -> int:
    """How many results the server has recorded for the workflow (-1: no answer)."""
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            page = client.get("/results", params={"workflow_id": workflow_id, "limit": 1})
            return int(page.json()["total_count"]) if page.is_success else -1
    except httpx.HTTPError:
        return -1
