"""Runners that went silent: heartbeats, the periodic sweep for lost compute nodes, and
`sync-status` (the same repair for one workflow, now).

A runner says it is alive every few seconds (`heartbeat`). A compute node whose last heartbeat
is older than the server's heartbeat timeout is lost: the sweep, which every server process
runs, marks it inactive and recovers its jobs by the lost-job policy (storage/db/lost_jobs.py
says how, and why two sweeps at once recover each job once). Each recovered job gets an event
saying which runner was lost (and, for a job failed because it was lost on its last allowed
attempt, that it was); each lost node one too, and each Slurm allocation ended with its node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from teamgate.auth import tokens
from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.errors import Conflict, NotFound
from teamgate.services import audit
from teamgate.services.context import ServiceContext, require
from teamgate.services.periodic import Periodic
from teamgate.services.workflows import authorize_workflow, explain_workflow
from teamgate.storage.db import lost_jobs as store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.engine import Database
from teamgate.storage.db.events import record_events
from teamgate.storage.db.lost_jobs import Recovery
from teamgate.storage.db.util import utc_text

log = logging.getLogger("teamgate.server")


@dataclass(frozen=True, slots=True)
class LostJobSettings:
    """How long a runner may stay silent (0: never lost) and what happens to its jobs:
    `policy`, and under requeue at most `max_attempts` attempts (0: no limit)."""

    timeout_secs: float = 120.0
    policy: str = "requeue"
    max_attempts: int = 3

    @property
    def interval_secs(self) -> float:
        """How often runners beat and the sweep looks: four chances within the timeout."""
        return min(max(self.timeout_secs / 4, 0.1), 30.0) if self.timeout_secs else 30.0

    def cutoff(self) -> str | None:
        if not self.timeout_secs:
            return None
        return utc_text(datetime.now(UTC) - timedelta(seconds=self.timeout_secs))


def heartbeat(
    ctx: ServiceContext, principal: Principal, node_id: int, settings: LostJobSettings
) -> dict[str, Any]:
    """Record that the runner of compute node `node_id` is alive (workflow.write on its
    workflow, as the run calls). A node declared lost stays lost: Conflict."""
    with ctx.db.write() as conn:
        found = store.node_workflow(conn, node_id)
        if found is None:
            raise NotFound(f"Compute node not found with ID: {node_id}")
        authorize_workflow(ctx, principal, conn, found[0], Action.WORKFLOW_WRITE)
        when = store.beat(conn, node_id)
        if when is None:
            raise Conflict(
                f"compute node {node_id} is no longer active (its runner was declared lost "
                "or signed off; its jobs were recovered): start a new runner"
            )
        return {
            "compute_node_id": node_id,
            "last_heartbeat": when,
            "interval_secs": settings.interval_secs,
        }


def sync_status(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    settings: LostJobSettings,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Recover the workflow's jobs left by runners that are gone, now: nodes silent for longer
    than the heartbeat timeout, and with `force` jobs on nodes already inactive."""
    with ctx.db.write() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        decision = require(explain_workflow(ctx, principal, conn, found, Action.WORKFLOW_WRITE))
        recovery = _recover(conn, workflow_id, settings, force=force)
        detail = f"runners lost: {len(recovery.nodes)}, jobs recovered: {len(recovery.jobs)}"
        audit.record(
            conn, principal, "workflow.sync_status", f"workflow/{workflow_id}", decision, detail
        )
        return report(recovery)


def _recover(
    conn: Connection, workflow_id: int, settings: LostJobSettings, *, force: bool
) -> Recovery:
    recovery = store.recover(
        conn,
        workflow_id,
        cutoff=settings.cutoff(),
        policy=settings.policy,
        force=force,
        max_attempts=settings.max_attempts,
    )
    names = {n.id: (n.hostname, n.pid) for n in recovery.nodes}
    names.update(
        store.node_names(
            conn, [j.compute_node_id for j in recovery.jobs if j.compute_node_id not in names]
        )
    )
    events: list[Mapping[str, Any]] = [
        {
            "category": "compute_node",
            "type": "compute_node_lost",
            "compute_node_id": n.id,
            "hostname": n.hostname,
            "pid": n.pid,
            "last_heartbeat": n.last_heartbeat,
        }
        for n in recovery.nodes
    ]
    events.extend(
        {
            "category": "slurm",
            "type": "allocation_failed",
            "allocation_id": a.id,
            "group": a.group_name,
            "message": f"its runner (compute node {a.compute_node_id}) stopped sending heartbeats",
        }
        for a in recovery.allocations
    )
    for recovered in recovery.jobs:
        host, pid = names.get(recovered.compute_node_id, ("?", 0))
        message = f"lost: runner on {host} pid {pid} stopped sending heartbeats"
        if recovered.exhausted:
            message += (
                f"; failed, not requeued: attempt {recovered.attempt_id} was its last "
                f"(--lost-job-max-attempts {settings.max_attempts})"
            )
        events.append(
            {
                "category": "job",
                "type": "job_lost",
                "job_id": recovered.job_id,
                "job_name": recovered.name,
                "attempt_id": recovered.attempt_id,
                "was": recovered.was,
                "status": recovered.now,
                "exhausted": recovered.exhausted,
                "message": message,
            }
        )
    events.extend(
        {"category": "job", "type": "job_canceled", "job_id": i, "blocked_by": None}
        for i in recovery.canceled
    )
    record_events(conn, workflow_id, events)
    if recovery.jobs:  # failing the last open jobs completes the workflow: its runners are done
        tokens.revoke_if_complete(conn, workflow_id)
    return recovery


def report(recovery: Recovery) -> dict[str, Any]:
    return {
        "workflow_id": recovery.workflow_id,
        "run_id": recovery.run_id,
        "policy": recovery.policy,
        "lost_compute_nodes": [
            {"id": n.id, "hostname": n.hostname, "pid": n.pid, "last_heartbeat": n.last_heartbeat}
            for n in recovery.nodes
        ],
        "recovered_jobs": [
            {
                "job_id": j.job_id,
                "name": j.name,
                "was": j.was,
                "status": j.now,
                "attempt_id": j.attempt_id,
                "compute_node_id": j.compute_node_id,
                "exhausted": j.exhausted,
            }
            for j in recovery.jobs
        ],
        "canceled_jobs": list(recovery.canceled),
        "ended_slurm_allocations": [
            {"id": a.id, "group_name": a.group_name, "compute_node_id": a.compute_node_id}
            for a in recovery.allocations
        ],
    }


def sweep(db: Database, settings: LostJobSettings) -> list[Recovery]:
    """Recover the jobs of every lost compute node (no caller: the server's own sweep)."""
    cutoff = settings.cutoff()
    if cutoff is None:
        return []
    with db.read() as conn:
        workflow_ids = store.workflows_with_stale_nodes(conn, cutoff)
    done = []
    for workflow_id in workflow_ids:
        with db.write() as conn:
            recovery = _recover(conn, workflow_id, settings, force=False)
        if recovery.nodes or recovery.jobs or recovery.allocations:
            done.append(recovery)
            log.warning(
                "Workflow %d: runners stopped sending heartbeats (%s); jobs recovered: %d (%s)",
                workflow_id,
                ", ".join(f"{n.hostname} pid {n.pid}" for n in recovery.nodes),
                len(recovery.jobs),
                settings.policy,
            )
    return done


class LostJobSweeper:
    """Runs `sweep` every `settings.interval_secs`, in a daemon thread, once this process has
    been up for the heartbeat timeout: a runner could not beat while no server was up (a
    restart after a crash, an upgrade), and it must not be declared lost for that. Its
    retries reach the new server within seconds; one that never comes back is lost a timeout
    after the restart."""

    def __init__(
        self,
        db: Database,
        settings: LostJobSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.settings = settings
        self._clock = clock
        self._since: float | None = None  # when this process began to listen for beats
        self._periodic = Periodic(
            self.sweep_logged, name="lost-job-sweep", interval_secs=settings.interval_secs
        )

    def sweep_logged(self) -> int:
        """One sweep (none while the process is younger than the timeout); a failure is
        logged (the next sweep tries again), never raised."""
        if self._since is None:
            self._since = self._clock()
        if self._clock() - self._since < self.settings.timeout_secs:
            return 0
        try:
            return sum(len(r.jobs) for r in sweep(self.db, self.settings))
        except Exception:
            log.exception("Sweeping for lost runners failed; will try again")
            return 0

    def start(self) -> None:
        if self.settings.timeout_secs:
            self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
