"""JSON models of jobs, results and the run calls, as torc-client 0.35.0 sends and reads them.

Request models are strict and bounded: string sizes, list lengths, ids that fit their columns,
finite numbers. Server-set fields (`id`, `status`, `attempt_id`, …) are accepted and ignored
on create, as Torc does.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from teamgate.domain.jobs import MAX_BATCH, JobStatus
from teamgate.web.models import MAX_ROW_ID, StrictIn

MAX_BIGINT = 2**63 - 1
MAX_JOBS_PER_REQUEST = 10_000
MAX_LINKS = 100_000  # ids in one job's list
MAX_ENV = 1_000

RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
Ids = Annotated[list[RowId], Field(max_length=MAX_LINKS)]
Number = Annotated[float, Field(ge=0, allow_inf_nan=False)]
BigCount = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
EnvName = Annotated[str, Field(min_length=1, max_length=255)]
EnvValue = Annotated[str, Field(max_length=32_768)]


class JobIn(StrictIn):
    """Torc's JobModel as a request body (POST /jobs, /bulk_jobs, PUT /jobs/{id})."""

    workflow_id: RowId
    name: str = Field(min_length=1, max_length=255)
    command: str = Field(max_length=65_536)
    invocation_script: str | None = Field(default=None, max_length=4096)
    cancel_on_blocking_job_failure: bool | None = None
    supports_termination: bool | None = None
    resource_requirements_id: RowId | None = None
    priority: int | None = Field(default=None, ge=0, le=MAX_ROW_ID)
    env: Annotated[dict[EnvName, EnvValue], Field(max_length=MAX_ENV)] | None = None
    depends_on_job_ids: Ids | None = None
    input_file_ids: Ids | None = None
    output_file_ids: Ids | None = None
    input_user_data_ids: Ids | None = None
    output_user_data_ids: Ids | None = None
    status: JobStatus | None = None
    # set by the server; accepted and ignored
    id: int | None = None
    attempt_id: int | None = None
    compute_node_id: int | None = None
    start_time: str | None = Field(default=None, max_length=64)
    failure_handler_id: RowId | None = None
    scheduler_id: RowId | None = None
    origin: str | None = Field(default=None, max_length=64)
    schedule_compute_nodes: dict[str, Any] | None = None


class JobsIn(StrictIn):
    """POST /bulk_jobs: Torc's JobsModel."""

    jobs: list[JobIn] = Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)


class ResultIn(StrictIn):
    """The result of one attempt (Torc's ResultModel), sent with complete_job."""

    job_id: RowId
    workflow_id: RowId
    run_id: RowId
    compute_node_id: RowId
    return_code: int = Field(ge=-(2**31), le=2**31 - 1)
    exec_time_minutes: Number
    completion_time: str = Field(min_length=1, max_length=64)
    status: JobStatus
    attempt_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    peak_memory_bytes: BigCount | None = None
    avg_memory_bytes: BigCount | None = None
    peak_cpu_percent: Number | None = None
    avg_cpu_percent: Number | None = None
    id: int | None = None
    job_name: str | None = Field(default=None, max_length=255)


class CompletionIn(StrictIn):
    """One entry of batch_complete_jobs (Torc's JobCompletionEntry)."""

    job_id: RowId
    status: JobStatus
    run_id: RowId
    result: ResultIn


class BatchCompleteIn(StrictIn):
    """Torc's BatchCompleteJobsRequest: at most MAX_BATCH completions of one workflow."""

    completions: list[CompletionIn] = Field(max_length=MAX_BATCH)


class ResourcesIn(StrictIn):
    """What a compute node offers a claim: Torc's ComputeNodesResources."""

    num_cpus: int = Field(ge=0, le=1_000_000)
    memory_gb: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    num_gpus: int = Field(ge=0, le=1_000_000)
    num_nodes: int = Field(ge=0, le=1_000_000)
    time_limit: str | None = Field(default=None, max_length=64)
    scheduler_config_id: RowId | None = None
    id: RowId | None = None  # the compute node claiming


class JobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    workflow_id: int
    name: str
    command: str
    status: str


class Page(BaseModel):
    """Torc's list page."""

    model_config = ConfigDict(extra="allow")
    items: list[dict[str, Any]]
    offset: int
    max_limit: int
    count: int
    total_count: int
    has_more: bool
