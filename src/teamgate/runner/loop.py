"""The claim/start/complete cycle of one `torc run` on this machine.

One iteration takes in what the server answered (jobs claimed, completions recorded), reaps
the jobs that exited, starts queued jobs while they fit the free resources (or the
`max_parallel_jobs` slots), and asks for more when the local queue runs low (runner.claims);
only when none of that happened does it wait: until a job exits, the server answers, a signal
comes, or the poll interval passes. Starts, completions and claims go to the server in batches
from the completions thread (runner.calls), so no request stands between a job's exit and the
next job's start. The workflow's status is read once per poll interval (to see a cancel, and
for progress) and whenever the runner is idle; jobs claimed and not started are given back
when the run stops.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from teamgate.client.http import retry_seconds
from teamgate.client.torc import TorcClient
from teamgate.errors import Conflict, TeamgateError
from teamgate.runner.calls import Finish, NewRun, Refused, ServerCalls, Start
from teamgate.runner.claims import MAX_CLAIM, LocalQueue
from teamgate.runner.completions import Completer
from teamgate.runner.heartbeat import Heartbeat
from teamgate.runner.processes import Exit, Process, Processes
from teamgate.runner.resources import GIB, Need, Pool, cpu_count, total_memory_bytes
from teamgate.runner.results import result_body, status_of
from teamgate.runner.signals import Signals

HIDDEN_ENV = ("TORC_PASSWORD", "OPENTACO_PASSWORD", "OPENTACO_TOKEN")  # never handed to a job
SEND_INTERVAL = 0.05  # seconds between two batches sent to the server, at least
# queue mode (max_parallel_jobs): every job fits; slots, not resources, bound the run
UNBOUNDED = {"num_cpus": 1_000_000, "memory_gb": 1e9, "num_gpus": 1_000_000, "num_nodes": 1_000_000}


def without_credentials(url: str) -> str:
    """`url` without a `user:password@` part: a job is told where the server is, never how
    its runner signs in."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class Listener(Protocol):
    """Told what happens, for progress on a terminal or lines in a log."""

    def status(self, summary: dict[str, Any]) -> None: ...

    def started(self, job: dict[str, Any]) -> None: ...

    def finished(self, job: dict[str, Any], status: str, return_code: int) -> None: ...


@dataclass
class Settings:
    """How `torc run` runs a workflow on this machine."""

    workflow_id: int
    output_dir: Path = Path("output")
    poll_interval: float = 1.0
    max_parallel_jobs: int | None = None
    num_cpus: int | None = None
    memory_gb: float | None = None
    num_gpus: int = 0
    grace: float = 5.0  # seconds between SIGTERM and SIGKILL when stopping jobs
    idle_timeout: float = 90.0  # Torc's default wait for new jobs with nothing to run
    # When this runner must be done (time.time(); a Slurm allocation's end): a job whose
    # runtime would pass it is not claimed. None: no end.
    ends_at: float | None = None


@dataclass
class Outcome:
    """How a run ended: the workflow's last status summary and what stopped it."""

    summary: dict[str, Any]
    signal: int | None = None  # SIGINT/SIGTERM that interrupted the run
    canceled: bool = False
    stuck: str | None = None  # why the runner stopped with jobs left it cannot run
    terminated: int = 0  # jobs this runner stopped


@dataclass(eq=False)
class Running:
    job: dict[str, Any]
    need: Need
    process: Process | None = None


class JobRunner:
    """Runs the ready jobs of one workflow on this machine until nothing is left to run."""

    def __init__(self, client: TorcClient, settings: Settings, listener: Listener) -> None:
        self.client = client
        self.settings = settings
        self.listener = listener
        self.workflow_id = settings.workflow_id
        self.pool = Pool(
            num_cpus=settings.num_cpus or cpu_count(),
            memory_bytes=int(settings.memory_gb * GIB)
            if settings.memory_gb
            else total_memory_bytes(),
            num_gpus=settings.num_gpus,
        )
        self.processes = Processes()
        self.running: dict[int, Running] = {}  # by job id
        self.queue = LocalQueue(settings.poll_interval)  # claimed for this node, not started
        self.run_id = 1
        self.node_id = 0
        self.terminated = 0
        self._needs: dict[int, Need] = {}  # by resource requirements id
        self._files: dict[int, dict[str, Any]] = {}
        self._env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
        self._env["TORC_API_URL"] = without_credentials(client.base_url)
        self._stdio = settings.output_dir / "job_stdio"
        self._log: IO[str] | None = None
        self._log_lock = threading.Lock()  # the completions thread logs too
        self._signals = Signals()
        self._calls = ServerCalls(client, self.workflow_id, self._write)
        self._completer: Completer | None = None
        self._check_now = False  # read the workflow's status in this iteration

    # set-up and tear-down

    def prepare(self) -> None:
        """Initialise a new workflow, or resume one: jobs left terminated, or pending or running
        on runners that are gone, become ready again; completed jobs stay completed, and jobs
        other runners hold stay theirs."""
        state = self.client.is_complete(self.workflow_id)
        if state.get("is_canceled"):
            raise Conflict(
                f"workflow {self.workflow_id} is canceled: reset it first "
                f"(torc workflows reset-status {self.workflow_id})"
            )
        # Never a full initialisation: runners that start together (Slurm allocations, several
        # hosts) would each see a new workflow, and one's full initialisation would take back
        # the jobs another had claimed or started. On a new workflow this one does the same.
        self.client.initialize_jobs(self.workflow_id, only_uninitialized=True)
        self.run_id = self._calls.run_id = self._calls.current_run()

    def run(self) -> Outcome:
        """Prepare, register this machine, run jobs until done or interrupted, sign off."""
        self.client.retry_on_failure(retry_seconds(), log=self._write)  # server restarts
        self.prepare()
        self._stdio.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        log_path = (
            self.settings.output_dir / f"job_runner_{host}_wf{self.workflow_id}_r{self.run_id}.log"
        )
        started = time.monotonic()
        self.node_id = self._calls.node_id = self._register(host)
        self._signals.install()
        try:
            with log_path.open("a", encoding="utf-8") as self._log:
                self._completer = Completer(
                    self._calls.send, linger=self._calls.linger, interval=SEND_INTERVAL
                )
                beat = Heartbeat(self.client, self.node_id, log=self._write).start()
                try:
                    return self._loop()
                except BaseException:
                    self.processes.stop_all(grace=self.settings.grace)  # no orphans left behind
                    raise
                finally:
                    self._completer.close()  # what is queued is still sent
                    beat.stop()
                    self._give_back()
                    self._sign_off(time.monotonic() - started)
        finally:
            self._signals.restore()
            self._log = None

    def _register(self, host: str) -> int:
        total = self.pool.total
        node = self.client.create_compute_node(
            {
                "workflow_id": self.workflow_id,
                "hostname": host,
                "pid": os.getpid(),
                "start_time": datetime.now(UTC).isoformat(timespec="seconds"),
                "num_cpus": total.num_cpus,
                "memory_gb": round(total.memory_bytes / GIB, 3),
                "num_gpus": total.num_gpus,
                "num_nodes": 1,
                "compute_node_type": "local",
                "is_active": True,
            }
        )
        self._node = node
        return int(node["id"])

    def _give_back(self) -> None:
        """Jobs claimed for this node and not started become ready again for other runners
        (best effort: a runner that cannot reach the server leaves them to be recovered)."""
        self._take_answers()
        ids = self.queue.drop_all()
        for at in range(0, len(ids), MAX_CLAIM):
            try:
                self.client.release_jobs(self.workflow_id, self.node_id, ids[at : at + MAX_CLAIM])
            except TeamgateError as exc:
                self._write(f"could not give back {len(ids)} claimed jobs: {exc}")
                return

    def _sign_off(self, seconds: float) -> None:
        """Mark this machine's compute node inactive (best effort: the run is over anyway)."""
        try:
            self.client.update_compute_node(
                self.node_id,
                {**self._node, "is_active": False, "duration_seconds": round(seconds, 3)},
            )
        except TeamgateError as exc:  # reported; never hides the run's own outcome
            self._write(f"could not mark compute node {self.node_id} inactive: {exc}")

    # the cycle

    def _loop(self) -> Outcome:
        assert self._completer is not None
        completer = self._completer
        next_check = 0.0
        idle_since: float | None = None
        while True:
            if self._signals.received is not None:
                return self._interrupt(self._signals.received)
            completer.check()
            changed = self._take_answers()
            changed = self._reap() or changed
            changed = self._start_queued() or changed
            self._want_more()
            busy = bool(self.running or self.queue or completer.pending)
            now = time.monotonic()
            if now >= next_check or not (changed or busy) or self._check_now:
                self._check_now = False
                summary = self.client.workflow_status(self.workflow_id)
                self.listener.status(summary)
                next_check = now + self.settings.poll_interval
                if summary.get("is_canceled"):
                    return self._cancel(summary)
                if summary.get("is_complete") and not busy:
                    return Outcome(summary, terminated=self.terminated)
            if changed or busy:
                idle_since = None
            else:
                idle_since = idle_since or now
                stuck = self._stuck(summary, idle_for=now - idle_since)
                if stuck:
                    return Outcome(summary, stuck=stuck, terminated=self.terminated)
            if not changed:
                timeout = max(min(next_check - time.monotonic(), self.settings.poll_interval), 0)
                if not busy:
                    timeout = min(timeout, max(self.queue.dry_until - time.monotonic(), 0))
                wake = (self._signals.read_fd, completer.wake_fd)
                self.processes.wait(timeout, wake_fds=wake)
                self._signals.drain()
                completer.drain()

    def _stuck(self, summary: dict[str, Any], *, idle_for: float) -> str | None:
        """Why nothing this runner can do will finish the workflow, or None to keep waiting
        (jobs pending or running elsewhere may still ready more)."""
        counts = summary.get("jobs_by_status") or {}
        elsewhere = counts.get("pending", 0) + counts.get("running", 0)
        if elsewhere and idle_for < self.settings.idle_timeout:
            return None
        if elsewhere:
            return f"{elsewhere} jobs are pending or running elsewhere; nothing came to run here"
        if counts.get("ready"):
            return (
                f"{counts['ready']} ready jobs need more CPUs, memory or GPUs"
                f"{' or time' if self.settings.ends_at is not None else ''} than this runner has"
            )
        left = {
            s: n
            for s, n in counts.items()
            if n and s in ("blocked", "uninitialized", "pending_failed")
        }
        return "jobs left: " + ", ".join(f"{n} {s}" for s, n in left.items()) if left else None

    def _take_answers(self) -> bool:
        """What the completions thread heard from the server, in order; whether a job came."""
        came = False
        outbox = self._calls.outbox
        while not outbox.empty():
            answer = outbox.get_nowait()
            if isinstance(answer, NewRun):
                self.run_id = answer.run_id
            elif isinstance(answer, Refused):
                self._check_now = True  # canceled? then stop before starting more
            else:
                came = self.queue.take(answer) or came
        return came

    def _want_more(self) -> None:
        """Ask for a claim when the local queue runs low (answered later, in _take_answers)."""
        if self.settings.max_parallel_jobs:
            slots = max(self.settings.max_parallel_jobs - len(self.running), 0)
            offer: dict[str, Any] = dict(UNBOUNDED)
        else:
            slots = self.pool.free.num_cpus if self.pool.can_claim() else 0
            total = self.pool.total  # each job must fit this machine; it starts when it fits
            offer = {
                "num_cpus": total.num_cpus,
                "memory_gb": total.memory_bytes / GIB,
                "num_gpus": total.num_gpus,
                "num_nodes": 1,
            }
        offer["id"] = self.node_id  # claimed for this node: asked again, they come back
        if self.settings.ends_at is not None:  # only jobs that can finish in the time left
            left = int(self.settings.ends_at - time.time())
            if left <= 0:
                return
            offer["time_limit"] = f"PT{left}S"
        claim = self.queue.want(slots, offer)
        if claim is not None:
            assert self._completer is not None
            self._completer.submit(claim)

    def _need(self, job: dict[str, Any]) -> Need:
        if self.settings.max_parallel_jobs:
            return Need(0, 0, 0)  # slots, not resources, bound a queue-mode run (as Torc)
        rr_id = job.get("resource_requirements_id")
        if rr_id is None:
            return Need()
        if rr_id not in self._needs:
            self._needs[rr_id] = Need.of(self.client.get_resource_requirements(rr_id))
        return self._needs[rr_id]

    def _start_queued(self) -> bool:
        """Start queued jobs, in claim order, while they fit; whether any started. None while
        the server's refusal waits to be looked into (a canceled workflow starts nothing)."""
        if self._check_now:
            return False
        started = False
        limit = self.settings.max_parallel_jobs
        for job in list(self.queue.jobs.values()):
            if limit and len(self.running) >= limit:
                break
            if not limit and not self.pool.can_claim():
                break
            need = self._need(job)
            if not self.pool.fits(need):
                continue
            self.queue.started(job["id"])
            self._start(job, need)
            started = True
        return started

    def _start(self, job: dict[str, Any], need: Need) -> None:
        assert self._completer is not None
        self._completer.submit(Start(job["id"]))  # reported with the next batch
        self.pool.take(need)
        entry = Running(job, need)
        self.running[job["id"]] = entry
        stem = f"job_wf{self.workflow_id}_j{job['id']}_r{self.run_id}_a{job.get('attempt_id') or 1}"
        try:
            entry.process = self.processes.spawn(
                job["command"],
                env=self._job_env(job),
                stdout=self._stdio / f"{stem}.o",
                stderr=self._stdio / f"{stem}.e",
                data=entry,
            )
        except (OSError, ValueError) as exc:  # ValueError: an env name or value bash cannot take
            self._write(f"job {job['id']} could not start: {exc}")
            self._finish(entry, None, status="failed", return_code=127)
            return
        self._write(f"Job started job_id={job['id']} name={job['name']} run_id={self.run_id}")
        self.listener.started(job)

    def _job_env(self, job: dict[str, Any]) -> dict[str, str]:
        env = dict(self._env)
        env.update({k: v for k, v in (job.get("env") or {}).items() if k not in HIDDEN_ENV})
        env["TORC_WORKFLOW_ID"] = str(self.workflow_id)
        env["TORC_JOB_ID"] = str(job["id"])
        env["TORC_JOB_NAME"] = job["name"]
        env["TORC_OUTPUT_DIR"] = str(self.settings.output_dir)
        env["TORC_ATTEMPT_ID"] = str(job.get("attempt_id") or 1)
        return env

    def _reap(self) -> bool:
        done = self.processes.reap()
        for process, exit in done:
            status, code = status_of(exit, signal_sent=process.signal_sent)
            if status == "completed":
                status, code = self._check_outputs(process.data.job, status, code)
            self._finish(process.data, exit, status=status, return_code=code)
        return bool(done)

    def _check_outputs(self, job: dict[str, Any], status: str, code: int) -> tuple[str, int]:
        """A job that exited 0 without writing a declared output file failed (as in Torc)."""
        for file_id in job.get("output_file_ids") or ():
            if file_id not in self._files:
                self._files[file_id] = self.client.get_file(file_id)
            path = Path(self._files[file_id]["path"])
            if not path.exists():
                self._write(f"job {job['id']} did not write its output file {path}")
                return "failed", 1
        return status, code

    def _finish(self, entry: Running, exit: Exit | None, *, status: str, return_code: int) -> None:
        job = entry.job
        del self.running[job["id"]]
        self.pool.give(entry.need)
        self.queue.finished()
        body = result_body(
            job,
            run_id=self.run_id,
            compute_node_id=self.node_id,
            status=status,
            return_code=return_code,
            exit=exit,
        )
        assert self._completer is not None
        self._completer.submit(Finish(job["id"], status, self.run_id, body))
        self.listener.finished(job, status, return_code)

    # stopping

    def _interrupt(self, signum: int) -> Outcome:
        """Stop every running job's process group, record them terminated, leave the rest."""
        self._stop_all()
        summary = self.client.workflow_status(self.workflow_id)
        return Outcome(summary, signal=signum, terminated=self.terminated)

    def _cancel(self, summary: dict[str, Any]) -> Outcome:
        self._stop_all()
        return Outcome(summary, canceled=True, terminated=self.terminated)

    def _stop_all(self) -> None:
        for process, exit in self.processes.stop_all(grace=self.settings.grace):
            status, code = status_of(exit, signal_sent=process.signal_sent or signal.SIGTERM)
            self.terminated += 1
            self._finish(process.data, exit, status=status, return_code=code)
        if self._completer is not None:
            self._completer.flush()  # recorded before the run reports how it ended
        self._give_back()  # before the status read: the jobs it reports are settled

    def _write(self, line: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._log_lock:
            if self._log is not None and not self._log.closed:
                self._log.write(f"{stamp} {line}\n")
