"""Workflows, their jobs and resource requirements: SQL only, no decisions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select

from teamgate.domain.workflows import WorkflowSpec
from teamgate.errors import NotFound
from teamgate.storage.db.counts import CountCache
from teamgate.storage.db.listing import Visibility
from teamgate.storage.db.spec_store import store_spec
from teamgate.storage.db.tables import access_group, job, workflow, workflow_share, workflow_status
from teamgate.storage.db.util import now_text
from teamgate.storage.db.workflow_queries import Order, WorkflowQuery, statements

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
    return _workflow_values(dict(row._mapping))


def _workflow_values(data: dict[str, Any]) -> Workflow:
    data["attributes"] = json.loads(data["attributes"] or "{}")
    return Workflow(**data)


# built once: every job call reads its workflow to decide access
_FIND = select(workflow).where(workflow.c.id == bindparam("workflow_id"))


def find_workflow(conn: Connection, workflow_id: int) -> Workflow | None:
    row = conn.execute(_FIND, {"workflow_id": workflow_id}).first()
    return _workflow(row) if row else None


_SHARED = (
    select(
        workflow,
        workflow_status.c.run_id.label("status_run_id"),
        workflow_status.c.is_canceled.label("status_is_canceled"),
        workflow_status.c.is_archived.label("status_is_archived"),
        access_group.c.id.label("share_group_id"),
        access_group.c.name.label("share_group_name"),
        workflow_share.c.access.label("share_access"),
    )
    .select_from(
        workflow.outerjoin(workflow_status, workflow_status.c.workflow_id == workflow.c.id)
        .outerjoin(workflow_share, workflow_share.c.workflow_id == workflow.c.id)
        .outerjoin(access_group, access_group.c.id == workflow_share.c.group_id)
    )
    .where(workflow.c.id == bindparam("workflow_id"))
    .order_by(access_group.c.id)
    .limit(bindparam("row_limit"))
)
_WORKFLOW_COLUMNS = tuple(c.name for c in workflow.c)


@dataclass(frozen=True, slots=True)
class SharedWorkflow:
    """A workflow with the groups it is shared with (id → name, by id), each share's level
    (id → level) and its run state."""

    workflow: Workflow
    groups: dict[int, str]
    levels: dict[int, str]
    run_id: int
    is_canceled: bool
    is_archived: bool


def find_shared_workflow(
    conn: Connection, workflow_id: int, *, group_limit: int
) -> SharedWorkflow | None:
    """The workflow, its first `group_limit` share groups and its run state in one statement
    (one row per group): what `GET /workflows/{id}` reads, without a transaction around
    three queries."""
    rows = conn.execute(
        _SHARED, {"workflow_id": workflow_id, "row_limit": max(group_limit, 1)}
    ).all()
    if not rows:
        return None
    first = rows[0]._mapping
    found = _workflow_values({name: first[name] for name in _WORKFLOW_COLUMNS})
    shared = [r for r in rows if r.share_group_id is not None]
    return SharedWorkflow(
        found,
        {r.share_group_id: r.share_group_name for r in shared},
        {r.share_group_id: r.share_access for r in shared},
        int(first["status_run_id"] or 1),
        bool(first["status_is_canceled"]),
        bool(first["status_is_archived"]),
    )


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
    conn.execute(insert(workflow_status).values(workflow_id=new_id, run_id=1, is_canceled=False))
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
    """Store the spec's resource requirements, files, user data, jobs and every link between
    them (see `spec_store`); return the job count."""
    return store_spec(conn, workflow_id, spec)


def count_jobs(conn: Connection, workflow_id: int) -> int:
    query = select(func.count()).select_from(job).where(job.c.workflow_id == workflow_id)
    return int(conn.execute(query).scalar_one())


def delete_workflow(conn: Connection, workflow_id: int) -> Workflow:
    found = get_workflow(conn, workflow_id)
    conn.execute(delete(workflow).where(workflow.c.id == workflow_id))
    return found


@dataclass(frozen=True, slots=True)
class WorkflowPage:
    """One page of a workflow list. `next_cursor` continues after its last item (None at the
    end); `total_count` counts every visible workflow matching the filters."""

    items: list[Workflow]
    offset: int
    limit: int
    total_count: int
    has_more: bool
    next_cursor: str | None = None


def listing_queries(
    dialect: str,
    *,
    visible: Visibility | None,
    filters: WorkflowFilter,
    offset: int,
    limit: int,
    after: str | None = None,
) -> list[tuple[str, Select[Any]]]:
    """The page query (`limit + 1` rows, to tell whether more follow) and the count query of
    `list_workflows`, with their values bound (for EXPLAIN in benchmarks and tests)."""
    order = Order(filters.sort_by or "id", filters.reverse_sort)
    page, count = statements(WorkflowQuery(visible, filters, order), dialect, after is not None)
    values = _page_parameters(order, offset, limit, after)
    names = page.compile().params  # the bound names this form uses
    return [
        ("workflow page", page.params({k: v for k, v in values.items() if k in names})),
        ("workflow count", count),
    ]


def _page_parameters(order: Order, offset: int, limit: int, after: str | None) -> dict[str, Any]:
    count = limit + 1  # one more row tells whether another page follows
    return {"offset": offset, "count": count, "depth": offset + count, **order.parameters(after)}


def list_workflows(
    conn: Connection,
    *,
    visible: Visibility | None,
    filters: WorkflowFilter,
    offset: int,
    limit: int,
    after: str | None = None,
    counts: CountCache | None = None,
) -> WorkflowPage:
    """One page of workflows matching `filters`, restricted to `visible` (None: all), starting
    `offset` rows after the cursor `after` (or after the start); the total comes from
    `counts` while nothing it depends on has changed."""
    if visible is not None and visible.denies_everything:
        return WorkflowPage([], offset, limit, 0, False)
    order = Order(filters.sort_by or "id", filters.reverse_sort)
    query = WorkflowQuery(visible, filters, order)
    page, count = statements(query, conn.dialect.name, after is not None)
    rows = conn.execute(page, _page_parameters(order, offset, limit, after)).all()
    if counts is None:
        total = int(conn.execute(count).scalar_one())
    else:
        total = counts.count(conn, query, count)
    items = [_workflow(r) for r in rows[:limit]]
    if len(rows) <= limit:
        return WorkflowPage(items, offset, limit, total, False)
    last = items[-1]
    cursor = order.cursor(getattr(last, order.key_name), last.id)
    return WorkflowPage(items, offset, limit, total, True, cursor)
