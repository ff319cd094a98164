"""Running a workflow's jobs in Slurm allocations.

`torc submit-slurm` groups the ready jobs by resource requirements and submits one allocation
per group (`submit_group`): the allocation is recorded on the server first, then `sbatch` gets
a batch script that only `exec`s this module's runner (`python -m teamgate.runner.slurm
--workflow-id W --allocation-id N --output-dir DIR`). Nothing secret is in argv, the script or
sbatch's environment: the runner token reaches the allocation as a file path
(TORC_TOKEN_FILE), and TORC_API_URL carries no `user:password@`.

In the allocation, `run_allocation` reads the token, marks the allocation running, runs the
ordinary `JobRunner` with the allocation's CPUs and memory (it claims only jobs that fit) and a
short idle timeout, marks the allocation done, and only then submits an allocation for every
group with ready jobs and none submitted or running: that is how later stages get theirs, and
as each runner looks after marking itself done, two runners finishing together cannot both
miss a group.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teamgate.client.http import ApiError
from teamgate.client.torc import TorcClient
from teamgate.domain.spec_values import memory_bytes, runtime_seconds
from teamgate.errors import Invalid, TeamgateError
from teamgate.runner.loop import HIDDEN_ENV, JobRunner, Settings, without_credentials

DEFAULT_GROUP = "default"  # jobs without resource requirements
DEFAULT_MEMORY = 1 << 30  # what an allocation of the default group asks for
MIB = 1 << 20
SLURM_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,255}$")
TOKEN_FILE_ENV = "TORC_TOKEN_FILE"
IDLE_TIMEOUT = 3.0  # seconds an allocation waits with nothing here to run
# What an allocation asks beyond its group's runtime (the runner's start and sign-off), and
# what its runner keeps back at the end: it claims no job that would run past that.
START_MARGIN_SECS = 60
END_MARGIN_SECS = 30


@dataclass(frozen=True, slots=True)
class Group:
    """Ready jobs that share resource requirements, and what their allocation asks for."""

    name: str
    resource_requirements_id: int | None
    num_cpus: int
    memory_bytes: int
    time_limit: str | None  # Slurm's D-HH:MM:SS; None: the partition's default
    ready: int

    def allocation(self, account: str, partition: str | None) -> dict[str, Any]:
        return {
            "group_name": self.name,
            "account": account,
            "partition": partition,
            "num_cpus": self.num_cpus,
            "memory_bytes": self.memory_bytes,
            "time_limit": self.time_limit,
            "resource_requirements_id": self.resource_requirements_id,
        }


def check_slurm_name(value: str, what: str) -> str:
    if not SLURM_NAME.match(value):
        raise Invalid(f"{what} {value!r}: letters, digits and _ . + - only (at most 255)")
    return value


def slurm_time(seconds: int) -> str:
    """Seconds as Slurm's `D-HH:MM:SS`, rounded up to whole minutes (at least one)."""
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    return f"{days}-{minutes // 60:02d}:{minutes % 60:02d}:00"


def slurm_seconds(time_limit: str) -> int:
    """Slurm's `D-HH:MM:SS` (as `slurm_time` writes it) in seconds."""
    days, _, clock = time_limit.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def allocation_end(time_limit: str | None, started: float) -> float | None:
    """When the allocation's runner must be done (time.time()): Slurm's end of the job when
    it says (SLURM_JOB_END_TIME), else its start plus the time asked for; less a margin."""
    end = os.environ.get("SLURM_JOB_END_TIME", "")
    if end.isdigit() and int(end) > 0:
        return int(end) - END_MARGIN_SECS
    if time_limit:
        return started + slurm_seconds(time_limit) - END_MARGIN_SECS
    return None


def group_of(requirements: dict[str, Any] | None, ready: int) -> Group:
    if not requirements:
        return Group(DEFAULT_GROUP, None, 1, DEFAULT_MEMORY, None, ready)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(requirements.get("name") or "rr"))[:64]
    runtime = requirements.get("runtime")
    return Group(
        name=f"{name}" if name != DEFAULT_GROUP else f"{name}_{requirements['id']}",
        resource_requirements_id=int(requirements["id"]),
        num_cpus=max(1, int(requirements.get("num_cpus") or 1)),
        memory_bytes=max(MIB, memory_bytes(str(requirements.get("memory") or "1g"))),
        time_limit=slurm_time(runtime_seconds(str(runtime)) + START_MARGIN_SECS)
        if runtime
        else None,
        ready=ready,
    )


def ready_groups(client: TorcClient, workflow_id: int) -> list[Group]:
    """The workflow's ready jobs, grouped by resource requirements (ordered by group name)."""
    counts: dict[int | None, int] = {}
    for job in client.pages("/jobs", workflow_id=workflow_id, status="ready", limit=10**9):
        rr = job.get("resource_requirements_id")
        counts[rr] = counts.get(rr, 0) + 1
    groups = [
        group_of(client.get_resource_requirements(rr) if rr is not None else None, n)
        for rr, n in counts.items()
    ]
    return sorted(groups, key=lambda g: g.name)


def sbatch_env(api_url: str, token_file: Path) -> dict[str, str]:
    """sbatch's environment, which Slurm copies into the allocation: the caller's, without
    passwords or tokens, with the server's URL and where the runner token is."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
    env.pop(TOKEN_FILE_ENV, None)
    env["TORC_API_URL"] = without_credentials(api_url)
    env[TOKEN_FILE_ENV] = str(token_file)
    return env


def batch_script(workflow_id: int, allocation_id: int, output_dir: Path) -> str:
    argv = [
        sys.executable,
        "-m",
        "teamgate.runner.slurm",
        "--workflow-id",
        str(workflow_id),
        "--allocation-id",
        str(allocation_id),
        "--output-dir",
        str(output_dir),
    ]
    return (
        "#!/bin/bash\n"
        f"# teamgate: allocation {allocation_id} of workflow {workflow_id}\n"
        f"exec {shlex.join(argv)}\n"
    )


def submit_group(
    client: TorcClient,
    workflow_id: int,
    group: Group,
    *,
    account: str,
    partition: str | None,
    output_dir: Path,
    token_file: Path,
    workdir: Path,
    only_if_none_active: bool = True,
) -> dict[str, Any] | None:
    """Record an allocation for `group` and sbatch it; the allocation (with its Slurm job id),
    or None when the group has one submitted or running already. A failed sbatch marks the
    allocation failed and raises."""
    try:
        allocation = client.create_slurm_allocation(
            workflow_id,
            group.allocation(account, partition),
            only_if_none_active=only_if_none_active,
        )
    except ApiError as exc:
        if exc.status == 409 and only_if_none_active and "already has" in str(exc):
            return None
        raise
    output_dir = output_dir.resolve()
    argv = [
        "sbatch",
        "--parsable",
        f"--account={account}",
        f"--job-name=torc_wf{workflow_id}_{group.name}",
        f"--cpus-per-task={group.num_cpus}",
        f"--mem={max(1, math.ceil(group.memory_bytes / MIB))}M",
        "--nodes=1",
        f"--output={output_dir / 'slurm_%j.out'}",
        f"--chdir={workdir}",
    ]
    if partition:
        argv.append(f"--partition={partition}")
    if group.time_limit:
        argv.append(f"--time={group.time_limit}")
    script = batch_script(workflow_id, int(allocation["id"]), output_dir)
    env = sbatch_env(client.base_url, token_file)
    try:
        done = subprocess.run(
            argv, input=script, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        failure = None if done.returncode == 0 else (done.stderr.strip() or done.stdout.strip())
    except (OSError, subprocess.TimeoutExpired) as exc:
        failure = str(exc)
    if failure is not None:
        client.update_slurm_allocation(workflow_id, allocation["id"], {"state": "failed"})
        raise TeamgateError(f"sbatch for group '{group.name}' failed: {failure}")
    job_id = done.stdout.strip().split(";")[0]
    return dict(
        client.update_slurm_allocation(workflow_id, allocation["id"], {"slurm_job_id": job_id})
    )


def submit_ready(
    client: TorcClient,
    workflow_id: int,
    *,
    account: str,
    partition: str | None,
    output_dir: Path,
    token_file: Path,
    workdir: Path,
    groups: list[Group] | None = None,
) -> tuple[list[dict[str, Any]], list[Group]]:
    """An allocation for every group with ready jobs (`groups`, else asked afresh) and none
    active: (submitted, skipped)."""
    submitted, skipped = [], []
    for group in ready_groups(client, workflow_id) if groups is None else groups:
        made = submit_group(
            client,
            workflow_id,
            group,
            account=account,
            partition=partition,
            output_dir=output_dir,
            token_file=token_file,
            workdir=workdir,
        )
        if made is None:
            skipped.append(group)
        else:
            submitted.append({**made, "ready_jobs": group.ready})
    return submitted, skipped


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each job it still knows (squeue, then scontrol for finished ones);
    raises OSError when the Slurm commands are missing."""
    states: dict[str, str] = {}
    if not job_ids:
        return states
    queued = subprocess.run(
        ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    for line in queued.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    for job_id in job_ids:
        if job_id in states:
            continue
        shown = subprocess.run(
            ["scontrol", "-o", "show", "job", job_id],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        found = re.search(r"\bJobState=(\S+)", shown.stdout)
        states[job_id] = found[1] if found else "gone"
    return states


class _Log:
    """The allocation runner's lines on stdout (Slurm's output file); `registered` is called
    once, at the first status (the runner has registered its compute node by then)."""

    def __init__(self, registered: Callable[[], None]) -> None:
        self._registered: Callable[[], None] | None = registered

    def status(self, summary: dict[str, Any]) -> None:
        if self._registered is not None:
            registered, self._registered = self._registered, None
            registered()

    def started(self, job: dict[str, Any]) -> None:
        print(f"started job {job['id']} {job['name']}", flush=True)

    def finished(self, job: dict[str, Any], status: str, return_code: int) -> None:
        print(f"finished job {job['id']} {job['name']}: {status} ({return_code})", flush=True)


def read_token(path: Path) -> str:
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise Invalid(f"the runner token file {path} is empty")
    return token


def run_allocation(workflow_id: int, allocation_id: int, output_dir: Path) -> int:
    """The allocation's runner (see the module's docstring); its exit status."""
    started = time.time()  # the allocation's start, near enough (its runner starts at once)
    token_path = os.environ.pop(TOKEN_FILE_ENV, None)
    for name in HIDDEN_ENV:
        os.environ.pop(name, None)
    if not token_path:
        print(f"teamgate: {TOKEN_FILE_ENV} is not set", file=sys.stderr)
        return 2
    token_file = Path(token_path)
    url = os.environ.get("TORC_API_URL", "http://localhost:8080/torc-service/v1")
    headers = {"Authorization": f"Bearer {read_token(token_file)}"}
    with TorcClient(url, headers=headers) as client:
        mine = {"state": "running", "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None}
        allocation = client.update_slurm_allocation(
            workflow_id, allocation_id, {k: v for k, v in mine.items() if v}
        )
        cpus = int(os.environ.get("SLURM_CPUS_ON_NODE") or allocation["num_cpus"])
        mem_mb = int(os.environ.get("SLURM_MEM_PER_NODE") or allocation["memory_bytes"] // MIB)
        settings = Settings(
            workflow_id=workflow_id,
            output_dir=output_dir,
            num_cpus=cpus,
            memory_gb=mem_mb / 1024,
            idle_timeout=IDLE_TIMEOUT,
            ends_at=allocation_end(allocation.get("time_limit"), started),
        )

        def registered() -> None:
            """Name the allocation's compute node at once: if its heartbeats stop, the
            server's lost-runner sweep ends the allocation, and the group can get another."""
            try:
                change = {"compute_node_id": runner.node_id}
                client.update_slurm_allocation(workflow_id, allocation_id, change)
            except ApiError as exc:  # the run goes on; the end of the allocation names it
                print(f"allocation {allocation_id}: compute node not recorded: {exc}", flush=True)

        runner = JobRunner(client, settings, _Log(registered))
        state, status = "failed", 1
        try:
            outcome = runner.run()
            state, status = "done", 0
        except ApiError as exc:
            if exc.status != 401:
                raise
            # the token ended: the workflow completed or was canceled (or it expired)
            state, status = "done", 0
            print(f"allocation {allocation_id}: stopped, {exc}", flush=True)
            token_file.unlink(missing_ok=True)  # revoked: of no use to anyone
            return status
        finally:
            end = {
                "state": state,
                **({"compute_node_id": runner.node_id} if runner.node_id else {}),
            }
            try:
                client.update_slurm_allocation(workflow_id, allocation_id, end)
            except ApiError as exc:
                # 409: canceled meanwhile (torc workflows cancel) stays so; 401: the token
                # ended with the workflow (torc slurm status records the end from Slurm's)
                if exc.status not in (401, 409):
                    raise
                print(f"allocation {allocation_id} not marked {state}: {exc}", flush=True)
        print(f"allocation {allocation_id}: {outcome.stuck or 'nothing left to run'}", flush=True)
        if outcome.canceled or outcome.summary.get("is_complete"):
            token_file.unlink(missing_ok=True)  # the server revoked it with the workflow's end
            return status
        if outcome.signal is not None:
            return status
        submitted, _ = submit_ready(
            client,
            workflow_id,
            account=allocation["account"],
            partition=allocation["partition"],
            output_dir=output_dir,
            token_file=token_file,
            workdir=Path.cwd(),
        )
        for made in submitted:
            print(
                f"submitted allocation {made['id']} (Slurm job {made['slurm_job_id']}) "
                f"for group {made['group_name']}",
                flush=True,
            )
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teamgate.runner.slurm")
    parser.add_argument("--workflow-id", type=int, required=True)
    parser.add_argument("--allocation-id", type=int, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        return run_allocation(args.workflow_id, args.allocation_id, args.output_dir)
    except TeamgateError as exc:
        print(f"teamgate: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
