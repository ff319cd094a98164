"""JSON models of the records around a run, as torc-client 0.35.0 sends and reads them: files,
user data, resource requirements, compute nodes and events.

Request models are strict and bounded (string sizes, ids that fit their columns, finite numbers,
JSON data of at most `MAX_DATA_BYTES`). A `…Change` model is a PUT body: every field optional,
only the fields sent change. Server-set fields (`id`) are accepted and ignored, as Torc does.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, field_validator

from teamgate.web.models import MAX_ROW_ID, StrictIn

MAX_BIGINT = 2**63 - 1
MAX_DATA_BYTES = 1024 * 1024  # user data and event data, as JSON
MAX_SCHEDULER_BYTES = 64 * 1024

RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
Count = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
BigCount = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
Number = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Short = Annotated[str, Field(max_length=64)]


def bounded_json(value: Any, limit: int, field: str) -> Any:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise ValueError(f"{field} is {size} bytes of JSON, more than the limit of {limit}")
    return value


T = TypeVar("T")


class RecordPage(BaseModel, Generic[T]):
    """Torc's list page."""

    items: list[T]
    offset: int
    max_limit: int
    count: int
    total_count: int
    has_more: bool


# -- files ------------------------------------------------------------------------------


class FileChange(StrictIn):
    name: Name | None = None
    path: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    st_mtime: Annotated[float, Field(allow_inf_nan=False)] | None = None
    workflow_id: RowId | None = None
    id: int | None = None


class FileIn(FileChange):
    name: Name
    path: Annotated[str, Field(min_length=1, max_length=4096)]
    workflow_id: RowId


class FileOut(BaseModel):
    id: int
    name: str
    path: str
    st_mtime: float | None = None
    workflow_id: int


# -- user data ---------------------------------------------------------------------------


class UserDataChange(StrictIn):
    name: Name | None = None
    data: Any = None
    is_ephemeral: bool | None = None
    workflow_id: RowId | None = None
    id: int | None = None

    @field_validator("data")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_json(value, MAX_DATA_BYTES, "data")


class UserDataIn(UserDataChange):
    name: Name
    is_ephemeral: bool = False
    workflow_id: RowId


class UserDataOut(BaseModel):
    id: int
    name: str
    data: Any = None
    is_ephemeral: bool = False
    workflow_id: int


# -- resource requirements ----------------------------------------------------------------


class ResourceRequirementsChange(StrictIn):
    name: Name | None = None
    num_cpus: Annotated[int, Field(ge=1, le=MAX_ROW_ID)] | None = None
    num_gpus: Count | None = None
    num_nodes: Annotated[int, Field(ge=1, le=MAX_ROW_ID)] | None = None
    memory: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    runtime: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    workflow_id: RowId | None = None
    id: int | None = None


class ResourceRequirementsIn(ResourceRequirementsChange):
    """torc-client's defaults: 1 CPU, no GPU, 1 node, `1m`, `PT1M`."""

    name: Name
    num_cpus: Annotated[int, Field(ge=1, le=MAX_ROW_ID)] = 1
    num_gpus: Count = 0
    num_nodes: Annotated[int, Field(ge=1, le=MAX_ROW_ID)] = 1
    memory: Annotated[str, Field(min_length=1, max_length=32)] = "1m"
    runtime: Annotated[str, Field(min_length=1, max_length=64)] = "PT1M"
    workflow_id: RowId


class ResourceRequirementsOut(BaseModel):
    id: int
    name: str
    num_cpus: int
    num_gpus: int
    num_nodes: int
    memory: str
    runtime: str
    workflow_id: int


# -- compute nodes -------------------------------------------------------------------------


class ComputeNodeChange(StrictIn):
    hostname: Name | None = None
    pid: BigCount | None = None
    start_time: Short | None = None
    duration_seconds: Number | None = None
    is_active: bool | None = None
    num_cpus: Count | None = None
    memory_gb: Number | None = None
    num_gpus: Count | None = None
    num_nodes: Count | None = None
    time_limit: Short | None = None
    scheduler_config_id: RowId | None = None
    compute_node_type: Short | None = None
    scheduler: Any = None
    peak_memory_bytes: BigCount | None = None
    avg_memory_bytes: BigCount | None = None
    peak_cpu_percent: Number | None = None
    avg_cpu_percent: Number | None = None
    sample_count: Count | None = None
    last_heartbeat: Short | None = None  # what a read gave back; heartbeats set it
    workflow_id: RowId | None = None
    id: int | None = None

    @field_validator("scheduler")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_json(value, MAX_SCHEDULER_BYTES, "scheduler")


class ComputeNodeIn(ComputeNodeChange):
    hostname: Name
    pid: BigCount
    start_time: Short
    num_cpus: Count
    memory_gb: Number
    num_gpus: Count
    num_nodes: Count
    compute_node_type: Short
    is_active: bool = True
    workflow_id: RowId


class ComputeNodeOut(BaseModel):
    id: int
    workflow_id: int
    hostname: str
    pid: int
    start_time: str
    duration_seconds: float | None = None
    is_active: bool | None = None
    num_cpus: int
    memory_gb: float
    num_gpus: int
    num_nodes: int
    time_limit: str | None = None
    scheduler_config_id: int | None = None
    compute_node_type: str
    scheduler: Any = None
    peak_memory_bytes: int | None = None
    avg_memory_bytes: int | None = None
    peak_cpu_percent: float | None = None
    avg_cpu_percent: float | None = None
    sample_count: int | None = None
    last_heartbeat: str | None = None  # when its runner last said it is alive


# -- events ---------------------------------------------------------------------------------


class EventIn(StrictIn):
    """`timestamp`: milliseconds since the epoch (now when left out)."""

    data: Any = None
    timestamp: BigCount | None = None
    workflow_id: RowId
    id: int | None = None

    @field_validator("data")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_json(value, MAX_DATA_BYTES, "data")


class EventOut(BaseModel):
    id: int
    workflow_id: int
    timestamp: int
    data: Any = None
