"""Jobs of a workflow: their records and links (dependencies, files, user data). SQL only.

A job is returned as a dict shaped like torc-client's JobModel. Ids a caller names (blockers,
files, user data, resource requirements) are checked here to belong to the job's workflow,
so that no link ever crosses workflows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from teamgate.domain.jobs import DONE, STATUSES
from teamgate.errors import Conflict, Invalid, NotFound
from teamgate.storage.db.spec_store import insert_default_requirements
from teamgate.storage.db.tables import (
    file,
    job,
    job_dependency,
    job_file,
    job_user_data,
    resource_requirements,
    user_data,
)

T = TypeVar("T")

FINAL = (*DONE, "pending_failed")  # what complete_job may set
SORT_COLUMNS = ("id", "name", "status", "priority", "workflow_id")
RELATIONS = (
    "depends_on_job_ids",
    "input_file_ids",
    "output_file_ids",
    "input_user_data_ids",
    "output_user_data_ids",
)

_COLUMNS = [
    job.c.id,
    job.c.workflow_id,
    job.c.name,
    job.c.command,
    job.c.invocation_script,
    job.c.status,
    job.c.cancel_on_blocking_job_failure,
    job.c.supports_termination,
    job.c.resource_requirements_id,
    job.c.priority,
    job.c.env,
    job.c.attempt_id,
    job.c.compute_node_id,
    job.c.start_time,
]


def job_out(row: Any) -> dict[str, Any]:
    """A job row as torc-client's JobModel (links are added by `with_relations`)."""
    data = dict(row._mapping)
    data["env"] = json.loads(data["env"]) if data.get("env") else None
    data["cancel_on_blocking_job_failure"] = bool(data["cancel_on_blocking_job_failure"])
    data["supports_termination"] = bool(data["supports_termination"])
    return data


def job_columns() -> list[Any]:
    return list(_COLUMNS)


_FIND = select(*_COLUMNS).where(job.c.id == bindparam("job_id"))  # built once: a hot path


def find_job(conn: Connection, job_id: int) -> dict[str, Any] | None:
    row = conn.execute(_FIND, {"job_id": job_id}).first()
    return job_out(row) if row else None


def get_job(conn: Connection, job_id: int) -> dict[str, Any]:
    found = find_job(conn, job_id)
    if found is None:
        raise NotFound(f"Job not found with ID: {job_id}")
    return found


def job_workflow_id(conn: Connection, job_id: int) -> int:
    """The workflow of job `job_id` (NotFound if there is no such job)."""
    found = conn.execute(select(job.c.workflow_id).where(job.c.id == job_id)).scalar()
    if found is None:
        raise NotFound(f"Job not found with ID: {job_id}")
    return int(found)


def with_relations(conn: Connection, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each job's dependency, file and user-data ids (three queries for any number)."""
    if not jobs:
        return jobs
    ids = [j["id"] for j in jobs]
    by_id = {j["id"]: j for j in jobs}
    for j in jobs:
        for name in RELATIONS:
            j[name] = []
    for chunk in _chunks(ids):
        deps = select(job_dependency.c.job_id, job_dependency.c.depends_on_job_id).where(
            job_dependency.c.job_id.in_(chunk)
        )
        for job_id, blocker in conn.execute(deps.order_by(job_dependency.c.depends_on_job_id)):
            by_id[job_id]["depends_on_job_ids"].append(blocker)
        for table, column, prefix in (
            (job_file, job_file.c.file_id, "file"),
            (job_user_data, job_user_data.c.user_data_id, "user_data"),
        ):
            links = select(table.c.job_id, table.c.direction, column).where(
                table.c.job_id.in_(chunk)
            )
            for job_id, direction, linked in conn.execute(links.order_by(column)):
                by_id[job_id][f"{direction}_{prefix}_ids"].append(linked)
    return jobs


def _chunks(ids: Sequence[T], size: int = 1000) -> Iterable[Sequence[T]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Query filters of `GET /jobs` (all optional but the workflow)."""

    status: str | None = None
    name: str | None = None  # substring
    command: str | None = None  # substring
    upstream_job_id: int | None = None  # jobs that depend on it
    needs_file_id: int | None = None  # jobs that read it
    active_compute_node_id: int | None = None
    sort_by: str | None = None
    reverse_sort: bool = False


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _conditions(workflow_id: int, filters: JobFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [job.c.workflow_id == workflow_id]
    if filters.status is not None:
        where.append(job.c.status == filters.status)
    if filters.name is not None:
        where.append(func.lower(job.c.name).like(_like(filters.name), escape="\\"))
    if filters.command is not None:
        where.append(func.lower(job.c.command).like(_like(filters.command), escape="\\"))
    if filters.active_compute_node_id is not None:
        where.append(job.c.compute_node_id == filters.active_compute_node_id)
    if filters.upstream_job_id is not None:
        downstream = select(job_dependency.c.job_id).where(
            job_dependency.c.depends_on_job_id == filters.upstream_job_id
        )
        where.append(job.c.id.in_(downstream))
    if filters.needs_file_id is not None:
        readers = select(job_file.c.job_id).where(
            job_file.c.file_id == filters.needs_file_id, job_file.c.direction == "input"
        )
        where.append(job.c.id.in_(readers))
    return where


def list_jobs(
    conn: Connection, workflow_id: int, filters: JobFilter, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of a workflow's jobs and the total matching `filters`."""
    where = _conditions(workflow_id, filters)
    key = filters.sort_by or "id"
    if key not in SORT_COLUMNS:
        raise Invalid(f"sort_by must be one of {', '.join(SORT_COLUMNS)}, got {key!r}")
    column = job.c[key]
    order = [column.desc(), job.c.id.desc()] if filters.reverse_sort else [column, job.c.id]
    rows = conn.execute(
        select(*_COLUMNS).where(*where).order_by(*order).offset(offset).limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(job).where(*where)).scalar_one()
    return [job_out(r) for r in rows], int(total)


# -- creating and changing jobs ---------------------------------------------------------------


def _ids_in_workflow(
    conn: Connection, table: Table, ids: Iterable[int], workflow_id: int, field: str
) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found: set[int] = set()
    for chunk in _chunks(sorted(wanted)):
        query = select(table.c.id).where(table.c.id.in_(chunk), table.c.workflow_id == workflow_id)
        found.update(conn.execute(query).scalars())
    missing = sorted(wanted - found)
    if missing:
        raise Invalid(f"{field}: {missing[0]} is not an id in workflow {workflow_id}")


def default_requirements_id(conn: Connection, workflow_id: int) -> int:
    """The workflow's `default` resource requirement, made now if it has none yet."""
    query = select(resource_requirements.c.id).where(
        resource_requirements.c.workflow_id == workflow_id,
        resource_requirements.c.name == "default",
    )
    found = conn.execute(query).scalar()
    return int(found) if found is not None else insert_default_requirements(conn, workflow_id)


def check_links(conn: Connection, workflow_id: int, body: Mapping[str, Any]) -> None:
    """Every id a job body names must be a record of `workflow_id` (400 otherwise)."""
    if body.get("resource_requirements_id") is not None:
        _ids_in_workflow(
            conn,
            resource_requirements,
            [body["resource_requirements_id"]],
            workflow_id,
            "resource_requirements_id",
        )
    _ids_in_workflow(
        conn, job, body.get("depends_on_job_ids") or (), workflow_id, "depends_on_job_ids"
    )
    for name in ("input_file_ids", "output_file_ids"):
        _ids_in_workflow(conn, file, body.get(name) or (), workflow_id, name)
    for name in ("input_user_data_ids", "output_user_data_ids"):
        _ids_in_workflow(conn, user_data, body.get(name) or (), workflow_id, name)


def _names_taken(conn: Connection, workflow_id: int, names: Sequence[str]) -> str | None:
    for chunk in _chunks(list(names)):
        query = select(job.c.name).where(job.c.workflow_id == workflow_id, job.c.name.in_(chunk))
        taken = conn.execute(query.limit(1)).scalar()
        if taken is not None:
            return str(taken)
    return None


def insert_jobs(
    conn: Connection, workflow_id: int, bodies: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Create jobs (JobModel bodies of one workflow, already validated) as `uninitialized`,
    with their links; return them as JobModels."""
    names = [b["name"] for b in bodies]
    if len(set(names)) != len(names):
        raise Invalid("jobs: two jobs have the same name")
    taken = _names_taken(conn, workflow_id, names)
    if taken is not None:
        raise Conflict(f"a job named '{taken}' already exists in workflow {workflow_id}")
    for body in bodies:
        check_links(conn, workflow_id, body)
    default_rr: int | None = None
    rows = []
    for body in bodies:
        rr_id = body.get("resource_requirements_id")
        if rr_id is None:
            default_rr = default_rr or default_requirements_id(conn, workflow_id)
            rr_id = default_rr
        env = body.get("env")
        rows.append(
            {
                "workflow_id": workflow_id,
                "name": body["name"],
                "command": body["command"],
                "invocation_script": body.get("invocation_script"),
                "cancel_on_blocking_job_failure": bool(body.get("cancel_on_blocking_job_failure")),
                "supports_termination": bool(body.get("supports_termination")),
                "resource_requirements_id": rr_id,
                "status": "uninitialized",
                "priority": body.get("priority") or 0,
                "env": json.dumps(env, sort_keys=True) if env else None,
            }
        )
    statement = insert(job).returning(job.c.id, sort_by_parameter_order=True)
    ids = list(conn.execute(statement, rows).scalars())
    for job_id, body in zip(ids, bodies, strict=True):
        _insert_links(conn, workflow_id, job_id, body)
    created = [
        job_out(r)
        for r in conn.execute(select(*_COLUMNS).where(job.c.id.in_(ids)).order_by(job.c.id))
    ]
    return with_relations(conn, created)


def _insert_links(conn: Connection, workflow_id: int, job_id: int, body: Mapping[str, Any]) -> None:
    deps = [
        {"job_id": job_id, "depends_on_job_id": d, "workflow_id": workflow_id}
        for d in dict.fromkeys(body.get("depends_on_job_ids") or ())
    ]
    if deps:
        conn.execute(insert(job_dependency), deps)
    for table, column, prefix in (
        (job_file, "file_id", "file"),
        (job_user_data, "user_data_id", "user_data"),
    ):
        links = [
            {"job_id": job_id, column: linked, "direction": direction, "workflow_id": workflow_id}
            for direction in ("input", "output")
            for linked in dict.fromkeys(body.get(f"{direction}_{prefix}_ids") or ())
        ]
        if links:
            conn.execute(insert(table), links)


UPDATABLE = (
    "name",
    "command",
    "invocation_script",
    "cancel_on_blocking_job_failure",
    "supports_termination",
    "resource_requirements_id",
    "priority",
    "env",
)


def update_job(
    conn: Connection, current: dict[str, Any], body: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply a PUT body to job `current` (links and status were checked by the caller)."""
    values: dict[str, Any] = {}
    for name in UPDATABLE:
        if name in body and body[name] is not None and body[name] != current[name]:
            values[name] = body[name]
    if "env" in values:
        values["env"] = json.dumps(values["env"], sort_keys=True) if values["env"] else None
    if body.get("status") == "disabled" and current["status"] != "disabled":
        values["status"] = "disabled"
    if "name" in values and _names_taken(conn, current["workflow_id"], [values["name"]]):
        raise Conflict(
            f"a job named '{values['name']}' already exists in workflow {current['workflow_id']}"
        )
    if values:
        conn.execute(update(job).where(job.c.id == current["id"]).values(values))
    return with_relations(conn, [get_job(conn, current["id"])])[0]


def delete_job(conn: Connection, job_id: int) -> dict[str, Any]:
    found = with_relations(conn, [get_job(conn, job_id)])[0]
    conn.execute(delete(job).where(job.c.id == job_id))
    return found


def count_by_status(conn: Connection, workflow_id: int) -> dict[str, int]:
    """How many of the workflow's jobs are in each status (every status, 0 when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    query = (
        select(job.c.status, func.count())
        .where(job.c.workflow_id == workflow_id)
        .group_by(job.c.status)
    )
    for status, count in conn.execute(query):
        counts[str(status)] = int(count)
    return counts


def counts_by_workflow(conn: Connection, workflow_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """How many jobs each of `workflow_ids` has in each status it has any in (one query for a
    page of workflows); a workflow without jobs is left out."""
    found: dict[int, dict[str, int]] = {}
    if not workflow_ids:
        return found
    query = (
        select(job.c.workflow_id, job.c.status, func.count())
        .where(job.c.workflow_id.in_(list(workflow_ids)))
        .group_by(job.c.workflow_id, job.c.status)
    )
    for workflow_id, status, count in conn.execute(query):
        found.setdefault(int(workflow_id), {})[str(status)] = int(count)
    return found


@dataclass(frozen=True, slots=True)
class GraphRows:
    """A workflow's jobs (id, name, status; the first by id) and dependencies (job, blocker),
    each list bounded, with the totals."""

    jobs: list[tuple[int, str, str]]
    job_total: int
    edges: list[tuple[int, int]]
    edge_total: int


def graph_rows(conn: Connection, workflow_id: int, *, max_jobs: int, max_edges: int) -> GraphRows:
    """What a drawing of the job graph needs, and nothing more (four narrow queries)."""
    jobs = conn.execute(
        select(job.c.id, job.c.name, job.c.status)
        .where(job.c.workflow_id == workflow_id)
        .order_by(job.c.id)
        .limit(max_jobs)
    ).all()
    links = job_dependency.c
    edges = conn.execute(
        select(links.job_id, links.depends_on_job_id)
        .where(links.workflow_id == workflow_id)
        .order_by(links.job_id, links.depends_on_job_id)
        .limit(max_edges)
    ).all()
    count = select(func.count())
    job_total = conn.execute(count.where(job.c.workflow_id == workflow_id)).scalar_one()
    edge_total = conn.execute(count.where(links.workflow_id == workflow_id)).scalar_one()
    return GraphRows(
        [(int(i), str(n), str(s)) for i, n, s in jobs],
        int(job_total),
        [(int(a), int(b)) for a, b in edges],
        int(edge_total),
    )


def dependencies_page(
    conn: Connection, workflow_id: int, *, offset: int, limit: int, reverse: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """One page of the workflow's job dependencies with both jobs' names."""
    blocker = job.alias("blocker")
    order = [job_dependency.c.job_id, job_dependency.c.depends_on_job_id]
    query = (
        select(
            job_dependency.c.job_id,
            job.c.name.label("job_name"),
            job_dependency.c.depends_on_job_id,
            blocker.c.name.label("depends_on_job_name"),
            job_dependency.c.workflow_id,
        )
        .join(job, job.c.id == job_dependency.c.job_id)
        .join(blocker, blocker.c.id == job_dependency.c.depends_on_job_id)
        .where(job_dependency.c.workflow_id == workflow_id)
        .order_by(*[c.desc() for c in order] if reverse else order)
        .offset(offset)
        .limit(limit)
    )
    rows = [dict(r._mapping) for r in conn.execute(query)]
    total = conn.execute(
        select(func.count())
        .select_from(job_dependency)
        .where(and_(job_dependency.c.workflow_id == workflow_id))
    ).scalar_one()
    return rows, int(total)
