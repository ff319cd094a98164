"""JSON models of the Torc API (`/torc-service/v1`), shaped like Torc's OpenAPI.

Request models are strict: unknown fields and wrong types are 400 errors naming the field.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from teamgate.domain.levels import DEFAULT_LEVEL, Level
from teamgate.web.text import check_text

Strict = ConfigDict(extra="forbid", strict=True)
MAX_ROW_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


class StrictIn(BaseModel):
    """Base of request bodies: unknown fields, wrong types and unstorable text are errors."""

    model_config = Strict

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        check_text(data)
        return data


class ErrorBody(BaseModel):
    error: str
    message: str


class PingResponse(BaseModel):
    status: str


class VersionResponse(BaseModel):
    api_version: str
    version: str
    git_hash: str | None = None


class WorkflowIn(StrictIn):
    """`POST /workflows`: Torc's WorkflowModel. Server-set fields are accepted and ignored."""

    name: str = Field(min_length=1, max_length=255)
    user: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    project: str | None = Field(default=None, max_length=255)
    access_groups: list[str] | None = None
    id: int | None = None
    timestamp: str | None = None
    is_archived: bool | None = None
    is_canceled: bool | None = None
    run_id: int | None = None
    compute_node_expiration_buffer_seconds: int | None = None
    compute_node_ignore_workflow_completion: bool | None = None
    compute_node_min_time_for_new_jobs_seconds: int | None = None
    compute_node_wait_for_healthy_database_minutes: int | None = None
    compute_node_wait_for_new_jobs_seconds: int | None = None
    enable_ro_crate: bool | None = None
    use_pending_failed: bool | None = None
    jobs_sort_method: str | None = None
    submission_directory: str | None = None
    env: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    slurm_defaults: dict[str, Any] | None = None
    dynamic_jobs: dict[str, Any] | None = None
    execution_config: dict[str, Any] | None = None
    resource_monitor_config: dict[str, Any] | None = None

    IGNORED: ClassVar[frozenset[str]] = frozenset(
        {
            "id",
            "timestamp",
            "is_archived",
            "is_canceled",
            "run_id",
            "name",
            "user",
            "description",
            "project",
            "access_groups",
        }
    )

    def attributes(self) -> dict[str, Any]:
        """The Torc fields teamgate stores as given and returns unchanged."""
        data = self.model_dump(exclude_none=True)
        return {k: v for k, v in data.items() if k not in self.IGNORED}


class WorkflowOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    name: str
    user: str
    description: str | None = None
    timestamp: str
    project: str | None = None
    is_archived: bool = False
    is_canceled: bool = False
    access_groups: list[str] = Field(default_factory=list)  # [] when shared with no group


class WorkflowCreated(WorkflowOut):
    workflow_id: int
    job_count: int = 0


class ListWorkflowsResponse(BaseModel):
    items: list[WorkflowOut]
    offset: int
    max_limit: int
    count: int
    total_count: int
    has_more: bool


class AccessGroupIn(StrictIn):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    id: int | None = None
    created_at: str | None = None


class AccessGroupOut(BaseModel):
    id: int
    name: str
    description: str | None = None
    created_at: str


class ListAccessGroupsResponse(BaseModel):
    items: list[AccessGroupOut]
    offset: int
    limit: int
    total_count: int
    has_more: bool


class MembershipIn(StrictIn):
    """`POST /access_groups/{id}/members`. `group_id` may be omitted; the path decides."""

    user_name: str = Field(min_length=1, max_length=255)
    group_id: int | None = None
    role: str = "member"
    id: int | None = None
    created_at: str | None = None


class MembershipOut(BaseModel):
    id: int
    user_name: str
    group_id: int
    role: str
    created_at: str


class MembershipAdded(MembershipOut):
    """`POST /access_groups/{id}/members`; `warning` when the user is unknown to the htpasswd
    file (sent only then; torc-client ignores it)."""

    warning: str | None = None


class ListMembershipsResponse(BaseModel):
    items: list[MembershipOut]
    offset: int
    limit: int
    total_count: int
    has_more: bool


# A share's level in a request body (domain.levels.Level; a Literal, as strict models take
# no enum from JSON text).
AccessLevel = Literal["read", "write", "admin"]


class WorkflowGroupIn(StrictIn):
    group_id: int = Field(ge=0, le=MAX_ROW_ID)
    workflow_id: int | None = Field(default=None, ge=0, le=MAX_ROW_ID)
    created_at: str | None = None
    # the share's level: read, write or admin; omitted: write (see domain.levels)
    access: AccessLevel | None = None

    @property
    def level(self) -> Level | None:
        return None if self.access is None else Level(self.access)


class ShareLevelIn(StrictIn):
    """The optional body of `POST /workflows/{id}/access_groups/{group_id}` (the torc client
    sends none: the default level)."""

    access: AccessLevel | None = None

    @property
    def level(self) -> Level | None:
        return None if self.access is None else Level(self.access)


class WorkflowGroupOut(BaseModel):
    workflow_id: int
    group_id: int
    created_at: str
    access: str = DEFAULT_LEVEL.value
    previous_access: str | None = None  # set when sharing again changed the level


class WorkflowAccessGroupOut(AccessGroupOut):
    """A group a workflow is shared with, and the share's level."""

    access: str


class ListWorkflowGroupsResponse(BaseModel):
    items: list[WorkflowAccessGroupOut]
    offset: int
    limit: int
    total_count: int
    has_more: bool


class AccessCheckResponse(BaseModel):
    has_access: bool
    user_name: str
    workflow_id: int
    reason: str | None = None


class ReloadAuthResponse(BaseModel):
    message: str
    user_count: int
