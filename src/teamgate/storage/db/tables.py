"""SQLAlchemy Core tables. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

access_group = Table(
    "access_group",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)

membership = Table(
    "user_group_membership",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(255), nullable=False),
    Column("group_id", Integer, ForeignKey("access_group.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("user_name", "group_id", name="uq_membership_user_group"),
    Index("ix_membership_group", "group_id"),
    sqlite_autoincrement=True,
)

workflow = Table(
    "workflow",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("user", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("timestamp", String(32), nullable=False),
    Column("project", String(255), nullable=True),
    Column("attributes", Text, nullable=False),  # other Torc fields, JSON
    Index("ix_workflow_user_id", "user", "id"),
    sqlite_autoincrement=True,
)

workflow_share = Table(
    "workflow_access_group",
    metadata,
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Integer, ForeignKey("access_group.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("workflow_id", "group_id", name="pk_workflow_access_group"),
    Index("ix_workflow_access_group_group", "group_id", "workflow_id"),
)

resource_requirements = Table(
    "resource_requirements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("num_cpus", Integer, nullable=False),
    Column("num_gpus", Integer, nullable=False),
    Column("num_nodes", Integer, nullable=False),
    Column("memory", String(32), nullable=False),
    Column("runtime", String(64), nullable=False),
    UniqueConstraint("workflow_id", "name", name="uq_rr_workflow_name"),
    sqlite_autoincrement=True,
)

job = Table(
    "job",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("command", Text, nullable=False),
    Column(
        "resource_requirements_id",
        Integer,
        ForeignKey("resource_requirements.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("invocation_script", Text, nullable=True),
    Column("cancel_on_blocking_job_failure", Boolean, nullable=False),
    Column("supports_termination", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    UniqueConstraint("workflow_id", "name", name="uq_job_workflow_name"),
    sqlite_autoincrement=True,
)

job_dependency = Table(
    "job_depends_on",
    metadata,
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("depends_on_job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("job_id", "depends_on_job_id", name="pk_job_depends_on"),
)
