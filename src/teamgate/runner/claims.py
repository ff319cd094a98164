"""The runner's local queue: jobs claimed for its compute node and not started yet, and when to
ask the server for more.

The queue holds the jobs that can start as soon as a slot frees (the free slots) plus about
`AHEAD_SECONDS` of work at the rate jobs have been finishing: for jobs of a few milliseconds a
few dozen, for jobs that take seconds none, so runners sharing a workflow are not starved. A
claim is asked for when the queue is down to half of that, one at a time; one that brings
nothing new is not repeated before the poll interval passes or a completion lands (it may have
readied dependents).

A claim hands back the node's claimed, unstarted jobs first (so a claim whose answer was lost
can be asked again): `known` holds every job this runner has (queued, running, or finished and
not yet answered), and a job it has is skipped. The server's answers arrive in the order the
completions thread heard them (runner.calls), so a claim that still saw a job as claimed is
taken in before that job's completion is forgotten.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from teamgate.runner.calls import Claim, Claimed, Completed, Started

AHEAD_SECONDS = 0.25  # work claimed ahead of free slots: this long at the rate jobs finish
MAX_AHEAD = 250  # jobs claimed ahead, at most
MAX_CLAIM = 1000  # jobs asked for in one claim


class LocalQueue:
    def __init__(self, poll_interval: float) -> None:
        self.jobs: dict[int, dict[str, Any]] = {}  # claimed for this node, not started
        self.known: set[int] = set()  # queued, running, or finished and not yet answered
        self.unstarted = 0  # starts not yet answered: the server still has them pending
        self.claiming = False  # a claim is queued or under way
        self.dry_until = 0.0  # after a claim that brought nothing new: not again before this
        self._poll_interval = poll_interval
        self._finishes: deque[float] = deque(maxlen=MAX_AHEAD * 4)  # when recent jobs ended

    def __len__(self) -> int:
        return len(self.jobs)

    def take(self, answer: Any) -> bool:
        """Take in one answer of the server's; whether it brought a job to run."""
        if isinstance(answer, Claimed):
            self.claiming = False
            new = [job for job in answer.jobs if job["id"] not in self.known]
            for job in new:
                self.jobs[job["id"]] = job
                self.known.add(job["id"])
            if not new:
                self.dry_until = time.monotonic() + self._poll_interval
            return bool(new)
        if isinstance(answer, Completed):
            self.known.difference_update(answer.job_ids)
            self.dry_until = 0.0  # their dependents may be ready now
        elif isinstance(answer, Started):
            self.unstarted -= answer.count
        return False

    def started(self, job_id: int) -> None:
        """The job left the queue to run (its start is reported later)."""
        self.jobs.pop(job_id, None)
        self.unstarted += 1

    def finished(self) -> None:
        self._finishes.append(time.monotonic())

    def ahead(self) -> int:
        """Jobs to hold beyond the free slots: AHEAD_SECONDS of work at the recent rate."""
        now = time.monotonic()
        finishes = self._finishes
        while finishes and finishes[0] < now - 1.0:
            finishes.popleft()
        return min(int(len(finishes) * AHEAD_SECONDS), MAX_AHEAD)

    def want(self, slots: int, offer: dict[str, Any]) -> Claim | None:
        """The claim to ask for now, if the queue runs low (`slots`: jobs that could start at
        once; `offer`: what one job may need at most, naming the node)."""
        if self.claiming or time.monotonic() < self.dry_until:
            return None
        target = slots + self.ahead()
        have = len(self.jobs)
        if have >= target or (have and have > target // 2):
            return None
        # the node's claimed jobs come back first: the queue, and starts not yet answered
        self.claiming = True
        return Claim(min(target + max(self.unstarted, 0), MAX_CLAIM), offer)

    def drop_all(self) -> list[int]:
        """Empty the queue; the ids it held (to give back)."""
        ids = list(self.jobs)
        self.jobs.clear()
        return ids
