"""What running a workflow needs: job state, run state, files, user data, compute nodes,
results and events.

- `job`: `priority`, `env` (JSON object text), `attempt_id`, and the current attempt's
  `compute_node_id` and `start_time`. Existing jobs become `uninitialized`, as new ones are.
  `ix_job_claim (workflow_id, status, priority)` serves the claim query and status filters.
- `job_depends_on`: `(depends_on_job_id, job_id)` finds a finished job's dependents when it
  completes.
- `workflow_status`: one row per workflow, the run counter (`run_id` from 1) and the canceled
  and archived flags (Torc's WorkflowStatusModel). Existing workflows get theirs here.
- `resource_requirements`: `memory_bytes` and `runtime_s`, the parsed `memory` and `runtime`,
  so that a claim filters in SQL. Existing rows are parsed here.
- New tables `file`, `job_file`, `user_data`, `job_user_data`, `compute_node`, `result` and
  `event`, each indexed by workflow for listing.

Revision ID: 0009
Revises: 0008
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AUTOINC = {"sqlite_autoincrement": True}
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION_UNITS = (31_557_600, 2_629_800, 604_800, 86_400, 3_600, 60, 1)


def _fk(name: str, table: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False
    )


def _memory_bytes(text: str) -> int:
    """`8g` → bytes, as the application parses it; 0 when it cannot be read."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtKMGT]?)\s*", text or "")
    return int(float(match[1]) * _UNITS[match[2].lower()]) if match else 0


def _runtime_s(text: str) -> int:
    """`PT30M` → seconds, as the application parses it; 0 when it cannot be read."""
    match = _DURATION.fullmatch((text or "").strip().upper())
    if not match:
        return 0
    return int(sum(float(v) * u for v, u in zip(match.groups(), _DURATION_UNITS, strict=True) if v))


def _upgrade_existing() -> None:
    job = sa.table("job", sa.column("status", sa.String))
    op.execute(job.update().values(status="uninitialized"))
    workflow = sa.table("workflow", sa.column("id", sa.Integer))
    status = sa.table(
        "workflow_status",
        sa.column("workflow_id", sa.Integer),
        sa.column("run_id", sa.Integer),
        sa.column("is_canceled", sa.Boolean),
        sa.column("is_archived", sa.Boolean),
    )
    op.execute(
        status.insert().from_select(
            ["workflow_id", "run_id", "is_canceled", "is_archived"],
            sa.select(workflow.c.id, sa.literal(1), sa.false(), sa.false()),
        )
    )
    rr = sa.table(
        "resource_requirements",
        sa.column("id", sa.Integer),
        sa.column("memory", sa.String),
        sa.column("runtime", sa.String),
        sa.column("memory_bytes", sa.BigInteger),
        sa.column("runtime_s", sa.BigInteger),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(rr.c.id, rr.c.memory, rr.c.runtime)).all():
        bind.execute(
            rr.update()
            .where(rr.c.id == row.id)
            .values(memory_bytes=_memory_bytes(row.memory), runtime_s=_runtime_s(row.runtime))
        )


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("env", sa.Text, nullable=True))
        batch.add_column(sa.Column("attempt_id", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("compute_node_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("start_time", sa.String(64), nullable=True))
    op.create_index("ix_job_claim", "job", ["workflow_id", "status", "priority"])
    op.create_index("ix_job_depends_on_blocker", "job_depends_on", ["depends_on_job_id", "job_id"])
    op.create_index("ix_job_depends_on_workflow", "job_depends_on", ["workflow_id"])
    with op.batch_alter_table("resource_requirements") as batch:
        batch.add_column(
            sa.Column("memory_bytes", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("runtime_s", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "workflow_status",
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflow.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("run_id", sa.Integer, nullable=False, server_default="1"),
        sa.Column("is_canceled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_archived", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "file",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("workflow_id", "workflow"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("st_mtime", sa.Float, nullable=True),
        sa.Index("ix_file_workflow_name", "workflow_id", "name"),
        **AUTOINC,
    )
    op.create_table(
        "job_file",
        _fk("job_id", "job"),
        _fk("file_id", "file"),
        sa.Column("direction", sa.String(8), nullable=False),  # input | output
        _fk("workflow_id", "workflow"),
        sa.PrimaryKeyConstraint("job_id", "file_id", "direction", name="pk_job_file"),
        sa.Index("ix_job_file_file", "file_id", "direction"),
        sa.Index("ix_job_file_workflow", "workflow_id"),
    )
    op.create_table(
        "user_data",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("workflow_id", "workflow"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("data", sa.Text, nullable=True),
        sa.Column("is_ephemeral", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("ix_user_data_workflow_name", "workflow_id", "name"),
        **AUTOINC,
    )
    op.create_table(
        "job_user_data",
        _fk("job_id", "job"),
        _fk("user_data_id", "user_data"),
        sa.Column("direction", sa.String(8), nullable=False),  # input | output
        _fk("workflow_id", "workflow"),
        sa.PrimaryKeyConstraint("job_id", "user_data_id", "direction", name="pk_job_user_data"),
        sa.Index("ix_job_user_data_user_data", "user_data_id", "direction"),
        sa.Index("ix_job_user_data_workflow", "workflow_id"),
    )
    op.create_table(
        "compute_node",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("workflow_id", "workflow"),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.BigInteger, nullable=False),
        sa.Column("start_time", sa.String(64), nullable=False),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=True),
        sa.Column("num_cpus", sa.Integer, nullable=False),
        sa.Column("memory_gb", sa.Float, nullable=False),
        sa.Column("num_gpus", sa.Integer, nullable=False),
        sa.Column("num_nodes", sa.Integer, nullable=False),
        sa.Column("time_limit", sa.String(64), nullable=True),
        sa.Column("scheduler_config_id", sa.Integer, nullable=True),
        sa.Column("compute_node_type", sa.String(64), nullable=False),
        sa.Column("scheduler", sa.Text, nullable=True),  # JSON
        sa.Column("peak_memory_bytes", sa.BigInteger, nullable=True),
        sa.Column("avg_memory_bytes", sa.BigInteger, nullable=True),
        sa.Column("peak_cpu_percent", sa.Float, nullable=True),
        sa.Column("avg_cpu_percent", sa.Float, nullable=True),
        sa.Column("sample_count", sa.Integer, nullable=True),
        sa.Index("ix_compute_node_workflow", "workflow_id", "id"),
        **AUTOINC,
    )
    op.create_table(
        "result",
        sa.Column("id", BIG_ID, primary_key=True),
        _fk("job_id", "job"),
        _fk("workflow_id", "workflow"),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("attempt_id", sa.Integer, nullable=False, server_default="1"),
        sa.Column("compute_node_id", sa.Integer, nullable=False),
        sa.Column("return_code", sa.BigInteger, nullable=False),
        sa.Column("exec_time_minutes", sa.Float, nullable=False),
        sa.Column("completion_time", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("peak_memory_bytes", sa.BigInteger, nullable=True),
        sa.Column("avg_memory_bytes", sa.BigInteger, nullable=True),
        sa.Column("peak_cpu_percent", sa.Float, nullable=True),
        sa.Column("avg_cpu_percent", sa.Float, nullable=True),
        sa.Index("ix_result_workflow", "workflow_id", "id"),
        sa.Index("ix_result_job", "job_id", "id"),
        **AUTOINC,
    )
    op.create_table(
        "event",
        sa.Column("id", BIG_ID, primary_key=True),
        _fk("workflow_id", "workflow"),
        sa.Column("timestamp", sa.BigInteger, nullable=False),  # ms since the epoch
        sa.Column("data", sa.Text, nullable=True),  # JSON
        sa.Column("category", sa.String(64), nullable=True),  # what GET /events?category= matches
        sa.Index("ix_event_workflow", "workflow_id", "id"),
        sa.Index("ix_event_workflow_category", "workflow_id", "category", "id"),
        **AUTOINC,
    )
    _upgrade_existing()


def downgrade() -> None:
    for table in (
        "event",
        "result",
        "compute_node",
        "job_user_data",
        "user_data",
        "job_file",
        "file",
        "workflow_status",
    ):
        op.drop_table(table)
    with op.batch_alter_table("resource_requirements") as batch:
        batch.drop_column("runtime_s")
        batch.drop_column("memory_bytes")
    op.drop_index("ix_job_depends_on_workflow", "job_depends_on")
    op.drop_index("ix_job_depends_on_blocker", "job_depends_on")
    op.drop_index("ix_job_claim", "job")
    with op.batch_alter_table("job") as batch:
        for column in ("start_time", "compute_node_id", "attempt_id", "env", "priority"):
            batch.drop_column(column)
