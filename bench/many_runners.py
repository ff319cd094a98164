"""Many runners on one PostgreSQL: 8 `torc run` processes, 2 server processes, 10,000 jobs.

    python bench/many_runners.py [-n 10000] [--runners 8] [--servers 2] [--cpus-per-runner 1]
                                 [--command true] [--pg-admin URL]

Creates a fresh PostgreSQL database for the run (dropped after it), starts `--servers`
`torc-server` processes on it, creates one workflow of N independent jobs (not initialized:
the runners start on it together, as Slurm allocations do), then starts
`--runners` `torc run ID --num-cpus C` processes spread over the servers and times them from
the first start to the last exit. Checks that each job ran exactly once, from the database
(one result per job, completed) and from the runners' logs (each job started by one runner,
once), and prints jobs/s end to end, how the jobs spread over the runners, and the same
workflow through one runner on one server, with as many CPUs as all the runners together, in
the same invocation as the baseline. Figures
only; no limits (the issue's target: each exactly once, jobs/s reported).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
from fault_procs import PG_ADMIN, create_workflow, database, finish, start_server, torc_run

STARTED = re.compile(r"Job started job_id=(\d+) ")


def run(
    args: argparse.Namespace, root: Path, runners: int, servers: int, cpus: int
) -> dict[str, object]:
    with database("postgresql", root, args.pg_admin) as db:
        up = [start_server(root / f"server{i}", "--database", db) for i in range(servers)]
        try:
            jobs = [{"name": f"j{i}", "command": args.command} for i in range(args.jobs)]
            workflow_id = create_workflow(up[0].url, "many", jobs)
            options = ("--num-cpus", str(cpus), "-p", "0.5")
            began = time.monotonic()
            procs = [
                torc_run(up[k % servers].url, workflow_id, root / f"runner{k}", *options)
                for k in range(runners)
            ]
            for k, each in enumerate(procs):
                finish(each, f"runner {k}", timeout=3600)
            elapsed = time.monotonic() - began
            starts: Counter[int] = Counter()
            per_runner = []
            for k in range(runners):
                found = [
                    int(m.group(1))
                    for log in (root / f"runner{k}" / "output").glob("job_runner_*.log")
                    for m in STARTED.finditer(log.read_text())
                ]
                starts.update(found)
                per_runner.append(len(found))
            with psycopg.connect(db, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT j.id, count(r.id), count(r.id) FILTER (WHERE r.status = 'completed')"
                    " FROM job j LEFT JOIN result r ON r.job_id = j.id"
                    " WHERE j.workflow_id = %s GROUP BY j.id",
                    (workflow_id,),
                ).fetchall()
        finally:
            for server in up:
                server.stop()
    return {
        "elapsed": elapsed,
        "jobs": len(rows),
        "results_not_one": sum(1 for _, n, done in rows if n != 1 or done != 1),
        "started_not_once": sum(1 for i, _, _ in rows if starts[i] != 1),
        "per_runner": per_runner,
    }


def report(label: str, found: dict[str, object], jobs: int) -> float:
    elapsed = float(found["elapsed"])  # type: ignore[arg-type]
    rate = jobs / elapsed
    print(f"  {label}: {elapsed:7.2f} s  {rate:8.1f} jobs/s")
    print(f"    jobs in the database:                   {found['jobs']}")
    print(f"    jobs without exactly one result (done): {found['results_not_one']} (0 expected)")
    print(f"    jobs not started exactly once:          {found['started_not_once']} (0 expected)")
    print(f"    jobs per runner:                        {found['per_runner']}", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", "--jobs", type=int, default=10_000)
    parser.add_argument("--runners", type=int, default=8)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--cpus-per-runner", type=int, default=1)
    parser.add_argument("--command", default="true")
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    args = parser.parse_args()
    print(
        f"postgresql: {args.jobs} jobs of `{args.command}`, {args.runners} runners "
        f"(--num-cpus {args.cpus_per_runner}) on {args.servers} servers; "
        f"{len(os.sched_getaffinity(0))} CPUs here"
    )
    slots = args.runners * args.cpus_per_runner  # the baseline runs as many jobs at once
    with tempfile.TemporaryDirectory(prefix="many_runners_") as tmp:
        many = run(args, Path(tmp) / "many", args.runners, args.servers, args.cpus_per_runner)
    rate = report(f"{args.runners} runners, {args.servers} servers", many, args.jobs)
    with tempfile.TemporaryDirectory(prefix="many_runners_") as tmp:
        one = run(args, Path(tmp) / "one", 1, 1, slots)
    base = report(f"baseline: 1 runner (--num-cpus {slots}), 1 server", one, args.jobs)
    print(f"  ratio: many / one = {rate / base:.2f}", flush=True)


if __name__ == "__main__":
    main()
