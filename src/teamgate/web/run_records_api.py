"""Torc's routes for the records around a run, under /torc-service/v1: files, user data,
resource requirements, compute nodes and events (torc-client 0.35.0's paths, query parameters
and models). Every route is decided on the record's workflow (services/run_records.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement

from teamgate.services import run_records as records
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db import run_records as store
from teamgate.storage.db.groups import Page
from teamgate.storage.db.run_records import (
    COMPUTE_NODES,
    EVENTS,
    FILES,
    RESOURCE_REQUIREMENTS,
    USER_DATA,
    Kind,
)
from teamgate.storage.db.util import now_text
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID
from teamgate.web.run_records_models import (
    MAX_BIGINT,
    ComputeNodeChange,
    ComputeNodeIn,
    ComputeNodeOut,
    EventIn,
    EventOut,
    FileChange,
    FileIn,
    FileOut,
    RecordPage,
    ResourceRequirementsChange,
    ResourceRequirementsIn,
    ResourceRequirementsOut,
    UserDataChange,
    UserDataIn,
    UserDataOut,
)
from teamgate.web.torc_api import PREFIX

router = api_router(prefix=PREFIX, tags=["run records"])

Id = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
BigId = Annotated[int, Path(ge=0, le=MAX_BIGINT)]
WorkflowId = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
JobId = Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
SortBy = Annotated[str | None, Query(max_length=64)]
Text255 = Annotated[str | None, Query(max_length=255)]


def _page(found: Page[dict[str, Any]], model: type[BaseModel]) -> dict[str, Any]:
    return {
        "items": [model.model_validate(item) for item in found.items],
        "offset": found.offset,
        "max_limit": MAX_LIMIT,
        "count": len(found.items),
        "total_count": found.total_count,
        "has_more": found.has_more,
    }


def _changes(body: BaseModel, kind: Kind) -> dict[str, Any]:
    """The fields a PUT sets: those sent, without `id` (the path names the record), and
    without nulls for columns that cannot be empty (torc-client sends unset fields so)."""
    sent = body.model_dump(exclude_unset=True, exclude={"id"})
    return {k: v for k, v in sent.items() if v is not None or kind.column(k).nullable}


def _new(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude={"id"})


@dataclass(frozen=True, slots=True)
class Paging:
    """The page every list takes: `offset`, `limit`, `sort_by` (a column), `reverse_sort`."""

    offset: int
    limit: int
    sort_by: str | None
    reverse_sort: bool


def _paging(
    offset: Offset = 0, limit: Limit = MAX_LIMIT, sort_by: SortBy = None, reverse_sort: bool = False
) -> Paging:
    return Paging(offset, limit, sort_by, reverse_sort)


PageQuery = Annotated[Paging, Depends(_paging)]


def _list(
    ctx: Context,
    caller: Caller,
    kind: Kind,
    model: type[BaseModel],
    workflow_id: int,
    where: Sequence[ColumnElement[bool]],
    paging: Paging,
) -> dict[str, Any]:
    found = records.list_records(
        ctx,
        caller,
        kind,
        workflow_id,
        where,
        offset=paging.offset,
        limit=paging.limit,
        sort_by=paging.sort_by,
        reverse=paging.reverse_sort,
    )
    return _page(found, model)


# -- files ------------------------------------------------------------------------------


@router.post("/files", response_model=FileOut)
def create_file(body: FileIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.create_record(ctx, caller, FILES, _new(body))


@router.get("/files", response_model=RecordPage[FileOut])
def list_files(
    ctx: Context,
    caller: Caller,
    paging: PageQuery,
    workflow_id: WorkflowId,
    produced_by_job_id: JobId = None,
    name: Text255 = None,
    path: Annotated[str | None, Query(max_length=4096)] = None,
    is_output: bool | None = None,
) -> dict[str, Any]:
    where = store.file_filters(
        name=name, path=path, produced_by_job_id=produced_by_job_id, is_output=is_output
    )
    return _list(ctx, caller, FILES, FileOut, workflow_id, where, paging)


@router.get("/files/{id}", response_model=FileOut)
def get_file(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.get_record(ctx, caller, FILES, id)


@router.put("/files/{id}", response_model=FileOut)
def update_file(id: Id, body: FileChange, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.update_record(ctx, caller, FILES, id, _changes(body, FILES))


@router.delete("/files/{id}", response_model=FileOut)
def delete_file(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.delete_record(ctx, caller, FILES, id)


# -- user data ---------------------------------------------------------------------------


@router.post("/user_data", response_model=UserDataOut)
def create_user_data(
    body: UserDataIn,
    ctx: Context,
    caller: Caller,
    consumer_job_id: JobId = None,
    producer_job_id: JobId = None,
) -> dict[str, Any]:
    return records.create_user_data(
        ctx,
        caller,
        _new(body),
        consumer_job_id=consumer_job_id,
        producer_job_id=producer_job_id,
    )


@router.get("/user_data", response_model=RecordPage[UserDataOut])
def list_user_data(
    ctx: Context,
    caller: Caller,
    paging: PageQuery,
    workflow_id: WorkflowId,
    consumer_job_id: JobId = None,
    producer_job_id: JobId = None,
    name: Text255 = None,
    is_ephemeral: bool | None = None,
) -> dict[str, Any]:
    where = store.user_data_filters(
        name=name,
        is_ephemeral=is_ephemeral,
        consumer_job_id=consumer_job_id,
        producer_job_id=producer_job_id,
    )
    return _list(ctx, caller, USER_DATA, UserDataOut, workflow_id, where, paging)


@router.get("/user_data/{id}", response_model=UserDataOut)
def get_user_data(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.get_record(ctx, caller, USER_DATA, id)


@router.put("/user_data/{id}", response_model=UserDataOut)
def update_user_data(id: Id, body: UserDataChange, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.update_record(ctx, caller, USER_DATA, id, _changes(body, USER_DATA))


@router.delete("/user_data/{id}", response_model=UserDataOut)
def delete_user_data(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.delete_record(ctx, caller, USER_DATA, id)


# -- resource requirements ----------------------------------------------------------------


@router.post("/resource_requirements", response_model=ResourceRequirementsOut)
def create_resource_requirements(
    body: ResourceRequirementsIn, ctx: Context, caller: Caller
) -> dict[str, Any]:
    return records.create_resource_requirements(ctx, caller, _new(body))


@router.get("/resource_requirements", response_model=RecordPage[ResourceRequirementsOut])
def list_resource_requirements(
    ctx: Context,
    caller: Caller,
    paging: PageQuery,
    workflow_id: WorkflowId,
    job_id: JobId = None,
    name: Text255 = None,
    memory: Annotated[str | None, Query(max_length=32)] = None,
    num_cpus: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    num_gpus: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    num_nodes: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    runtime: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    exact = {
        "name": name,
        "memory": memory,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_nodes": num_nodes,
        "runtime": runtime,
    }
    where = store.resource_requirements_filters(job_id=job_id, exact=exact)
    model = ResourceRequirementsOut
    return _list(ctx, caller, RESOURCE_REQUIREMENTS, model, workflow_id, where, paging)


@router.get("/resource_requirements/{id}", response_model=ResourceRequirementsOut)
def get_resource_requirements(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.get_record(ctx, caller, RESOURCE_REQUIREMENTS, id)


@router.put("/resource_requirements/{id}", response_model=ResourceRequirementsOut)
def update_resource_requirements(
    id: Id, body: ResourceRequirementsChange, ctx: Context, caller: Caller
) -> dict[str, Any]:
    changes = _changes(body, RESOURCE_REQUIREMENTS)
    return records.update_resource_requirements(ctx, caller, id, changes)


@router.delete("/resource_requirements/{id}", response_model=ResourceRequirementsOut)
def delete_resource_requirements(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.delete_resource_requirements(ctx, caller, id)


# -- compute nodes ---------------------------------------------------------------------------


@router.post("/compute_nodes", response_model=ComputeNodeOut)
def create_compute_node(body: ComputeNodeIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    # registering is the runner's first heartbeat (services/lost_jobs.py)
    return records.create_record(
        ctx, caller, COMPUTE_NODES, {**_new(body), "last_heartbeat": now_text()}
    )


@router.get("/compute_nodes", response_model=RecordPage[ComputeNodeOut])
def list_compute_nodes(
    ctx: Context,
    caller: Caller,
    paging: PageQuery,
    workflow_id: WorkflowId,
    hostname: Text255 = None,
    is_active: bool | None = None,
    scheduled_compute_node_id: JobId = None,
) -> dict[str, Any]:
    where = store.compute_node_filters(
        hostname=hostname, is_active=is_active, scheduled_compute_node_id=scheduled_compute_node_id
    )
    model = ComputeNodeOut
    return _list(ctx, caller, COMPUTE_NODES, model, workflow_id, where, paging)


@router.get("/compute_nodes/{id}", response_model=ComputeNodeOut)
def get_compute_node(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.get_record(ctx, caller, COMPUTE_NODES, id)


@router.put("/compute_nodes/{id}", response_model=ComputeNodeOut)
def update_compute_node(
    id: Id, body: ComputeNodeChange, ctx: Context, caller: Caller
) -> dict[str, Any]:
    changes = _changes(body, COMPUTE_NODES)
    changes.pop("last_heartbeat", None)  # echoed from a read; only heartbeats set it
    return records.update_record(ctx, caller, COMPUTE_NODES, id, changes)


@router.delete("/compute_nodes/{id}", response_model=ComputeNodeOut)
def delete_compute_node(id: Id, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.delete_record(ctx, caller, COMPUTE_NODES, id)


# -- events ---------------------------------------------------------------------------------


@router.post("/events", response_model=EventOut)
def create_event(body: EventIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    values = _new(body)
    if values["timestamp"] is None:
        values["timestamp"] = time.time_ns() // 1_000_000
    return records.create_event(ctx, caller, values)


@router.get("/events", response_model=RecordPage[EventOut])
def list_events(
    ctx: Context,
    caller: Caller,
    paging: PageQuery,
    workflow_id: WorkflowId,
    category: Annotated[str | None, Query(max_length=64)] = None,
    after_timestamp: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> dict[str, Any]:
    """The workflow's events, oldest first (newest last) unless sorted otherwise."""
    where = store.event_filters(category=category, after_timestamp=after_timestamp)
    return _list(ctx, caller, EVENTS, EventOut, workflow_id, where, paging)


@router.get("/events/{id}", response_model=EventOut)
def get_event(id: BigId, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.get_record(ctx, caller, EVENTS, id)


@router.delete("/events/{id}", response_model=EventOut)
def delete_event(id: BigId, ctx: Context, caller: Caller) -> dict[str, Any]:
    return records.delete_record(ctx, caller, EVENTS, id)
