"""Jobs per second through `torc run`, beside `xargs -P <cpus>` running the same commands.

    python bench/run_overhead.py [-n 10000] [--command true] [--cpus N]
                                 [--backend sqlite|postgresql|both] [--pg-admin URL]

For each backend: starts a `torc-server` (no authentication) on a fresh SQLite file, or on a
fresh PostgreSQL database made for this run and dropped after it (`--pg-admin`: a URL of the
server's maintenance database, PostgreSQL 15 on 127.0.0.1:5432 by default), creates one
workflow of N independent jobs whose command is `--command`, and times `torc run ID` from its
start to its exit (creating the workflow is not timed). Then times `xargs -P <cpus>` running the
same N commands through `bash -c`, as the runner does. Both run on this machine in the same
invocation, so background load hits both alike. The runner's share of a job is everything
xargs does not do: claiming, starting and completing it on the server, measuring it, and
writing its stdout/stderr files. Prints jobs/s for each and their ratio; the target is 300
jobs/s through `torc run` on a 2-CPU machine. Figures only; no limits.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TARGET = 300.0  # jobs/s through `torc run` on this 2-CPU machine


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start_server(root: Path, database: str) -> tuple[subprocess.Popen[str], str]:
    """`torc-server run` on a free port; (process, API URL) once it reports its port."""
    cmd = [_script("torc-server"), "run", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--database", database]
    log = (root / "server.log").open("w")
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=root)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(x) for x in server.stdout or ()], daemon=True
    ).start()
    while True:
        line = lines.get(timeout=60)
        if line.startswith("TORC_SERVER_PORT="):
            return server, f"http://127.0.0.1:{int(line.split('=', 1)[1])}/torc-service/v1"


@contextmanager
def database(backend: str, root: Path, pg_admin: str) -> Iterator[str]:
    """A fresh database for one run: a new SQLite file, or a PostgreSQL database created
    here and dropped afterwards."""
    if backend == "sqlite":
        yield str(root / "torc.db")
        return
    import psycopg

    name = f"teamgate_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def torc(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env["TORC_API_URL"] = url
    return subprocess.run(
        [_script("torc"), *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )


def time_torc_run(url: str, root: Path, jobs: int, command: str, cpus: int) -> float:
    spec = {
        "name": "overhead",
        "jobs": [{"name": f"j{i}", "command": command} for i in range(jobs)],
    }
    (root / "spec.json").write_text(json.dumps(spec))
    created = json.loads(
        torc(url, "-f", "json", "workflows", "create", "spec.json", cwd=root).stdout
    )
    began = time.perf_counter()
    torc(url, "run", str(created["id"]), "--num-cpus", str(cpus), cwd=root)
    elapsed = time.perf_counter() - began
    status = json.loads(
        torc(url, "-f", "json", "workflows", "status", str(created["id"]), cwd=root).stdout
    )
    done = (status.get("jobs_by_status") or {}).get("completed", 0)
    if done != jobs:
        raise SystemExit(f"only {done} of {jobs} jobs completed: {status}")
    return elapsed


def time_xargs(jobs: int, command: str, cpus: int) -> float:
    lines = "".join(f"{command}\n" for _ in range(jobs))
    began = time.perf_counter()
    subprocess.run(
        ["xargs", "-P", str(cpus), "-d", "\n", "-n", "1", "bash", "-c"],
        input=lines,
        text=True,
        check=True,
    )
    return time.perf_counter() - began


def measure(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="run_overhead_") as tmp:
        root = Path(tmp)
        with database(backend, root, args.pg_admin) as db:
            server, url = start_server(root, db)
            try:
                runner = time_torc_run(url, root, args.jobs, args.command, args.cpus)
            finally:
                server.terminate()
                server.wait(timeout=30)
    baseline = time_xargs(args.jobs, args.command, args.cpus)
    rate, xrate = args.jobs / runner, args.jobs / baseline
    print(f"{backend}: {args.jobs} jobs of `{args.command}` on {args.cpus} CPUs")
    print(f"  torc run:     {runner:7.2f} s  {rate:8.1f} jobs/s  (target {TARGET:.0f})")
    print(f"  xargs -P {args.cpus}:   {baseline:7.2f} s  {xrate:8.1f} jobs/s")
    print(f"  ratio:        torc run / xargs = {rate / xrate:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", "--jobs", type=int, default=10_000)
    parser.add_argument("--command", default="true")
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("TEAMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        measure(backend, args)


if __name__ == "__main__":
    main()
