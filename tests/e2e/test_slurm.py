"""`torc submit-slurm` on the real one-node Slurm cluster that scripts/slurm-up starts.

A tutorial-style workflow (three resource groups, dependencies across them, each job writing
its environment to a file) submitted by a team member completes in Slurm allocations; the jobs
ran inside them (SLURM_JOB_ID); no password or runner token is in a job's environment, a batch
script, the runner's argv, our logs or Slurm's; the runner token opens nothing but its
workflow; an outsider can neither submit nor watch. `torc workflows cancel` takes a running
allocation out of Slurm's queue. No cluster is a failure, never a skip.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import polling
from tests.conftest import BIN, Server, cli_env, password_of

ROOT = Path(__file__).resolve().parents[2]
V1 = "/torc-service/v1"
TEAM_SPEC = """\
name: slurm_pipeline
description: three stages in three Slurm allocations
jobs:
  - name: prepare
    command: env > envs/prepare.env
    resource_requirements: small
  - name: train_a
    command: env > envs/train_a.env
    resource_requirements: large
    depends_on: [prepare]
  - name: train_b
    command: env > envs/train_b.env
    resource_requirements: large
    depends_on: [prepare]
  - name: report
    command: env > envs/report.env
    depends_on: [train_a, train_b]
resource_requirements:
  - name: small
    num_cpus: 1
    memory: 512m
    runtime: PT5M
  - name: large
    num_cpus: 2
    memory: 1g
    runtime: PT10M
"""
SLEEP_SPEC = """\
name: slurm_sleeper
jobs:
  - name: nap
    command: sleep 300
"""


def until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    return polling.until(what, check, timeout, step=0.3)


@pytest.fixture(scope="module")
def cluster() -> None:
    """The local cluster, started (idempotently) by the project's script."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "slurm-up")], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        pytest.fail(f"no Slurm cluster: scripts/slurm-up failed:\n{done.stdout}{done.stderr}")


@pytest.fixture
def server(cluster: None, secured_server: Server) -> Server:
    return secured_server


def as_user(server: Server, user: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, auth=(user, password_of(user)), timeout=30)


def torc(server: Server, user: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "torc"), *args],
        env=cli_env(server, user),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def shared_workflow(server: Server, tmp_path: Path, spec: str) -> int:
    """Alice's workflow from `spec`, shared with group `team` (bob a member, dave not)."""
    with as_user(server, "alice") as alice:
        groups = alice.get(f"{V1}/access_groups").json()["items"]
        team = next((g["id"] for g in groups if g["name"] == "team"), None)
        if team is None:
            team = alice.post(f"{V1}/access_groups", json={"name": "team"}).json()["id"]
            member = {"user_name": "bob", "group_id": team, "role": "member"}
            assert alice.post(f"{V1}/access_groups/{team}/members", json=member).is_success
        spec_file = tmp_path / f"spec-{time.monotonic_ns()}.yaml"
        spec_file.write_text(spec)
        created = torc(
            server, "alice", tmp_path, "-f", "json", "workflows", "create", str(spec_file)
        )
        assert created.returncode == 0, created.stderr
        workflow = int(json.loads(created.stdout)["id"])
        assert alice.post(f"{V1}/workflows/{workflow}/access_groups/{team}").is_success
        return workflow


def squeue(*job_ids: str) -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


def texts_under(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and path.suffix != ".token":
                yield path, path.read_text(errors="replace")


def test_a_member_runs_a_shared_workflow_in_slurm_allocations(
    server: Server, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "envs").mkdir(parents=True)
    workflow = shared_workflow(server, tmp_path, TEAM_SPEC)

    # an outsider can neither submit nor watch it (and submits nothing)
    refused = torc(server, "dave", work, "submit-slurm", "--account", "acct", str(workflow))
    assert refused.returncode == 1 and "does not have access" in refused.stderr, refused.stderr
    watch = torc(server, "dave", work, "slurm", "status", str(workflow))
    assert watch.returncode == 1 and "does not have access" in watch.stderr, watch.stderr
    with as_user(server, "alice") as alice:
        assert alice.get(f"{V1}/workflows/{workflow}/slurm_allocations").json()["items"] == []

    submitted = torc(
        server, "bob", work, "-f", "json", "submit-slurm", "--account", "acct", str(workflow)
    )
    assert submitted.returncode == 0, submitted.stderr
    answer = json.loads(submitted.stdout)
    first = answer["allocations"]
    assert [a["group_name"] for a in first] == ["small"]  # only `prepare` is ready
    assert (first[0]["num_cpus"], first[0]["memory_bytes"]) == (1, 512 << 20)
    assert first[0]["time_limit"] == "0-00:06:00" and first[0]["slurm_job_id"]

    token_file = work / "output" / ".runner" / f"wf{workflow}.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.parent.stat().st_mode & 0o777 == 0o700
    token = token_file.read_text().strip()
    batch = subprocess.run(
        ["scontrol", "write", "batch_script", first[0]["slurm_job_id"], "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "teamgate.runner.slurm" in batch.stdout, batch.stderr
    assert token not in batch.stdout and password_of("bob") not in batch.stdout

    with as_user(server, "bob") as bob:

        def complete() -> bool:
            state = bob.get(f"{V1}/workflows/{workflow}/is_complete").json()
            return bool(state["is_complete"])

        until(complete, f"workflow {workflow} to complete in Slurm")
        jobs = bob.get(f"{V1}/jobs", params={"workflow_id": workflow}).json()["items"]
        assert {j["name"]: j["status"] for j in jobs} == dict.fromkeys(
            ("prepare", "train_a", "train_b", "report"), "completed"
        )

    # each stage ran in an allocation of its group's size; `report` (no requirements) in any
    status = torc(server, "bob", work, "-f", "json", "slurm", "status", str(workflow))
    assert status.returncode == 0, status.stderr
    allocations = json.loads(status.stdout)
    slurm_jobs = {a["group_name"]: a["slurm_job_id"] for a in allocations}
    assert {"small", "large"} <= set(slurm_jobs) <= {"small", "large", "default"}
    large = next(a for a in allocations if a["group_name"] == "large")
    assert (large["num_cpus"], large["memory_bytes"], large["time_limit"]) == (
        2,
        1 << 30,
        "0-00:11:00",
    )
    # ended in Slurm, so ended here too (the last runner's token ended with the workflow)
    until(
        lambda: all(
            a["state"] == "done"
            for a in json.loads(
                torc(server, "bob", work, "-f", "json", "slurm", "status", str(workflow)).stdout
            )
        ),
        "every allocation to be recorded done",
        30,
    )
    # the runner that saw the workflow end removed its (revoked) token file
    until(lambda: not token_file.exists(), "the runner token file to be removed", 30)
    table = torc(server, "bob", work, "slurm", "status", str(workflow))
    assert "large" in table.stdout and "COMPLETED" in table.stdout, table.stdout
    # submitting the finished workflow again submits nothing and mints no token
    again = torc(server, "bob", work, "submit-slurm", "--account", "acct", str(workflow))
    assert again.returncode == 0 and "no ready jobs" in again.stdout, again.stderr
    assert not token_file.exists()
    after = torc(server, "bob", work, "-f", "json", "slurm", "status", str(workflow))
    assert len(json.loads(after.stdout)) == len(allocations)

    envs = {p.stem: p.read_text() for p in (work / "envs").glob("*.env")}
    assert sorted(envs) == ["prepare", "report", "train_a", "train_b"]
    group_of = {"prepare": "small", "train_a": "large", "train_b": "large"}
    for name, text in envs.items():
        lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if name in group_of:
            assert lines["SLURM_JOB_ID"] == slurm_jobs[group_of[name]], name
        assert lines["SLURM_JOB_ID"] in slurm_jobs.values(), name
        assert lines["TORC_WORKFLOW_ID"] == str(workflow)
        assert lines["PWD"] == str(work)  # where the workflow was submitted from
        assert "TORC_PASSWORD" not in lines and "TORC_TOKEN_FILE" not in lines
        assert "@" not in lines["TORC_API_URL"]

    # no password or token anywhere we or Slurm wrote
    secrets = (password_of("bob"), password_of("alice"), token)
    logs = [work / "output", work / "envs", server.log_path, Path("/var/log/slurm")]
    for path, text in texts_under(*logs):
        for secret in secrets:
            assert secret not in text, f"a secret in {path}"

    # the runner token opens nothing but its own workflow
    own = as_user(server, "bob").post(f"{V1}/workflows", json={"name": "bobs-other"}).json()["id"]
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as runner:
        for path in (f"{V1}/workflows/{own}", f"{V1}/audit", "/v1/units"):
            assert runner.get(path).status_code in (401, 403), path


def test_cancel_takes_the_allocation_out_of_slurm(server: Server, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    workflow = shared_workflow(server, tmp_path, SLEEP_SPEC)
    submitted = torc(
        server, "alice", work, "-f", "json", "submit-slurm", "--account", "acct", str(workflow)
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["allocations"][0]["slurm_job_id"]
    token = (work / "output" / ".runner" / f"wf{workflow}.token").read_text().strip()

    def nap_running() -> bool:
        with as_user(server, "alice") as alice:
            jobs = alice.get(f"{V1}/jobs", params={"workflow_id": workflow}).json()["items"]
        return jobs[0]["status"] == "running"

    until(nap_running, "the sleep job to run in its allocation")
    assert squeue(job_id) == {job_id: "RUNNING"}
    # the allocation names its compute node while it runs (a lost node ends it)
    running = json.loads(
        torc(server, "alice", work, "-f", "json", "slurm", "status", str(workflow)).stdout
    )
    assert running[0]["state"] == "running" and running[0]["compute_node_id"], running
    # the allocation's runner: its argv holds no secret
    found = subprocess.run(
        ["pgrep", "-f", f"teamgate.runner.slurm --workflow-id {workflow} "],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert found, "no allocation runner process"
    for pid in found:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert token not in argv and password_of("alice") not in argv

    canceled = torc(server, "alice", work, "workflows", "cancel", str(workflow))
    assert canceled.returncode == 0, canceled.stderr
    assert f"Canceled Slurm jobs: {job_id}" in canceled.stdout
    until(lambda: job_id not in squeue(job_id), f"Slurm job {job_id} to leave the queue", 30)
    status = torc(server, "alice", work, "-f", "json", "slurm", "status", str(workflow))
    assert [a["state"] for a in json.loads(status.stdout)] == ["canceled"]
