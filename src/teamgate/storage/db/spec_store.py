"""Store a whole expanded workflow spec: resource requirements, files, user data, jobs and
every link between them, in the caller's transaction (the one that creates the workflow).

Rows go in as a few multi-row inserts, not one statement per job: a parameterised spec can
expand to 100,000 jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

from teamgate.domain.workflows import WorkflowSpec
from teamgate.storage.db.requirements import parsed_columns
from teamgate.storage.db.tables import (
    file,
    job,
    job_dependency,
    job_file,
    job_user_data,
    resource_requirements,
    user_data,
)

# Torc creates this requirement for every workflow; jobs naming none use it
DEFAULT_REQUIREMENTS = {
    "name": "default",
    "num_cpus": 1,
    "num_gpus": 0,
    "num_nodes": 1,
    "memory": "1m",
    "runtime": "P0DT1M",
}
_BATCH = 2000  # rows per multi-row insert


def _insert_ids(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert `rows` into `table`; return their ids in the order of `rows`."""
    ids: list[int] = []
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids.extend(conn.execute(statement, list(chunk)).scalars())
    return ids


def _insert_all(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)


def insert_default_requirements(conn: Connection, workflow_id: int) -> int:
    """The workflow's `default` resource requirement; returns its id."""
    rows = [{"workflow_id": workflow_id, **DEFAULT_REQUIREMENTS, **_parsed(DEFAULT_REQUIREMENTS)}]
    return _insert_ids(conn, resource_requirements, rows)[0]


def _parsed(values: Mapping[str, Any]) -> dict[str, Any]:
    return parsed_columns(str(values["memory"]), str(values["runtime"]))


def store_spec(conn: Connection, workflow_id: int, spec: WorkflowSpec) -> int:
    """Store everything `spec` declares under `workflow_id`; return the number of jobs."""
    rr_rows: list[dict[str, Any]] = []
    for rr in spec.resource_requirements:
        values = {
            "name": rr.name,
            "num_cpus": rr.num_cpus,
            "num_gpus": rr.num_gpus,
            "num_nodes": rr.num_nodes,
            "memory": rr.memory,
            "runtime": rr.runtime,
        }
        rr_rows.append({"workflow_id": workflow_id, **values, **_parsed(values)})
    if not any(r["name"] == "default" for r in rr_rows):
        rr_rows.append(
            {"workflow_id": workflow_id, **DEFAULT_REQUIREMENTS, **_parsed(DEFAULT_REQUIREMENTS)}
        )
    rr_ids = dict(
        zip(
            [r["name"] for r in rr_rows],
            _insert_ids(conn, resource_requirements, rr_rows),
            strict=True,
        )
    )
    file_rows = [{"workflow_id": workflow_id, "name": f.name, "path": f.path} for f in spec.files]
    file_ids = dict(
        zip([f.name for f in spec.files], _insert_ids(conn, file, file_rows), strict=True)
    )
    data_rows = [
        {
            "workflow_id": workflow_id,
            "name": d.name,
            "data": json.dumps(d.data),
            "is_ephemeral": d.is_ephemeral,
        }
        for d in spec.user_data
    ]
    data_ids = dict(
        zip([d.name for d in spec.user_data], _insert_ids(conn, user_data, data_rows), strict=True)
    )
    job_rows = [
        {
            "workflow_id": workflow_id,
            "name": j.name,
            "command": j.command,
            "resource_requirements_id": rr_ids[j.resource_requirements or "default"],
            "invocation_script": j.invocation_script,
            "cancel_on_blocking_job_failure": j.cancel_on_blocking_job_failure,
            "supports_termination": j.supports_termination,
            "status": "uninitialized",
            "priority": j.priority,
            "env": json.dumps(dict(j.env)) if j.env else None,
        }
        for j in spec.jobs
    ]
    job_ids = dict(zip([j.name for j in spec.jobs], _insert_ids(conn, job, job_rows), strict=True))
    _insert_all(
        conn,
        job_dependency,
        (
            {"job_id": job_ids[j.name], "depends_on_job_id": job_ids[d], "workflow_id": workflow_id}
            for j in spec.jobs
            for d in dict.fromkeys(j.depends_on)
        ),
    )
    _insert_all(
        conn,
        job_file,
        (
            {
                "job_id": job_ids[j.name],
                "file_id": file_ids[name],
                "direction": direction,
                "workflow_id": workflow_id,
            }
            for j in spec.jobs
            for direction, names in (("input", j.input_files), ("output", j.output_files))
            for name in dict.fromkeys(names)
        ),
    )
    _insert_all(
        conn,
        job_user_data,
        (
            {
                "job_id": job_ids[j.name],
                "user_data_id": data_ids[name],
                "direction": direction,
                "workflow_id": workflow_id,
            }
            for j in spec.jobs
            for direction, names in (("input", j.input_user_data), ("output", j.output_user_data))
            for name in dict.fromkeys(names)
        ),
    )
    return len(job_ids)
