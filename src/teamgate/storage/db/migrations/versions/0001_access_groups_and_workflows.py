"""Access groups, memberships, workflows, jobs and workflow shares.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AUTOINC = {"sqlite_autoincrement": True}


def _workflow_fk(name: str = "workflow_id") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.Integer, sa.ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False
    )


def _group_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "group_id", sa.Integer, sa.ForeignKey("access_group.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "access_group",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        **AUTOINC,
    )
    op.create_table(
        "user_group_membership",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_name", sa.String(255), nullable=False),
        _group_fk(),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("user_name", "group_id", name="uq_membership_user_group"),
        **AUTOINC,
    )
    op.create_index("ix_membership_group", "user_group_membership", ["group_id"])
    op.create_table(
        "workflow",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("timestamp", sa.String(32), nullable=False),
        sa.Column("project", sa.String(255), nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),  # other Torc fields, JSON
        **AUTOINC,
    )
    op.create_index("ix_workflow_user_id", "workflow", ["user", "id"])
    op.create_table(
        "workflow_access_group",
        _workflow_fk(),
        _group_fk(),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "group_id", name="pk_workflow_access_group"),
    )
    op.create_index(
        "ix_workflow_access_group_group", "workflow_access_group", ["group_id", "workflow_id"]
    )
    op.create_table(
        "resource_requirements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _workflow_fk(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("num_cpus", sa.Integer, nullable=False),
        sa.Column("num_gpus", sa.Integer, nullable=False),
        sa.Column("num_nodes", sa.Integer, nullable=False),
        sa.Column("memory", sa.String(32), nullable=False),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.UniqueConstraint("workflow_id", "name", name="uq_rr_workflow_name"),
        **AUTOINC,
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _workflow_fk(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column(
            "resource_requirements_id",
            sa.Integer,
            sa.ForeignKey("resource_requirements.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("invocation_script", sa.Text, nullable=True),
        sa.Column("cancel_on_blocking_job_failure", sa.Boolean, nullable=False),
        sa.Column("supports_termination", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.UniqueConstraint("workflow_id", "name", name="uq_job_workflow_name"),
        **AUTOINC,
    )
    op.create_table(
        "job_depends_on",
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("job.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "depends_on_job_id",
            sa.Integer,
            sa.ForeignKey("job.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _workflow_fk(),
        sa.PrimaryKeyConstraint("job_id", "depends_on_job_id", name="pk_job_depends_on"),
    )


def downgrade() -> None:
    for table in (
        "job_depends_on",
        "job",
        "resource_requirements",
        "workflow_access_group",
        "workflow",
        "user_group_membership",
        "access_group",
    ):
        op.drop_table(table)
