"""Jobs per second through `torc run`, beside `xargs -P <cpus>` running the same commands.

    python bench/run_overhead.py [-n 2000] [--command true] [--cpus N]

Starts a `torc-server` on a fresh SQLite file (no authentication), creates one workflow of N
independent jobs whose command is `--command`, and times `torc run ID` from its start to its
exit (creating the workflow is not timed). Then times `xargs -P <cpus>` running the same N
commands through `bash -c`, as the runner does. Both run on this machine in the same
invocation, so background load hits both alike. The runner's share of a job is everything
xargs does not do: claiming, starting and completing it on the server, measuring it, and
writing its stdout/stderr files. Figures only; no limits.
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
from pathlib import Path


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    """`torc-server run` on a free port; (process, API URL) once it reports its port."""
    cmd = [_script("torc-server"), "run", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--database", str(root / "torc.db")]
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
    return time.perf_counter() - began


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--jobs", type=int, default=2000)
    parser.add_argument("--command", default="true")
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="run_overhead_") as tmp:
        root = Path(tmp)
        server, url = start_server(root)
        try:
            runner = time_torc_run(url, root, args.jobs, args.command, args.cpus)
        finally:
            server.terminate()
            server.wait(timeout=30)
    baseline = time_xargs(args.jobs, args.command, args.cpus)
    print(f"{args.jobs} jobs of `{args.command}` on {args.cpus} CPUs")
    print(f"torc run:      {runner:7.2f} s  {args.jobs / runner:8.1f} jobs/s")
    print(f"xargs -P {args.cpus}:    {baseline:7.2f} s  {args.jobs / baseline:8.1f} jobs/s")
    print(f"ratio:         xargs is {runner / baseline:.1f}x faster")


if __name__ == "__main__":
    main()
