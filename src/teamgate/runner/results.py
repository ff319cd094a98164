"""What the runner tells the server about one attempt: the ResultModel body and its status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from teamgate.runner.processes import Exit

DONE = ("completed", "failed", "canceled", "terminated")


def utc_now() -> str:
    """Torc's timestamp form: `2026-12-07T04:26:58.123Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def result_body(
    job: dict[str, Any],
    *,
    run_id: int,
    compute_node_id: int,
    status: str,
    return_code: int,
    exit: Exit | None,
) -> dict[str, Any]:
    """The ResultModel for one attempt of `job` (exit is None when no process ran)."""
    body: dict[str, Any] = {
        "job_id": job["id"],
        "workflow_id": job["workflow_id"],
        "run_id": run_id,
        "attempt_id": job.get("attempt_id") or 1,
        "compute_node_id": compute_node_id,
        "return_code": return_code,
        "exec_time_minutes": round(exit.wall_seconds / 60, 6) if exit else 0.0,
        "completion_time": utc_now(),
        "status": status,
    }
    if exit is not None and exit.peak_memory_bytes is not None:
        body["peak_memory_bytes"] = exit.peak_memory_bytes
    if exit is not None and exit.avg_cpu_percent is not None:
        # one figure over the whole run: wait4 gives totals, not samples
        body["avg_cpu_percent"] = body["peak_cpu_percent"] = exit.avg_cpu_percent
    return body


def status_of(exit: Exit, *, signal_sent: int | None) -> tuple[str, int]:
    """The status and return code to record: a job the runner stopped is `terminated` with
    minus the signal it took (-15 for SIGTERM, -9 for SIGKILL), as Torc records it."""
    if signal_sent is not None:
        return "terminated", -signal_sent if exit.return_code >= 0 else exit.return_code
    return ("completed" if exit.return_code == 0 else "failed"), exit.return_code
