"""Job completions per second through `batch_complete_jobs`, and one `complete_job`'s latency.

    python bench/completions.py [-n 10000] [--batch 1000] [--single 500]
                                [--backend sqlite|postgresql|both] [--pg-admin URL]

For each backend: starts a real `torc-server` process (no authentication) on a fresh SQLite
file or a fresh PostgreSQL database (created for this run and dropped after it), and talks to
it over HTTP. The workflow has N jobs in pairs, `a_i` then `b_i` (b_i depends on a_i), so that
every completion of an `a` readies a dependent in the same transaction: there is no background
pass and no delay. All the `a` jobs are claimed and started, then completed in batches of
`--batch` (timed); then the `b` jobs, now ready, the same way (timed). Completions per second
is all the completions over the time of the batch calls alone. Then `--single` jobs are
completed one call each (`complete_job`) over one connection, and the latency of each call is
reported (p50, p99). The target is 2,000 completions/s through batches on this machine, with
dependents readied in the same transaction. Figures only; no limits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_overhead import database, start_server

from teamgate.client.torc import TorcClient

TARGET = 2000.0  # completions/s through batch_complete_jobs


def make_workflow(client: TorcClient, pairs: int, singles: int) -> int:
    jobs: list[dict[str, Any]] = []
    for i in range(pairs):
        jobs.append({"name": f"a{i}", "command": "true"})
        jobs.append({"name": f"b{i}", "command": "true", "depends_on": [f"a{i}"]})
    jobs.extend({"name": f"s{i}", "command": "true"} for i in range(singles))
    created = client.create_workflow_from_spec({"name": "completions", "jobs": jobs})
    workflow = int(created["id"])
    client.initialize_jobs(workflow)
    return workflow


def register(client: TorcClient, workflow: int) -> int:
    node = client.create_compute_node(
        {
            "workflow_id": workflow,
            "hostname": "bench",
            "pid": os.getpid(),
            "start_time": "2026-01-01T00:00:00Z",
            "num_cpus": 64,
            "memory_gb": 256.0,
            "num_gpus": 0,
            "num_nodes": 1,
            "compute_node_type": "local",
            "is_active": True,
        }
    )
    return int(node["id"])


def claim_and_start(client: TorcClient, workflow: int, node: int, prefix: str) -> list[Any]:
    """Every ready job whose name starts with `prefix`, claimed and started (not timed)."""
    offer = {"num_cpus": 64, "memory_gb": 256.0, "num_gpus": 0, "num_nodes": 1, "id": node}
    jobs = client.claim_jobs_for_queue(workflow, 10_000, offer)
    mine = [j for j in jobs if j["name"].startswith(prefix)]
    for at in range(0, len(mine), 1000):
        chunk = [j["id"] for j in mine[at : at + 1000]]
        client.batch_start_jobs(workflow, 1, node, chunk)
    others = [j["id"] for j in jobs if not j["name"].startswith(prefix)]
    for at in range(0, len(others), 1000):
        client.release_jobs(workflow, node, others[at : at + 1000])
    return mine


def result(job: dict[str, Any], node: int) -> dict[str, Any]:
    return {
        "job_id": job["id"],
        "workflow_id": job["workflow_id"],
        "run_id": 1,
        "compute_node_id": node,
        "return_code": 0,
        "exec_time_minutes": 0.001,
        "completion_time": "2026-01-01T00:00:01Z",
        "status": "completed",
    }


def complete_in_batches(
    client: TorcClient, workflow: int, node: int, jobs: list[Any], size: int
) -> float:
    """Seconds spent in batch_complete_jobs calls for `jobs`."""
    spent = 0.0
    for at in range(0, len(jobs), size):
        entries = [
            {"job_id": j["id"], "status": "completed", "run_id": 1, "result": result(j, node)}
            for j in jobs[at : at + size]
        ]
        began = time.perf_counter()
        answer = client.batch_complete_jobs(workflow, entries)
        spent += time.perf_counter() - began
        if answer.get("errors") or len(answer["completed"]) != len(entries):
            raise SystemExit(f"a batch was not recorded whole: {answer.get('errors')[:3]}")
    return spent


def single_latencies(client: TorcClient, node: int, jobs: list[Any]) -> list[float]:
    latencies = []
    for job in jobs:
        began = time.perf_counter()
        client.complete_job(job["id"], "completed", 1, result(job, node))
        latencies.append(time.perf_counter() - began)
    return latencies


def measure(backend: str, args: argparse.Namespace) -> None:
    pairs = args.jobs // 2
    with tempfile.TemporaryDirectory(prefix="completions_") as tmp:
        root = Path(tmp)
        with database(backend, root, args.pg_admin) as db:
            server, url = start_server(root, db)
            client = TorcClient(url, timeout=300)
            try:
                workflow = make_workflow(client, pairs, args.single)
                node = register(client, workflow)
                firsts = claim_and_start(client, workflow, node, "a")
                singles = claim_and_start(client, workflow, node, "s")
                spent = complete_in_batches(client, workflow, node, firsts, args.batch)
                seconds = claim_and_start(client, workflow, node, "b")
                if len(seconds) != pairs:
                    raise SystemExit(f"{len(seconds)} of {pairs} dependents were readied")
                spent += complete_in_batches(client, workflow, node, seconds, args.batch)
                latencies = single_latencies(client, node, singles)
                status = client.workflow_status(workflow)
                if not status.get("is_complete"):
                    raise SystemExit(f"the workflow is not complete: {status}")
            finally:
                client.close()
                server.terminate()
                server.wait(timeout=30)
    done = 2 * pairs
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(f"{backend}: {done} completions in batches of {args.batch} (each readies a dependent)")
    print(f"  batch_complete_jobs: {done / spent:8.0f} completions/s  (target {TARGET:.0f})")
    print(
        f"  complete_job, one call each ({len(latencies)}): "
        f"p50 {cuts[49] * 1000:.1f} ms  p99 {cuts[98] * 1000:.1f} ms  "
        f"({len(latencies) / sum(latencies):.0f} completions/s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", "--jobs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("TEAMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        measure(backend, args)


if __name__ == "__main__":
    main()
