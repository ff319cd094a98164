"""Workflows, their jobs and resource requirements: SQL only, no decisions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, insert, or_, select

from teamgate.domain.workflows import WorkflowSpec
from teamgate.errors import NotFound
from teamgate.storage.db.groups import Page
from teamgate.storage.db.tables import (
    job,
    job_dependency,
    membership,
    resource_requirements,
    workflow,
    workflow_share,
)
from teamgate.storage.db.util import now_text

SORT_COLUMNS = {"id", "name", "user", "description", "timestamp"}


@dataclass(frozen=True, slots=True)
class Workflow:
    id: int
    name: str
    user: str
    description: str | None
    timestamp: str
    project: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """Query filters of `GET /workflows` (all optional)."""

    name: str | None = None
    user: str | None = None
    description: str | None = None
    sort_by: str | None = None
    reverse_sort: bool = False


def _workflow(row: Any) -> Workflow:
    data = dict(row._mapping)
    data["attributes"] = json.loads(data["attributes"] or "{}")
    return Workflow(**data)


def find_workflow(conn: Connection, workflow_id: int) -> Workflow | None:
    row = conn.execute(select(workflow).where(workflow.c.id == workflow_id)).first()
    return _workflow(row) if row else None


def get_workflow(conn: Connection, workflow_id: int) -> Workflow:
    found = find_workflow(conn, workflow_id)
    if found is None:
        raise NotFound(f"Workflow not found with ID: {workflow_id}")
    return found


def insert_workflow(
    conn: Connection,
    *,
    name: str,
    user: str,
    description: str | None,
    project: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Workflow:
    values = {
        "name": name,
        "user": user,
        "description": description,
        "timestamp": now_text(),
        "project": project,
        "attributes": json.dumps(attributes or {}, sort_keys=True),
    }
    new_id = conn.execute(insert(workflow).values(**values).returning(workflow.c.id)).scalar_one()
    return Workflow(
        id=new_id,
        name=name,
        user=user,
        description=description,
        timestamp=str(values["timestamp"]),
        project=project,
        attributes=attributes or {},
    )


def insert_jobs(conn: Connection, workflow_id: int, spec: WorkflowSpec) -> int:
    """Store the spec's resource requirements, jobs and dependencies; return the job count."""
    rr_ids: dict[str, int] = {}
    defaults = {"name": "default", "num_cpus": 1, "memory": "1m", "runtime": "P0DT1M"}
    for rr in [*spec.resource_requirements, None]:
        values = (
            defaults | {"num_gpus": 0, "num_nodes": 1}
            if rr is None
            else {
                "name": rr.name,
                "num_cpus": rr.num_cpus,
                "num_gpus": rr.num_gpus,
                "num_nodes": rr.num_nodes,
                "memory": rr.memory,
                "runtime": rr.runtime,
            }
        )
        if values["name"] in rr_ids:
            continue
        rr_ids[str(values["name"])] = conn.execute(
            insert(resource_requirements)
            .values(workflow_id=workflow_id, **values)
            .returning(resource_requirements.c.id)
        ).scalar_one()
    job_ids: dict[str, int] = {}
    for spec_job in spec.jobs:
        job_ids[spec_job.name] = conn.execute(
            insert(job)
            .values(
                workflow_id=workflow_id,
                name=spec_job.name,
                command=spec_job.command,
                resource_requirements_id=rr_ids[spec_job.resource_requirements or "default"],
                invocation_script=spec_job.invocation_script,
                cancel_on_blocking_job_failure=spec_job.cancel_on_blocking_job_failure,
                supports_termination=spec_job.supports_termination,
                status="uninitialized",
            )
            .returning(job.c.id)
        ).scalar_one()
    edges = [
        {"job_id": job_ids[j.name], "depends_on_job_id": job_ids[d], "workflow_id": workflow_id}
        for j in spec.jobs
        for d in j.depends_on
    ]
    if edges:
        conn.execute(insert(job_dependency), edges)
    return len(job_ids)


def count_jobs(conn: Connection, workflow_id: int) -> int:
    query = select(func.count()).select_from(job).where(job.c.workflow_id == workflow_id)
    return int(conn.execute(query).scalar_one())


def delete_workflow(conn: Connection, workflow_id: int) -> Workflow:
    found = get_workflow(conn, workflow_id)
    conn.execute(delete(workflow).where(workflow.c.id == workflow_id))
    return found


def readable_by(user: str) -> ColumnElement[bool]:
    """SQL condition: the workflow is owned by `user` or shared with one of their groups."""
    shared = (
        select(workflow_share.c.workflow_id)
        .join(membership, membership.c.group_id == workflow_share.c.group_id)
        .where(membership.c.user_name == user)
    )
    return or_(workflow.c.user == user, workflow.c.id.in_(shared))


def list_workflows(
    conn: Connection,
    *,
    visible: ColumnElement[bool] | None,
    filters: WorkflowFilter,
    offset: int,
    limit: int,
) -> Page[Workflow]:
    """One page of workflows matching `filters`, restricted to `visible` (None: all)."""
    conditions: list[ColumnElement[bool]] = [] if visible is None else [visible]
    if filters.name is not None:
        conditions.append(workflow.c.name == filters.name)
    if filters.user is not None:
        conditions.append(workflow.c.user == filters.user)
    if filters.description is not None:
        conditions.append(workflow.c.description.contains(filters.description, autoescape=True))
    where = and_(*conditions) if conditions else None
    total_query: Select[Any] = select(func.count()).select_from(workflow)
    page_query: Select[Any] = select(workflow)
    if where is not None:
        total_query = total_query.where(where)
        page_query = page_query.where(where)
    column = workflow.c[filters.sort_by or "id"]
    order = [column.desc() if filters.reverse_sort else column.asc()]
    if column is not workflow.c.id:
        order.append(workflow.c.id.asc())
    rows = conn.execute(page_query.order_by(*order).offset(offset).limit(limit))
    total = int(conn.execute(total_query).scalar_one())
    return Page([_workflow(r) for r in rows], offset, limit, total)
