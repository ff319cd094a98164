"""The dependency graph of a workflow's jobs as SQL: downstream closures and unblocking.

Used by initialisation, resets and completions. Each call works in the caller's transaction,
which holds the workflow's run-state row lock (see `job_runs.lock_run`), so two completions of
one workflow never decide a shared dependent from two stale views.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    literal,
    not_,
    select,
    update,
)

from teamgate.storage.db.tables import job, job_dependency, job_file, job_user_data

DONE = ("completed", "failed", "canceled", "terminated")
FAILED = ("failed", "canceled", "terminated")


def downstream_of(seeds: Select[tuple[int]]) -> Select[tuple[int]]:
    """Ids of every job that depends, directly or not, on a job in `seeds` (a query of ids)."""
    first = select(job_dependency.c.job_id.label("id")).where(
        job_dependency.c.depends_on_job_id.in_(seeds)
    )
    closure = first.cte("downstream", recursive=True)
    closure = closure.union(
        select(job_dependency.c.job_id).join(
            closure, job_dependency.c.depends_on_job_id == closure.c.id
        )
    )
    return select(closure.c.id)


def add_implied_edges(conn: Connection, workflow_id: int) -> None:
    """A job that reads a file (or user data) another job writes depends on that job."""
    for table, column in ((job_file, "file_id"), (job_user_data, "user_data_id")):
        reader, writer = table.alias("reader"), table.alias("writer")
        known = job_dependency.alias("known")
        pairs = (
            select(reader.c.job_id, writer.c.job_id, literal(workflow_id))
            .distinct()
            .join(writer, writer.c[column] == reader.c[column])
            .where(
                reader.c.workflow_id == workflow_id,
                reader.c.direction == "input",
                writer.c.direction == "output",
                reader.c.job_id != writer.c.job_id,
                not_(
                    exists().where(
                        known.c.job_id == reader.c.job_id,
                        known.c.depends_on_job_id == writer.c.job_id,
                    )
                ),
            )
        )
        conn.execute(
            job_dependency.insert().from_select(
                ["job_id", "depends_on_job_id", "workflow_id"], pairs
            )
        )


def _has_blocker(statuses: Sequence[str], *, negate: bool = False) -> ColumnElement[bool]:
    """Whether the job being updated has a blocker whose status is (not) in `statuses`."""
    blocker = job.alias("blocker")
    link = job_dependency.alias("link")
    status = blocker.c.status.not_in(statuses) if negate else blocker.c.status.in_(statuses)
    return exists(
        select(literal(1))
        .select_from(link.join(blocker, blocker.c.id == link.c.depends_on_job_id))
        .where(link.c.job_id == job.c.id, status)
    )


# Built once: completing a job runs these, and building them costs more than running them.
_DEPENDENTS = select(job_dependency.c.job_id).where(
    job_dependency.c.depends_on_job_id.in_(bindparam("finished", expanding=True))
)
_CANCEL_FLAGGED = (
    update(job)
    .where(
        job.c.id.in_(_DEPENDENTS),
        job.c.status == "blocked",
        job.c.cancel_on_blocking_job_failure.is_(True),
    )
    .values(status="canceled")
    .returning(job.c.id)
)
_READY = (
    update(job)
    .where(
        job.c.id.in_(_DEPENDENTS),
        job.c.status == "blocked",
        not_(_has_blocker(DONE, negate=True)),
    )
    .values(status="ready")
)
_HAS_DEPENDENTS = (
    select(job_dependency.c.job_id)
    .where(job_dependency.c.depends_on_job_id == bindparam("finished"))
    .limit(1)
)


def unblock(conn: Connection, finished: Sequence[int], failed: Sequence[int]) -> list[int]:
    """Settle the dependents of jobs that just finished: `finished` ended well, `failed` ended
    failed, canceled or terminated (or with a non-zero return code).

    A blocked dependent that sets `cancel_on_blocking_job_failure` and has a failed blocker is
    canceled, which cascades to its own such dependents; any other blocked dependent whose
    blockers are all done becomes ready. Returns the ids of the jobs canceled here.
    """
    wave_all = [*finished, *failed]
    if (
        len(wave_all) == 1
        and conn.execute(_HAS_DEPENDENTS, {"finished": wave_all[0]}).first() is None
    ):
        return []  # a job nothing waits for: the usual case, one indexed lookup
    canceled: list[int] = []
    wave_failed = list(failed)
    while wave_failed:
        wave_failed = [
            i
            for part in _parts(wave_failed)
            for i in conn.execute(_CANCEL_FLAGGED, {"finished": part}).scalars()
        ]
        canceled.extend(wave_failed)
        wave_all.extend(wave_failed)
    ready_dependents(conn, wave_all)
    return canceled


def _parts(ids: Sequence[int], size: int = 1000) -> list[Sequence[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def ready_dependents(conn: Connection, finished: Sequence[int]) -> int:
    """Blocked dependents of `finished` whose blockers are all done become ready."""
    return sum(conn.execute(_READY, {"finished": part}).rowcount or 0 for part in _parts(finished))


def settle_uninitialized(conn: Connection, workflow_id: int) -> list[int]:
    """Initialise a workflow's `uninitialized` jobs: blocked while a blocker is not done;
    canceled when a blocker failed and the job asks for that; ready otherwise. Returns the
    ids canceled (their flagged dependents are canceled too)."""
    mine = and_(job.c.workflow_id == workflow_id, job.c.status == "uninitialized")
    conn.execute(update(job).where(mine, _has_blocker(DONE, negate=True)).values(status="blocked"))
    canceled = list(
        conn.execute(
            update(job)
            .where(
                mine,
                job.c.cancel_on_blocking_job_failure.is_(True),
                _has_blocker(FAILED),
            )
            .values(status="canceled")
            .returning(job.c.id)
        ).scalars()
    )
    conn.execute(update(job).where(mine).values(status="ready"))
    if canceled:
        canceled.extend(unblock(conn, [], canceled))
    return canceled
