"""Job statuses: torc-client's `JobStatus` values and the groups the engine, the API and the CLI
reason with."""

from __future__ import annotations

from typing import Literal, get_args

JobStatus = Literal[
    "uninitialized",
    "blocked",
    "ready",
    "pending",
    "running",
    "completed",
    "failed",
    "canceled",
    "terminated",
    "disabled",
    "pending_failed",
]
STATUSES: tuple[str, ...] = get_args(JobStatus)
DONE = ("completed", "failed", "canceled", "terminated")  # a blocker that no longer blocks
FAILED = ("failed", "canceled", "terminated")  # a blocker whose dependents may be canceled
MAX_BATCH = 1_000  # completions in one batch_complete_jobs call
