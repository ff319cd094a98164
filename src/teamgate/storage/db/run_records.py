"""The records around a run (files, user data, resource requirements, compute nodes, events):
SQL only, no decisions.

Each kind of record is a `Kind`: its table, the noun its errors use, the columns stored as JSON
text and the columns a list may be sorted by. Records travel as plain dicts of their columns
(JSON columns decoded), so one set of functions serves every kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from teamgate.errors import Conflict, Invalid, NotFound
from teamgate.storage.db import tables
from teamgate.storage.db.groups import Page


@dataclass(frozen=True, slots=True)
class Kind:
    noun: str  # "File": "File not found with ID: 3"
    table: Table
    json_columns: frozenset[str] = frozenset()
    sort_columns: frozenset[str] = frozenset({"id"})

    def column(self, name: str) -> Any:
        return self.table.c[name]


FILES = Kind(
    "File",
    tables.file,
    sort_columns=frozenset({"id", "name", "path", "st_mtime"}),
)
USER_DATA = Kind(
    "User data",
    tables.user_data,
    json_columns=frozenset({"data"}),
    sort_columns=frozenset({"id", "name", "is_ephemeral"}),
)
RESOURCE_REQUIREMENTS = Kind(
    "Resource requirements",
    tables.resource_requirements,
    sort_columns=frozenset(
        {"id", "name", "num_cpus", "num_gpus", "num_nodes", "memory_bytes", "runtime_s"}
    ),
)
COMPUTE_NODES = Kind(
    "Compute node",
    tables.compute_node,
    json_columns=frozenset({"scheduler"}),
    sort_columns=frozenset({"id", "hostname", "start_time", "is_active", "pid"}),
)
EVENTS = Kind(
    "Event",
    tables.event,
    json_columns=frozenset({"data"}),
    sort_columns=frozenset({"id", "timestamp"}),
)

# job_file.direction / job_user_data.direction of a job's outputs
OUTPUT = "output"
INPUT = "input"


def _decode(kind: Kind, row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for name in kind.json_columns:
        if name in data and data[name] is not None:
            data[name] = json.loads(data[name])
    return data


def _encode(kind: Kind, values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: json.dumps(value, separators=(",", ":"))
        if name in kind.json_columns and value is not None
        else value
        for name, value in values.items()
    }


def find(conn: Connection, kind: Kind, record_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(kind.table).where(kind.column("id") == record_id)).first()
    return _decode(kind, row) if row else None


def get(conn: Connection, kind: Kind, record_id: int) -> dict[str, Any]:
    found = find(conn, kind, record_id)
    if found is None:
        raise NotFound(f"{kind.noun} not found with ID: {record_id}")
    return found


def insert_record(conn: Connection, kind: Kind, values: Mapping[str, Any]) -> dict[str, Any]:
    new_id = conn.execute(
        insert(kind.table).values(**_encode(kind, values)).returning(kind.column("id"))
    ).scalar_one()
    return get(conn, kind, new_id)


def update_record(
    conn: Connection, kind: Kind, record_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    if values:
        conn.execute(
            update(kind.table).where(kind.column("id") == record_id).values(**_encode(kind, values))
        )
    return get(conn, kind, record_id)


def delete_record(conn: Connection, kind: Kind, record_id: int) -> dict[str, Any]:
    found = get(conn, kind, record_id)
    conn.execute(delete(kind.table).where(kind.column("id") == record_id))
    return found


def page(
    conn: Connection,
    kind: Kind,
    workflow_id: int,
    where: Sequence[ColumnElement[bool]] = (),
    *,
    offset: int,
    limit: int,
    sort_by: str | None = None,
    reverse: bool = False,
) -> Page[dict[str, Any]]:
    """One page of the workflow's records matching `where`, ordered by `sort_by` (then id)."""
    if sort_by is not None and sort_by not in kind.sort_columns:
        known = ", ".join(sorted(kind.sort_columns))
        raise Invalid(f"cannot sort by '{sort_by}': use one of {known}")
    conditions = [kind.column("workflow_id") == workflow_id, *where]
    key = kind.column(sort_by or "id")
    id_column = kind.column("id")
    order = [key.desc(), id_column.desc()] if reverse else [key.asc(), id_column.asc()]
    rows = conn.execute(
        select(kind.table).where(*conditions).order_by(*order).offset(offset).limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(kind.table).where(*conditions))
    return Page([_decode(kind, r) for r in rows], offset, limit, int(total.scalar_one()))


# -- filters and references ----------------------------------------------------------------


def job_in_workflow(conn: Connection, job_id: int, workflow_id: int) -> bool:
    job = tables.job
    query = select(job.c.id).where(job.c.id == job_id, job.c.workflow_id == workflow_id)
    return conn.execute(query).first() is not None


def require_job_in_workflow(conn: Connection, job_id: int, workflow_id: int, field: str) -> None:
    """A job id in a request must name a job of the record's own workflow."""
    if not job_in_workflow(conn, job_id, workflow_id):
        raise Invalid(f"{field}: job {job_id} does not belong to workflow {workflow_id}")


def file_filters(
    *,
    name: str | None,
    path: str | None,
    produced_by_job_id: int | None,
    is_output: bool | None,
) -> list[ColumnElement[bool]]:
    file, link = tables.file, tables.job_file
    where: list[ColumnElement[bool]] = []
    if name is not None:
        where.append(file.c.name == name)
    if path is not None:
        where.append(file.c.path == path)
    output = (link.c.file_id == file.c.id) & (link.c.direction == OUTPUT)
    if produced_by_job_id is not None:
        where.append(exists().where(output, link.c.job_id == produced_by_job_id))
    if is_output is not None:
        produced = exists().where(output)
        where.append(produced if is_output else ~produced)
    return where


def user_data_filters(
    *,
    name: str | None,
    is_ephemeral: bool | None,
    consumer_job_id: int | None,
    producer_job_id: int | None,
) -> list[ColumnElement[bool]]:
    data, link = tables.user_data, tables.job_user_data
    where: list[ColumnElement[bool]] = []
    if name is not None:
        where.append(data.c.name == name)
    if is_ephemeral is not None:
        where.append(data.c.is_ephemeral == is_ephemeral)
    for job_id, direction in ((consumer_job_id, INPUT), (producer_job_id, OUTPUT)):
        if job_id is not None:
            where.append(
                exists().where(
                    link.c.user_data_id == data.c.id,
                    link.c.job_id == job_id,
                    link.c.direction == direction,
                )
            )
    return where


def link_user_data(
    conn: Connection,
    record: Mapping[str, Any],
    *,
    consumer_job_id: int | None,
    producer_job_id: int | None,
) -> None:
    """Record the jobs that read (consumer) and write (producer) new user data."""
    rows = [
        {
            "job_id": job_id,
            "user_data_id": record["id"],
            "direction": direction,
            "workflow_id": record["workflow_id"],
        }
        for job_id, direction in ((consumer_job_id, INPUT), (producer_job_id, OUTPUT))
        if job_id is not None
    ]
    if rows:
        conn.execute(insert(tables.job_user_data), rows)


def resource_requirements_filters(
    *, job_id: int | None, exact: Mapping[str, Any]
) -> list[ColumnElement[bool]]:
    rr, job = tables.resource_requirements, tables.job
    where: list[ColumnElement[bool]] = [
        rr.c[name] == value for name, value in exact.items() if value is not None
    ]
    if job_id is not None:
        used = select(job.c.resource_requirements_id).where(job.c.id == job_id)
        where.append(rr.c.id.in_(used.scalar_subquery()))
    return where


def resource_requirements_named(
    conn: Connection, workflow_id: int, name: str
) -> dict[str, Any] | None:
    rr = tables.resource_requirements
    query = select(rr).where(rr.c.workflow_id == workflow_id, rr.c.name == name)
    row = conn.execute(query).first()
    return _decode(RESOURCE_REQUIREMENTS, row) if row else None


def require_unused(conn: Connection, kind: Kind, record_id: int) -> None:
    """Refuse (409) to delete a record that jobs, results or dependencies still name."""
    users = _references(kind)
    for table, column, what in users:
        query = select(table.c[column]).where(table.c[column] == record_id).limit(1)
        if conn.execute(query).first() is not None:
            raise Conflict(
                f"{kind.noun} {record_id} is used by {what}: change or delete them first"
            )


def _references(kind: Kind) -> list[tuple[Table, str, str]]:
    if kind is RESOURCE_REQUIREMENTS:
        return [(tables.job, "resource_requirements_id", "jobs")]
    if kind is COMPUTE_NODES:
        return [
            (tables.job, "compute_node_id", "jobs"),
            (tables.result, "compute_node_id", "results"),
        ]
    return []


def compute_node_filters(
    *, hostname: str | None, is_active: bool | None, scheduled_compute_node_id: int | None
) -> list[ColumnElement[bool]]:
    node = tables.compute_node
    where: list[ColumnElement[bool]] = []
    if hostname is not None:
        where.append(node.c.hostname == hostname)
    if is_active is not None:
        where.append(node.c.is_active == is_active)
    if scheduled_compute_node_id is not None:
        # teamgate schedules no compute nodes: no record was started by one
        where.append(node.c.id != node.c.id)
    return where


def event_filters(
    *, category: str | None, after_timestamp: int | None
) -> list[ColumnElement[bool]]:
    event = tables.event
    where: list[ColumnElement[bool]] = []
    if category is not None:
        where.append(event.c.category == category)
    if after_timestamp is not None:
        where.append(event.c.timestamp > after_timestamp)
    return where
