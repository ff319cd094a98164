"""The runner's calls to the server for starts, completions and claims, made from the
completions thread (runner.completions.Completer) in batches, in order.

The runner's own thread never waits for the server on its way from a job's exit to the next
job's start: it queues what happened (a job started, a job finished, more jobs wanted), and
each batch this thread sends is at most three requests: the jobs started since the last one
(one `batch_start_jobs`), the jobs finished (one `batch_complete_jobs`, which readies their
dependents), then a claim for the runner's local queue. What the server answered comes back
to the runner's thread through `outbox`, in the order it happened, so a claim answered before
a completion is seen before it (and the runner skips a job it already has).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from teamgate.client.http import ApiError
from teamgate.client.torc import TorcClient

LINGER = 0.05  # seconds a job's start may wait to be reported with its end, in one request
STALE = (404, 409, 422)  # the job changed under us (deleted, canceled, reset): nothing to record


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    at: float = field(default_factory=time.monotonic)  # when the job was spawned


@dataclass(frozen=True, slots=True)
class Finish:
    job_id: int
    status: str
    run_id: int
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Claim:
    limit: int
    offer: dict[str, Any]  # ComputeNodesResources, naming the node in `id`


# what comes back in `outbox`
@dataclass(frozen=True, slots=True)
class Claimed:
    jobs: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Started:
    count: int  # starts the server has answered (recorded or refused)


@dataclass(frozen=True, slots=True)
class Completed:
    job_ids: list[int]  # answered (recorded or refused): the runner forgets them


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: int  # the workflow was reset since this runner started: its new run


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused a start or a completion: the job changed under the runner (the
    workflow canceled, a job deleted or reset), so it reads the workflow's status at once."""


class ServerCalls:
    """Sends one batch of Start, Finish and Claim items (Completer's `send`)."""

    def __init__(self, client: TorcClient, workflow_id: int, write: Callable[[str], None]) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.write = write
        self.run_id = 1
        self.node_id = 0
        self.linger = LINGER
        self.outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def send(self, items: list[Any]) -> list[Any]:
        """Send what is due; hand back the starts that are not (Completer's contract)."""
        finishes = [i for i in items if isinstance(i, Finish)]
        ended = {f.job_id for f in finishes}
        due = time.monotonic() - self.linger
        held = [i for i in items if isinstance(i, Start) and i.at > due and i.job_id not in ended]
        started = [i.job_id for i in items if isinstance(i, Start) and i not in held]
        # a job that also ended is started by its completion (the server records its start
        # then): one request for both; a start waits up to `linger` for its job's end
        starts = [i for i in started if i not in ended]
        claims = [i for i in items if isinstance(i, Claim)]
        try:
            if starts:
                self._start(starts)
            if finishes:
                self._complete(finishes)
        finally:
            if started:
                self.outbox.put(Started(len(started)))
            if finishes:
                self.outbox.put(Completed([f.job_id for f in finishes]))
        if claims:
            claim = claims[-1]  # the latest want; earlier ones in the batch are older news
            jobs = self.client.claim_jobs_for_queue(self.workflow_id, claim.limit, claim.offer)
            self.outbox.put(Claimed(jobs))
        return held

    def _start(self, job_ids: list[int]) -> None:
        try:
            answer = self.client.batch_start_jobs(
                self.workflow_id, self.run_id, self.node_id, job_ids
            )
        except ApiError as exc:
            if exc.status not in STALE:
                raise
            run_id = self.current_run()
            if run_id == self.run_id:  # not a new run: the whole call was refused
                for job_id in job_ids:
                    self.write(f"job {job_id} was not started: {exc}")
                self.outbox.put(Refused())
                return
            self.run_id = run_id  # the workflow was reset since: this is its new run
            self.outbox.put(NewRun(run_id))
            answer = self.client.batch_start_jobs(self.workflow_id, run_id, self.node_id, job_ids)
        for error in answer.get("errors") or ():
            self.write(f"job {error['job_id']} was not started: {error['message']}")
        if answer.get("errors"):
            self.outbox.put(Refused())

    def _complete(self, finishes: list[Finish]) -> None:
        entries = [
            {"job_id": f.job_id, "status": f.status, "run_id": f.run_id, "result": f.result}
            for f in finishes
        ]
        try:
            answer = self.client.batch_complete_jobs(self.workflow_id, entries)
        except ApiError as exc:
            if exc.status not in STALE:
                raise
            for f in finishes:
                self.write(f"job {f.job_id} was not completed: {exc}")
            self.outbox.put(Refused())
            return
        refused = {e["job_id"]: e["message"] for e in answer.get("errors") or ()}
        if refused:
            self.outbox.put(Refused())
        for f in finishes:
            if f.job_id in refused:  # the job changed under us (deleted, canceled, reset)
                self.write(f"job {f.job_id} was not completed: {refused[f.job_id]}")
            else:
                code = f.result["return_code"]
                self.write(f"Job completed job_id={f.job_id} status={f.status} return_code={code}")

    def current_run(self) -> int:
        """The workflow's run id (the status summary carries it; Torc's WorkflowModel too)."""
        run_id = self.client.workflow_status(self.workflow_id).get("run_id")
        if run_id is None:
            run_id = self.client.get_workflow(self.workflow_id).get("run_id")
        return int(run_id or 1)
