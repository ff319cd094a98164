"""Slurm allocations of a workflow: record one about to be submitted, list them, move one
along (submitted → running → done, canceled or failed).

Decided like the workflow's run routes: listing needs workflow.read, recording and changing
workflow.write (what running the workflow needs). Recording with `only_if_none_active` is
refused (409) when the group already has a submitted or running allocation: the check and the
insert happen under the workflow's run lock, so two runners finishing at once never both
submit one for the same group. Each new allocation is audited and written to the workflow's
events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.errors import Conflict
from teamgate.services import audit
from teamgate.services.context import ServiceContext, require
from teamgate.services.workflows import authorize_workflow, explain_workflow
from teamgate.storage.db import slurm_allocations as store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.events import record_event
from teamgate.storage.db.job_runs import lock_run
from teamgate.storage.db.util import now_text

READ, WRITE = Action.WORKFLOW_READ, Action.WORKFLOW_WRITE


def create(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    values: Mapping[str, Any],
    *,
    only_if_none_active: bool,
) -> dict[str, Any]:
    with ctx.db.write() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        decision = require(explain_workflow(ctx, principal, conn, found, WRITE))
        state = lock_run(conn, workflow_id)  # serialises the check and the insert below
        if state.is_canceled:
            raise Conflict(f"workflow {workflow_id} is canceled: no allocation is submitted for it")
        group = str(values["group_name"])
        if only_if_none_active:
            active = store.active_count(conn, workflow_id, group)
            if active:
                raise Conflict(
                    f"workflow {workflow_id} already has {active} submitted or running "
                    f"allocation(s) for group '{group}'"
                )
        created = store.insert_allocation(conn, workflow_id, principal.display, values)
        detail = (
            f"Slurm allocation {created['id']} for group '{group}': account {created['account']}, "
            f"{created['num_cpus']} CPUs"
        )
        audit.record(conn, principal, "slurm.allocate", f"workflow/{workflow_id}", decision, detail)
        event = {
            "category": "slurm",
            "type": "allocation_submitted",
            "allocation_id": created["id"],
            "group": group,
        }
        record_event(conn, workflow_id, event)
        return created


def list_all(ctx: ServiceContext, principal: Principal, workflow_id: int) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return store.list_allocations(conn, workflow_id)


def change(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    allocation_id: int,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """Set the state, Slurm job id, compute node or end time. An ended allocation (done,
    canceled, failed) keeps its state (409); ending one stamps `ended_at`."""
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        current = store.get_allocation(conn, workflow_id, allocation_id)
        updates = dict(changes)
        new_state = updates.get("state")
        if current["state"] in store.ENDED and new_state not in (None, current["state"]):
            raise Conflict(
                f"Slurm allocation {allocation_id} is {current['state']} already: it cannot "
                f"become {new_state}"
            )
        if new_state in store.ENDED and current["state"] not in store.ENDED:
            updates.setdefault("ended_at", now_text())
            event = {
                "category": "slurm",
                "type": f"allocation_{new_state}",
                "allocation_id": allocation_id,
                "group": current["group_name"],
            }
            record_event(conn, workflow_id, event)
        return store.update_allocation(conn, workflow_id, allocation_id, updates)
