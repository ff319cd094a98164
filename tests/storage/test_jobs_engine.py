"""The run engine's SQL on SQLite and PostgreSQL: implied file edges, initialisation, the
failure cascade, resets and continuing an interrupted run, called on the storage layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from teamgate.domain.workflows import FileSpec, JobSpec, WorkflowSpec
from teamgate.storage.db import job_claims, job_runs
from teamgate.storage.db import workflows as store
from teamgate.storage.db.engine import Database
from teamgate.storage.db.jobs import insert_jobs
from teamgate.storage.db.tables import compute_node, file, job


def _workflow(conn: Connection, jobs: list[JobSpec], files: tuple[FileSpec, ...] = ()) -> int:
    created = store.insert_workflow(conn, name="w", user="u", description=None)
    spec = WorkflowSpec("w", None, "u", tuple(jobs), (), (), files=files)
    store.insert_jobs(conn, created.id, spec)
    return created.id


def _status(conn: Connection, workflow_id: int) -> dict[str, str]:
    rows = conn.execute(select(job.c.name, job.c.status).where(job.c.workflow_id == workflow_id))
    return {name: status for name, status in rows}


def _node(conn: Connection, workflow_id: int, active: bool = True) -> int:
    values = {
        "workflow_id": workflow_id,
        "hostname": "h",
        "pid": 1,
        "start_time": "t",
        "num_cpus": 4,
        "memory_gb": 4.0,
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
        "is_active": active,
    }
    return int(
        conn.execute(insert(compute_node).values(values).returning(compute_node.c.id)).scalar_one()
    )


def _finish(
    conn: Connection, job_row: dict[str, Any], node: int, status: str, rc: int
) -> list[int]:
    job_claims.start(conn, job_row, 1, node)
    values = {
        "compute_node_id": node,
        "return_code": rc,
        "exec_time_minutes": 0.0,
        "completion_time": "t",
    }
    _done, canceled = job_claims.complete(conn, {**job_row, "status": "running"}, status, 1, values)
    return canceled


def test_file_links_made_through_the_api_imply_dependencies(database: Database) -> None:
    with database.write() as conn:
        wf = store.insert_workflow(conn, name="w", user="u", description=None).id
        f = conn.execute(
            insert(file).values(workflow_id=wf, name="f", path="p").returning(file.c.id)
        ).scalar_one()
        insert_jobs(
            conn,
            wf,
            [
                {"workflow_id": wf, "name": "reader", "command": "cat p", "input_file_ids": [f]},
                {"workflow_id": wf, "name": "writer", "command": "touch p", "output_file_ids": [f]},
            ],
        )
        job_runs.initialize(conn, wf, only_uninitialized=False)
        assert _status(conn, wf) == {"reader": "blocked", "writer": "ready"}


def test_a_failure_cascades_through_flagged_jobs_only(database: Database) -> None:
    jobs = [
        JobSpec("a", "false"),
        JobSpec("b", "true", depends_on=("a",), cancel_on_blocking_job_failure=True),
        JobSpec("c", "true", depends_on=("b",), cancel_on_blocking_job_failure=True),
        JobSpec("d", "true", depends_on=("b",)),  # not flagged: runs once b is done
        JobSpec("e", "true", depends_on=("a", "x")),
        JobSpec("x", "true"),
    ]
    with database.write() as conn:
        wf = _workflow(conn, jobs)
        job_runs.initialize(conn, wf, only_uninitialized=False)
        node = _node(conn, wf)
        claimed = {j["name"]: j for j in job_claims.claim_next(conn, wf, 10)}
        assert set(claimed) == {"a", "x"}
        assert sorted(_finish(conn, claimed["a"], node, "failed", 1)) != []
        assert _status(conn, wf) == {
            "a": "failed",
            "b": "canceled",
            "c": "canceled",
            "d": "ready",
            "e": "blocked",
            "x": "pending",
        }
        _finish(conn, claimed["x"], node, "completed", 0)
        assert _status(conn, wf)["e"] == "ready"  # unflagged: runs once all blockers are done
        assert job_runs.reset_jobs(conn, wf, failed_only=True) == 5  # all but x
        assert _status(conn, wf)["x"] == "completed"


def test_continuing_a_run_reruns_only_what_was_interrupted(database: Database) -> None:
    jobs = [
        JobSpec("done", "true"),
        JobSpec("lost", "true"),
        JobSpec("cut", "true"),
        JobSpec("after", "true", depends_on=("cut",)),
    ]
    with database.write() as conn:
        wf = _workflow(conn, jobs)
        job_runs.initialize(conn, wf, only_uninitialized=False)
        gone, alive = _node(conn, wf, active=False), _node(conn, wf)
        claimed = {j["name"]: j for j in job_claims.claim_next(conn, wf, 10)}
        _finish(conn, claimed["done"], alive, "completed", 0)
        job_claims.start(conn, claimed["lost"], 1, gone)  # its runner died
        _finish(conn, claimed["cut"], alive, "terminated", -15)
        job_runs.initialize(conn, wf, only_uninitialized=True)
        assert _status(conn, wf) == {
            "done": "completed",
            "lost": "ready",
            "cut": "ready",
            "after": "blocked",
        }
        assert not job_runs.is_uninitialized(conn, wf)
        assert job_runs.is_complete(conn, wf) == (False, False)
