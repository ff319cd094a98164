"""Recovering from faults: a runner killed with SIGKILL mid-job, a server killed mid-run.

    python bench/faults.py [--backend sqlite|postgresql|both] [--heartbeat-timeout 2]
                           [--runner-jobs 40] [--server-jobs 300] [--pg-admin URL]

For each backend, on a fresh database (bench/fault_procs.py):

(a) runner kill: a workflow of `--runner-jobs` jobs (0.5 s each) on a server with the given
    heartbeat timeout (policy requeue). Runner A (`--num-cpus 2`) is killed with SIGKILL, and
    the jobs it was running with it (a machine lost), once a quarter of the jobs are done;
    runner B starts at once. Reports seconds from the kill until the lost jobs start again
    and until the workflow completes, beside the same workflow run without a kill.
(b) server kill: a workflow of `--server-jobs` short jobs; the server is killed with SIGKILL
    once a third of them have results and restarted at once on its port and database; the
    runner retries (TORC_RETRY_SECONDS). Reports seconds the server was down, from the restart
    to the next recorded completion, and the total run, beside a run without a kill.
(c) for both: jobs that ran to completion twice (must be 0) and jobs killed mid-run and run
    again by the lost-job policy (counted separately), from a ledger each job appends to, and
    results per job from the API (exactly one completed each).

Figures only; no limits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fault_procs import (
    PG_ADMIN,
    create_workflow,
    database,
    finish,
    listed,
    restart,
    result_count,
    start_server,
    torc_run,
    until,
)


@dataclass
class Ledger:
    """Lines `S|E name attempt runner-pid job-pid time` that each job appends."""

    path: Path

    def command(self, seconds: float) -> str:
        fields = "$TORC_JOB_NAME $TORC_ATTEMPT_ID $PPID $$ $(date +%s.%N)"
        return (
            f'echo "S {fields}" >> {self.path}; sleep {seconds}; echo "E {fields}" >> {self.path}'
        )

    def rows(self) -> list[tuple[str, str, int, int, int, float]]:
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text().splitlines():
            kind, name, attempt, runner, pid, when = line.split()
            found.append((kind, name, int(attempt), int(runner), int(pid), float(when)))
        return found


@dataclass
class Tally:
    completed_twice: list[str] = field(default_factory=list)  # must stay empty
    killed_and_rerun: list[str] = field(default_factory=list)  # by the lost-job policy
    never_completed: list[str] = field(default_factory=list)
    results_not_one: list[str] = field(default_factory=list)  # jobs without exactly one


def tally(ledger: Ledger, url: str, workflow_id: int, names: list[str], lost: set[str]) -> Tally:
    """`lost`: jobs whose runner died before their result reached the server (re-run by the
    policy, whether or not they were cut short)."""
    rows = ledger.rows()
    ends = Counter(name for kind, name, *_ in rows if kind == "E")
    starts = Counter(name for kind, name, *_ in rows if kind == "S")
    out = Tally()
    out.completed_twice = sorted(n for n in names if ends[n] > 1 and n not in lost)
    out.never_completed = sorted(n for n in names if ends[n] == 0)
    out.killed_and_rerun = sorted(n for n in lost if starts[n] > 1)
    by_id = {j["id"]: j["name"] for j in listed(url, "jobs", workflow_id)}
    done = Counter(
        by_id[r["job_id"]]
        for r in listed(url, "results", workflow_id)
        if r["status"] == "completed"
    )
    out.results_not_one = sorted(n for n in names if done[n] != 1)
    return out


def row(label: str, text: str) -> None:
    print(f"    {label + ':':<36} {text}", flush=True)


def some(names: list[str]) -> str:
    return f"{len(names)} {names[:5]}" if names else "0"


def print_tally(found: Tally) -> None:
    row("jobs completed twice", f"{some(found.completed_twice)} (0 expected)")
    row("jobs lost mid-run and run again", f"{len(found.killed_and_rerun)} (by policy)")
    row("jobs never completed", some(found.never_completed))
    row("jobs without one completed result", some(found.results_not_one))


def kill_runner(backend: str, root: Path, args: argparse.Namespace) -> None:
    ledger = Ledger(root / "ledger.txt")
    names = [f"j{i:03d}" for i in range(args.runner_jobs)]
    jobs = [{"name": n, "command": ledger.command(0.5)} for n in names]
    timeout = ("--heartbeat-timeout", str(args.heartbeat_timeout))
    with database(backend, root, args.pg_admin) as db:
        server = start_server(root / "server", "--database", db, *timeout)
        try:
            base_id = create_workflow(server.url, "baseline", jobs)
            began = time.monotonic()
            finish(
                torc_run(server.url, base_id, root / "base", "--num-cpus", "2", "-p", "0.2"),
                "baseline",
            )
            baseline = time.monotonic() - began
            ledger.path.unlink()

            workflow_id = create_workflow(server.url, "runner-kill", jobs)
            a_began = time.monotonic()
            a = torc_run(server.url, workflow_id, root / "a", "--num-cpus", "2", "-p", "0.2")
            until(
                "a quarter of the jobs",
                lambda: sum(r[0] == "E" for r in ledger.rows()) >= len(names) // 4,
            )
            until("runner A to be running a job", lambda: running(ledger, a.pid))
            lose_machine(a.pid)
            killed_at = time.time()
            a.wait()
            killed = lost_jobs(ledger, server.url, workflow_id, a.pid)
            b_began = time.monotonic()
            b = torc_run(server.url, workflow_id, root / "b", "--num-cpus", "2", "-p", "0.2")
            rerun: list[float] = []
            if killed:
                rerun = until(
                    "the lost jobs to start again",
                    lambda: restarted(ledger, killed, after_pid=a.pid),
                    deadline=args.heartbeat_timeout * 4 + 120,
                )
            finish(b, "runner B")
            total, whole = time.monotonic() - b_began, time.monotonic() - a_began
            found = tally(ledger, server.url, workflow_id, names, killed)
        finally:
            server.stop()
    timeout = args.heartbeat_timeout
    print(f"  (a) runner killed mid-job: {len(names)} jobs of 0.5 s, heartbeat timeout {timeout} s")
    row("jobs lost with the runner", some(sorted(killed)))
    if rerun:
        first, last = min(rerun) - killed_at, max(rerun) - killed_at
        row("kill -> lost jobs start again", f"{first:6.2f} s first, {last:6.2f} s last")
    row("kill -> workflow complete", f"{total:6.2f} s")
    row("whole run, with the kill", f"{whole:6.2f} s")
    row("same workflow, no kill", f"{baseline:6.2f} s")
    print_tally(found)


def lost_jobs(ledger: Ledger, url: str, workflow_id: int, runner_pid: int) -> set[str]:
    """Jobs the killed runner started whose result it never recorded."""
    by_id = {j["id"]: j["name"] for j in listed(url, "jobs", workflow_id)}
    recorded = {by_id[r["job_id"]] for r in listed(url, "results", workflow_id)}
    started = {name for kind, name, _, runner, *_ in ledger.rows() if runner == runner_pid}
    return started - recorded


def running(ledger: Ledger, runner_pid: int) -> dict[str, int]:
    """Jobs of this runner that started and have not ended: name -> the job's pid."""
    started: dict[tuple[str, int], int] = {}
    for kind, name, attempt, runner, pid, _ in ledger.rows():
        if runner != runner_pid:
            continue
        if kind == "S":
            started[(name, attempt)] = pid
        else:
            started.pop((name, attempt), None)
    return {name: pid for (name, _), pid in started.items()}


def restarted(ledger: Ledger, killed: set[str], *, after_pid: int) -> list[float] | None:
    """When each killed job started again (under another runner), once all have."""
    again: dict[str, float] = {}
    for kind, name, _, runner, _, when in ledger.rows():
        if kind == "S" and name in killed and runner != after_pid:
            again.setdefault(name, when)
    return list(again.values()) if len(again) == len(killed) else None


def lose_machine(runner_pid: int) -> None:
    """Kill the runner and every process under it at once, as when its machine is lost:
    stopped first, so that it spawns nothing while its jobs are found; each job leads a
    session of its own (a job just spawned, that has not written its first ledger line yet,
    dies too: it never ran)."""
    os.kill(runner_pid, signal.SIGSTOP)
    for pid in descendants(runner_pid):
        kill_group(pid)
    os.killpg(runner_pid, signal.SIGKILL)


def descendants(root: int) -> list[int]:
    """Every live process under `root` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(pid, signal.SIGKILL)  # a job is the leader of its own session


def kill_server(backend: str, root: Path, args: argparse.Namespace) -> None:
    ledger = Ledger(root / "ledger.txt")
    names = [f"j{i:04d}" for i in range(args.server_jobs)]
    jobs = [{"name": n, "command": ledger.command(0.02)} for n in names]
    env = {"TORC_RETRY_SECONDS": "120"}
    with database(backend, root, args.pg_admin) as db:
        server = start_server(root / "server", "--database", db)
        try:
            base_id = create_workflow(server.url, "baseline", jobs)
            began = time.monotonic()
            finish(
                torc_run(server.url, base_id, root / "base", "--num-cpus", "2", **env), "baseline"
            )
            baseline = time.monotonic() - began
            ledger.path.unlink()

            workflow_id = create_workflow(server.url, "server-kill", jobs)
            began = time.monotonic()
            runner = torc_run(server.url, workflow_id, root / "run", "--num-cpus", "2", **env)
            until(
                "a third of the results",
                lambda: result_count(server.url, workflow_id) >= len(names) // 3,
            )
            killed_at = time.monotonic()
            server.kill()
            server = restart(server)
            up_at = time.monotonic()
            before = result_count(server.url, workflow_id)
            until(
                "the next completion",
                lambda: result_count(server.url, workflow_id) > before,
                deadline=300,
            )
            next_at = time.monotonic()
            finish(runner, "the runner")
            total = time.monotonic() - began
            found = tally(ledger, server.url, workflow_id, names, set())
        finally:
            server.stop()
    print(f"  (b) server killed mid-run: {len(names)} jobs of 0.02 s, killed at {before} results")
    row("server down (kill -> healthy)", f"{up_at - killed_at:6.2f} s")
    row("restart -> next completion", f"{next_at - up_at:6.2f} s")
    row("whole run, with the kill", f"{total:6.2f} s")
    row("same workflow, no kill", f"{baseline:6.2f} s")
    print_tally(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--heartbeat-timeout", type=float, default=2.0)
    parser.add_argument("--runner-jobs", type=int, default=40)
    parser.add_argument("--server-jobs", type=int, default=300)
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        print(f"{backend}:", flush=True)
        with tempfile.TemporaryDirectory(prefix="faults_") as tmp:
            kill_runner(backend, Path(tmp) / "runner", args)
        with tempfile.TemporaryDirectory(prefix="faults_") as tmp:
            kill_server(backend, Path(tmp) / "server", args)


if __name__ == "__main__":
    main()
