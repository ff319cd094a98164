"""Results: one row per finished job attempt, written by `job_claims.complete`. SQL only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from teamgate.errors import Invalid, NotFound
from teamgate.storage.db.job_runs import run_state
from teamgate.storage.db.tables import job, result

SORT_COLUMNS = ("id", "job_id", "run_id", "return_code", "completion_time", "exec_time_minutes")
_COLUMNS = [*result.c, job.c.name.label("job_name")]


def result_out(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _query() -> Any:
    return select(*_COLUMNS).join(job, job.c.id == result.c.job_id)


def find_result(conn: Connection, result_id: int) -> dict[str, Any] | None:
    row = conn.execute(_query().where(result.c.id == result_id)).first()
    return result_out(row) if row else None


def get_result(conn: Connection, result_id: int) -> dict[str, Any]:
    found = find_result(conn, result_id)
    if found is None:
        raise NotFound(f"Result not found with ID: {result_id}")
    return found


@dataclass(frozen=True, slots=True)
class ResultFilter:
    """Query filters of `GET /results` (all optional but the workflow). Without `run_id` or
    `all_runs`, only the current run's results are listed, as in Torc."""

    job_id: int | None = None
    run_id: int | None = None
    return_code: int | None = None
    status: str | None = None
    compute_node_id: int | None = None
    all_runs: bool = False
    sort_by: str | None = None
    reverse_sort: bool = False
    job_ids: tuple[int, ...] | None = None  # the results of these jobs only (a page of jobs)


def list_results(
    conn: Connection, workflow_id: int, filters: ResultFilter, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    where: list[ColumnElement[bool]] = [result.c.workflow_id == workflow_id]
    if filters.run_id is not None:
        where.append(result.c.run_id == filters.run_id)
    elif not filters.all_runs:
        where.append(result.c.run_id == run_state(conn, workflow_id).run_id)
    for name in ("job_id", "return_code", "status", "compute_node_id"):
        value = getattr(filters, name)
        if value is not None:
            where.append(result.c[name] == value)
    if filters.job_ids is not None:
        where.append(result.c.job_id.in_(filters.job_ids))
    key = filters.sort_by or "id"
    if key not in SORT_COLUMNS:
        raise Invalid(f"sort_by must be one of {', '.join(SORT_COLUMNS)}, got {key!r}")
    column = result.c[key]
    order = [column.desc(), result.c.id.desc()] if filters.reverse_sort else [column, result.c.id]
    rows = conn.execute(_query().where(*where).order_by(*order).offset(offset).limit(limit))
    total = conn.execute(select(func.count()).select_from(result).where(*where)).scalar_one()
    return [result_out(r) for r in rows], int(total)
