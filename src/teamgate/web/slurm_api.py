"""Slurm allocations of a workflow, under /torc-service/v1 (services/slurm_allocations.py):
what `torc submit-slurm`, `torc slurm status` and the allocation runners call.

    POST  /workflows/{id}/slurm_allocations             record one about to be submitted
    GET   /workflows/{id}/slurm_allocations             list them (oldest first)
    PATCH /workflows/{id}/slurm_allocations/{alloc_id}  state, Slurm job id, compute node, end
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import Field

from teamgate.services import slurm_allocations as allocations
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID, StrictIn
from teamgate.web.torc_api import PREFIX

router = api_router(prefix=PREFIX, tags=["slurm"])

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
State = Literal["submitted", "running", "done", "canceled", "failed"]
# Slurm job ids: digits, or an array/het job's `123_4` / `123+1`
SlurmJobId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9]+([_+][0-9]+)?$")]
# account and partition names as Slurm takes them (no spaces, quotes or shell characters)
SlurmName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.+-]+$")]
MAX_MEMORY = 1 << 60  # bytes (an exbibyte)


class AllocationIn(StrictIn):
    group_name: str = Field(min_length=1, max_length=255)
    account: SlurmName
    partition: SlurmName | None = None
    num_cpus: int = Field(ge=1, le=1_000_000)
    memory_bytes: int = Field(ge=0, le=MAX_MEMORY)
    time_limit: str | None = Field(default=None, min_length=1, max_length=64)
    resource_requirements_id: int | None = Field(default=None, ge=0, le=MAX_ROW_ID)
    slurm_job_id: SlurmJobId | None = None
    only_if_none_active: bool = False


class AllocationChange(StrictIn):
    state: State | None = None
    slurm_job_id: SlurmJobId | None = None
    compute_node_id: int | None = Field(default=None, ge=0, le=MAX_ROW_ID)
    ended_at: str | None = Field(default=None, min_length=1, max_length=64)


@router.post("/workflows/{id}/slurm_allocations")
def create_slurm_allocation(
    id: Id, body: AllocationIn, ctx: Context, caller: Caller
) -> dict[str, Any]:
    values = body.model_dump(exclude={"only_if_none_active"})
    return allocations.create(ctx, caller, id, values, only_if_none_active=body.only_if_none_active)


@router.get("/workflows/{id}/slurm_allocations")
def list_slurm_allocations(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    items = allocations.list_all(ctx, caller, id)
    return {"items": items, "count": len(items)}


@router.patch("/workflows/{id}/slurm_allocations/{alloc_id}")
def change_slurm_allocation(
    id: Id,
    alloc_id: Annotated[int, Path(ge=0, le=MAX_ROW_ID)],
    body: AllocationChange,
    ctx: Context,
    caller: Caller,
) -> dict[str, Any]:
    return allocations.change(ctx, caller, id, alloc_id, body.model_dump(exclude_unset=True))
