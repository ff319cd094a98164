"""The runner's claim/start/complete loop against an in-memory stand-in for the server's
workflow calls (the real server is exercised in tests/cli/test_torc_run.py): every job runs
once and after its dependencies, within the CPUs given, with Torc's environment and never the
password; failures, jobs too big for the machine and Ctrl-C end the run as they should."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from teamgate.client.http import ApiError
from teamgate.domain.spec_values import runtime_seconds
from teamgate.runner.completions import Completer
from teamgate.runner.loop import JobRunner, Outcome, Settings

DONE = ("completed", "failed", "canceled", "terminated")
Job = dict[str, Any]


def _runtime(rr: dict[str, Any]) -> float:
    return float(runtime_seconds(rr["runtime"])) if rr.get("runtime") else 0.0


def _seconds(time_limit: str | None) -> float:
    return float(runtime_seconds(time_limit)) if time_limit else float("inf")


class FakeServer:
    """Jobs with dependencies and Torc's statuses; completing a job readies its dependents."""

    base_url = "http://torc.test/torc-service/v1"

    def __init__(self, jobs: list[dict[str, Any]], rrs: dict[int, dict[str, Any]] | None = None):
        self.jobs = {
            j["id"]: {"workflow_id": 1, "status": "uninitialized", "deps": [], **j} for j in jobs
        }
        self.rrs = rrs or {}
        self.results: list[dict[str, Any]] = []
        self.batches: list[int] = []  # entries per batch_complete_jobs call
        self.nodes: list[dict[str, Any]] = []
        self.running = 0
        self.most_running = 0
        self.on_status: Any = None
        self.claims: list[int] = []  # jobs each claim handed back again (claimed before)
        self.released: list[int] = []

    def is_complete(self, _wf: int) -> dict[str, Any]:
        return {"is_complete": self._complete(), "is_canceled": False}

    def _complete(self) -> bool:
        return all(j["status"] in DONE for j in self.jobs.values())

    def is_uninitialized(self, _wf: int) -> bool:
        return all(j["status"] == "uninitialized" for j in self.jobs.values())

    def initialize_jobs(self, _wf: int, *, only_uninitialized: bool = False) -> None:
        if not only_uninitialized:  # as the server: everything not done starts over
            for job in self.jobs.values():
                if job["status"] not in ("completed", "failed", "canceled", "disabled"):
                    job["status"] = "uninitialized"
        for job in self.jobs.values():
            if job["status"] in ("uninitialized", "terminated"):
                blocked = any(self.jobs[d]["status"] not in DONE[:3] for d in job["deps"])
                job["status"] = "blocked" if blocked else "ready"

    def get_workflow(self, _wf: int) -> dict[str, Any]:
        return {"id": 1, "run_id": 1}

    def retry_on_failure(self, total_secs: float, *, log: Any) -> None:
        self.retry_secs = total_secs

    def heartbeat(self, node_id: int) -> dict[str, Any]:
        return {"compute_node_id": node_id, "interval_secs": 10.0}

    def create_compute_node(self, node: dict[str, Any]) -> dict[str, Any]:
        self.nodes.append({**node, "id": len(self.nodes) + 1})
        return self.nodes[-1]

    def update_compute_node(self, node_id: int, node: dict[str, Any]) -> dict[str, Any]:
        self.nodes[node_id - 1] = node
        return node

    def workflow_status(self, _wf: int) -> dict[str, Any]:
        if self.on_status:
            self.on_status()
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[job["status"]] = counts.get(job["status"], 0) + 1
        return {
            "workflow_id": 1,
            "total_jobs": len(self.jobs),
            "jobs_by_status": counts,
            "is_complete": self._complete(),
            "is_canceled": False,
        }

    def get_resource_requirements(self, rr_id: int) -> dict[str, Any]:
        return self.rrs[rr_id]

    def get_file(self, file_id: int) -> dict[str, Any]:
        return {"id": file_id, "path": f"missing-{file_id}"}

    def claim_jobs_by_resources(self, _wf: int, limit: int, body: dict[str, Any]) -> list[Any]:
        cpus = body["num_cpus"]
        claimed = []
        for job in self.jobs.values():
            need = self.rrs.get(job.get("resource_requirements_id") or 0, {}).get("num_cpus", 1)
            if job["status"] == "ready" and len(claimed) < limit and need <= cpus:
                job["status"] = "pending"
                cpus -= need
                claimed.append(dict(job))
        return claimed

    def claim_jobs_for_queue(self, _wf: int, limit: int, body: dict[str, Any]) -> list[Any]:
        """The node's claimed, unstarted jobs again, then ready ones that each fit the offer."""
        node = body["id"]
        claimed = [
            dict(j)
            for j in self.jobs.values()
            if j["status"] == "pending" and j.get("node") == node
        ][:limit]
        self.claims.append(len(claimed))
        for job in self.jobs.values():
            rr = self.rrs.get(job.get("resource_requirements_id") or 0, {})
            need = rr.get("num_cpus", 1)
            fits = need <= body["num_cpus"] and _runtime(rr) <= _seconds(body.get("time_limit"))
            if job["status"] == "ready" and len(claimed) < limit and fits:
                job["status"], job["node"] = "pending", node
                claimed.append(dict(job))
        return claimed

    def batch_start_jobs(self, _wf: int, run_id: int, node: int, job_ids: list[int]) -> Any:
        errors = []
        for job_id in job_ids:
            try:
                self.start_job(job_id, run_id, node)
            except ApiError as exc:
                errors.append({"job_id": job_id, "message": str(exc)})
        return {"started": [], "errors": errors}

    def release_jobs(self, _wf: int, node: int, job_ids: list[int]) -> Any:
        released = []
        for job_id in job_ids:
            job = self.jobs[job_id]
            if job["status"] == "pending" and job.get("node") == node:
                job["status"], job["node"] = "ready", None
                released.append(job_id)
        self.released.extend(released)
        return {"released": released}

    def claim_next_jobs(self, _wf: int, limit: int) -> list[Any]:
        ready = [j for j in self.jobs.values() if j["status"] == "ready"][:limit]
        for job in ready:
            job["status"] = "pending"
        return [dict(j) for j in ready]

    def start_job(self, job_id: int, run_id: int, node_id: int) -> None:
        job = self.jobs[job_id]
        if job["status"] != "pending":
            raise ApiError(409, {"error": "Conflict", "message": "not pending"})
        job["status"] = "running"
        self.running += 1
        self.most_running = max(self.most_running, self.running)

    def complete_job(self, job_id: int, status: str, run_id: int, result: dict[str, Any]) -> None:
        self.jobs[job_id]["status"] = status
        self.running -= 1
        self.results.append(result)
        for job in self.jobs.values():
            # a job stopped by its runner will run again: its dependents wait for that run
            if job["status"] == "blocked" and all(
                self.jobs[d]["status"] in DONE[:3] for d in job["deps"]
            ):
                job["status"] = "ready"

    def batch_complete_jobs(self, workflow_id: int, entries: list[dict[str, Any]]) -> Any:
        """Each entry as complete_job; a refused one is reported, as teamgate and Torc do."""
        self.batches.append(len(entries))
        completed, errors = [], []
        for e in entries:
            try:
                self.complete_job(e["job_id"], e["status"], e["run_id"], e["result"])
            except ApiError as exc:
                errors.append({"job_id": e["job_id"], "message": str(exc)})
            else:
                completed.append(e["job_id"])
        return {"completed": completed, "errors": errors}


class Quiet:
    def status(self, summary: dict[str, Any]) -> None: ...

    def started(self, job: dict[str, Any]) -> None: ...

    def finished(self, job: dict[str, Any], status: str, return_code: int) -> None: ...


def run(server: FakeServer, tmp_path: Path, **options: Any) -> Outcome:
    settings = Settings(workflow_id=1, output_dir=tmp_path / "output", poll_interval=0.05)
    for name, value in options.items():
        setattr(settings, name, value)
    return JobRunner(server, settings, Quiet()).run()  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def logging_job(job_id: int, name: str, deps: Sequence[int] = (), *, pair: bool = True) -> Job:
    """A job that logs its start and end; with `pair`, it ends only once two jobs have
    started, so that a run that never ran two at once would hang instead of passing."""
    meet = "touch s.$TORC_JOB_ID; until [ $(ls s.* | wc -l) -ge 2 ]; do sleep 0.01; done; "
    return {
        "id": job_id,
        "name": name,
        "command": f"echo start {name} >> log; {meet if pair else ''}echo end {name} >> log",
        "deps": list(deps),
    }


def most_at_once(log: Path) -> int:
    """The most jobs running at one time, from their start and end lines in the log."""
    now = most = 0
    for line in log.read_text().splitlines():
        now += 1 if line.startswith("start") else -1
        most = max(most, now)
    return most


def test_every_job_runs_once_after_its_dependencies(tmp_path: Path) -> None:
    jobs = [logging_job(1, "a"), logging_job(2, "b", [1]), logging_job(3, "c", [1])]
    jobs += [logging_job(4, "d", [2, 3]), *(logging_job(i, f"x{i}") for i in range(5, 25))]
    server = FakeServer(jobs)
    outcome = run(server, tmp_path, num_cpus=3)
    assert outcome.signal is None and outcome.stuck is None
    lines = (tmp_path / "log").read_text().split("\n")[:-1]
    assert sorted(lines) == sorted(f"{w} {j['name']}" for j in jobs for w in ("start", "end"))
    order = {line: i for i, line in enumerate(lines)}
    for job in jobs:
        for dep in job["deps"]:
            assert order[f"end {server.jobs[dep]['name']}"] < order[f"start {job['name']}"]
    assert {j["status"] for j in server.jobs.values()} == {"completed"}
    assert 1 < most_at_once(tmp_path / "log") <= 3
    assert server.nodes[0]["is_active"] is False
    assert (tmp_path / "output" / "job_stdio" / "job_wf1_j4_r1_a1.o").exists()


def test_resource_requirements_bound_how_many_run_at_once(tmp_path: Path) -> None:
    jobs = [{**logging_job(i, f"j{i}"), "resource_requirements_id": 9} for i in range(1, 9)]
    server = FakeServer(jobs, rrs={9: {"num_cpus": 2, "memory": "1g"}})
    run(server, tmp_path, num_cpus=4, memory_gb=64)
    assert most_at_once(tmp_path / "log") == 2
    assert {j["status"] for j in server.jobs.values()} == {"completed"}


def test_max_parallel_jobs_bounds_a_queue_mode_run(tmp_path: Path) -> None:
    server = FakeServer([logging_job(i, f"j{i}", pair=False) for i in range(1, 10)])
    run(server, tmp_path, max_parallel_jobs=1)
    assert most_at_once(tmp_path / "log") == 1


def test_jobs_get_torcs_environment_but_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORC_PASSWORD", "s3cret")
    monkeypatch.setenv("OPENTACO_PASSWORD", "s3cret-too")
    monkeypatch.setenv("OPENTACO_TOKEN", "tg_s3cret")
    command = "env > env.txt"
    server = FakeServer(
        [{"id": 1, "name": "e", "command": command, "env": {"STAGE": "2", "TORC_PASSWORD": "x"}}]
    )
    run(server, tmp_path)
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / "env.txt").read_text().splitlines()
        if "=" in line
    )
    assert not {"TORC_PASSWORD", "OPENTACO_PASSWORD", "OPENTACO_TOKEN"} & set(env)
    assert "s3cret" not in (tmp_path / "env.txt").read_text()
    assert env["STAGE"] == "2"
    assert env["TORC_API_URL"] == FakeServer.base_url
    assert (env["TORC_WORKFLOW_ID"], env["TORC_JOB_ID"], env["TORC_JOB_NAME"]) == ("1", "1", "e")
    assert env["TORC_ATTEMPT_ID"] == "1"
    assert env["TORC_OUTPUT_DIR"] == str(tmp_path / "output")


def test_a_failure_is_recorded_with_its_return_code(tmp_path: Path) -> None:
    server = FakeServer(
        [{"id": 1, "name": "bad", "command": "exit 4"}, logging_job(2, "after", [1], pair=False)]
    )
    run(server, tmp_path)
    by_job = {r["job_id"]: r for r in server.results}
    assert (by_job[1]["status"], by_job[1]["return_code"]) == ("failed", 4)
    assert by_job[2]["status"] == "completed"  # the stand-in readies dependents of failures


def test_a_missing_output_file_fails_the_job(tmp_path: Path) -> None:
    server = FakeServer([{"id": 1, "name": "w", "command": "true", "output_file_ids": [5]}])
    run(server, tmp_path)
    assert (server.results[0]["status"], server.results[0]["return_code"]) == ("failed", 1)


def test_a_job_too_big_for_this_machine_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    server = FakeServer(
        [{"id": 1, "name": "huge", "command": "true", "resource_requirements_id": 1}],
        rrs={1: {"num_cpus": 64, "memory": "1g"}},
    )
    outcome = run(server, tmp_path, num_cpus=2)
    assert outcome.stuck and "1 ready jobs need more" in outcome.stuck
    assert server.jobs[1]["status"] == "ready"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_running_jobs_and_records_them_terminated(tmp_path: Path, signum: int) -> None:
    marker = tmp_path / "started"
    server = FakeServer(
        [
            {"id": 1, "name": "quick", "command": "true"},
            {
                "id": 2,
                "name": "slow",
                "command": f"touch {marker}; until [ -e go ]; do sleep 0.05; done",
            },
            {"id": 3, "name": "later", "command": "true", "deps": [2]},
        ]
    )

    def interrupt_once_started() -> None:
        if marker.exists():
            os.kill(os.getpid(), signum)

    server.on_status = interrupt_once_started
    outcome = run(server, tmp_path, num_cpus=2, grace=5)
    assert outcome.signal == signum and outcome.terminated == 1
    assert server.jobs[2]["status"] == "terminated"
    assert [r["return_code"] for r in server.results if r["job_id"] == 2] == [-15]
    assert server.jobs[3]["status"] == "blocked"
    assert server.nodes[0]["is_active"] is False
    # the handlers are restored: a later SIGINT is Python's KeyboardInterrupt again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    server.on_status = None
    (tmp_path / "go").touch()
    again = run(server, tmp_path, num_cpus=2)
    assert again.signal is None
    assert {j["status"] for j in server.jobs.values()} == {"completed"}
    assert [r["job_id"] for r in server.results].count(1) == 1


class DeletingServer(FakeServer):
    """A server on which job 1 is deleted while it runs: completing it answers 404."""

    def complete_job(self, job_id: int, status: str, run_id: int, result: dict[str, Any]) -> None:
        if job_id == 1:
            self.jobs[1]["status"] = "completed"  # gone from the workflow's point of view
            self.running -= 1
            raise ApiError(404, {"error": "NotFound", "message": "Job 1 not found"})
        super().complete_job(job_id, status, run_id, result)


def test_a_job_deleted_while_it_runs_does_not_stop_the_run(tmp_path: Path) -> None:
    server = DeletingServer([logging_job(i, f"j{i}", pair=False) for i in (1, 2, 3)])
    outcome = run(server, tmp_path, max_parallel_jobs=1)
    assert [r["job_id"] for r in server.results] == [2, 3]
    assert outcome is not None
    log = next((tmp_path / "output").glob("job_runner_*.log")).read_text()
    assert "job 1 was not completed: Job 1 not found" in log


def test_job_output_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    run(FakeServer([logging_job(1, "j1", pair=False)]), tmp_path)
    outputs = list((tmp_path / "output" / "job_stdio").iterdir())
    assert outputs and all(p.stat().st_mode & 0o077 == 0 for p in outputs)


def test_completions_queued_while_one_is_sent_go_in_one_batch() -> None:
    sent: list[list[int]] = []
    entered, release = threading.Event(), threading.Event()

    def send(items: list[int]) -> None:
        sent.append(items)
        entered.set()
        release.wait(5)

    completer = Completer(send, batch_size=3)
    try:
        completer.submit(1)
        assert entered.wait(5)
        for item in (2, 3, 4, 5, 6):
            completer.submit(item)
        release.set()
        completer.flush()
    finally:
        completer.close()
    assert sent == [[1], [2, 3, 4], [5, 6]]


class LosingServer(FakeServer):
    """A server whose first claim's answer is lost: the jobs are claimed for the node, the
    runner hears nothing (as when the server restarts before answering)."""

    lost = False

    def claim_jobs_for_queue(self, wf: int, limit: int, body: dict[str, Any]) -> list[Any]:
        claimed = super().claim_jobs_for_queue(wf, limit, body)
        if not self.lost and claimed:
            self.lost = True
            return []
        return claimed


def test_jobs_of_a_claim_whose_answer_was_lost_run_once(tmp_path: Path) -> None:
    server = LosingServer([logging_job(i, f"j{i}", pair=False) for i in (1, 2, 3, 4)])
    outcome = run(server, tmp_path, num_cpus=2)
    assert outcome.stuck is None and server.lost
    assert sorted(r["job_id"] for r in server.results) == [1, 2, 3, 4]
    assert {j["status"] for j in server.jobs.values()} == {"completed"}
    assert any(server.claims)  # a later claim handed the lost ones back


def test_ctrl_c_gives_back_claimed_jobs_not_started(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    slow = f"touch {marker}; until [ -e go ]; do sleep 0.05; done"
    server = FakeServer(
        [
            {"id": 1, "name": "first", "command": slow, "resource_requirements_id": 1},
            {"id": 2, "name": "second", "command": "true", "resource_requirements_id": 1},
        ],
        rrs={1: {"num_cpus": 2, "memory": "1m"}},
    )

    def interrupt_once_started() -> None:
        if marker.exists():
            os.kill(os.getpid(), signal.SIGINT)

    server.on_status = interrupt_once_started
    outcome = run(server, tmp_path, num_cpus=3, grace=5)
    assert outcome.signal == signal.SIGINT and outcome.terminated == 1
    # both fit 3 CPUs alone, not together: the second waited in the queue, and is given back
    assert server.released == [2]
    assert server.jobs[2]["status"] == "ready" and server.jobs[1]["status"] == "terminated"


class CancelingServer(FakeServer):
    """The workflow is canceled as its first job starts: the start is refused."""

    canceled = False

    def batch_start_jobs(self, wf: int, run_id: int, node: int, job_ids: list[int]) -> Any:
        self.canceled = True
        for job in self.jobs.values():
            if job["status"] in ("pending", "running"):
                job["status"] = "canceled"
        return super().batch_start_jobs(wf, run_id, node, job_ids)

    def workflow_status(self, wf: int) -> dict[str, Any]:
        return {**super().workflow_status(wf), "is_canceled": self.canceled}


def test_a_refused_start_stops_the_run_before_queued_jobs_start(tmp_path: Path) -> None:
    server = CancelingServer(
        [
            {"id": 1, "name": "first", "command": "sleep 1", "resource_requirements_id": 1},
            {"id": 2, "name": "second", "command": "touch ran2", "resource_requirements_id": 1},
        ],
        rrs={1: {"num_cpus": 2, "memory": "1m"}},
    )
    # a poll interval longer than the run: only the refusal can show the cancel in time
    outcome = run(server, tmp_path, num_cpus=3, poll_interval=30.0, grace=5)
    assert outcome.canceled and outcome.terminated == 1
    assert not (tmp_path / "ran2").exists()


def test_a_runner_starting_beside_another_leaves_the_others_jobs_alone(tmp_path: Path) -> None:
    """Runners started together (Slurm allocations) each saw a new workflow; one's full
    initialisation took back a job another had started, and it ran twice."""
    server = FakeServer([{"id": 1, "name": "a", "command": "true"}])
    server.jobs[1]["status"] = "running"  # started by another runner a moment ago
    server.is_uninitialized = lambda _wf: True  # type: ignore[method-assign]  # its stale view
    settings = Settings(workflow_id=1, output_dir=tmp_path)
    JobRunner(server, settings, Quiet()).prepare()  # type: ignore[arg-type]
    assert server.jobs[1]["status"] == "running"


def test_a_runner_with_an_end_claims_only_jobs_that_finish_before_it(tmp_path: Path) -> None:
    """A Slurm allocation's runner: a job whose runtime would pass the allocation's end is
    left for another allocation, and the runner says why it stopped."""
    rrs = {1: {"num_cpus": 1, "memory": "1m", "runtime": "PT1M"}}
    rrs[2] = {**rrs[1], "runtime": "PT2H"}
    jobs = [
        {"id": 1, "name": "short", "command": "true", "resource_requirements_id": 1},
        {"id": 2, "name": "long", "command": "true", "resource_requirements_id": 2},
    ]
    server = FakeServer(jobs, rrs)
    outcome = run(server, tmp_path, num_cpus=2, ends_at=time.time() + 600, idle_timeout=0.2)
    assert (server.jobs[1]["status"], server.jobs[2]["status"]) == ("completed", "ready")
    assert outcome.stuck is not None and "or time" in outcome.stuck
    # past its end, a runner claims nothing at all
    late = FakeServer([{**jobs[0], "id": 3}], rrs)
    outcome = run(late, tmp_path / "late", num_cpus=2, ends_at=time.time() - 1, idle_timeout=0.2)
    assert late.jobs[3]["status"] == "ready" and outcome.stuck is not None
