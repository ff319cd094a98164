"""SQLAlchemy Core tables. The schema itself is created by the Alembic migrations.

On PostgreSQL, `unit.path`, `workflow.user` and `workflow.name` are `COLLATE "C"` (migration
0004): they sort and compare byte-wise as on SQLite, which the list queries' prefix ranges need.
Objects of one database only say so (`with_variant`, `ddl_if`), so that
tests/storage/test_schema_drift.py can hold these tables and the migrations to each other.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()
# BIGINT on PostgreSQL (rows that add up); SQLite's rowid is 64-bit already
BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def _bytewise(length: int) -> String:
    """A VARCHAR compared byte-wise: SQLite's default BINARY, `COLLATE "C"` on PostgreSQL."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


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
    Column("name", _bytewise(255), nullable=False),
    Column("user", _bytewise(255), nullable=False),
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
    # the share's level: read, write or admin (domain.levels; migration 0011)
    Column("access", String(16), nullable=False, server_default="write"),
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
    # `memory` and `runtime` parsed (migration 0009), so that a claim filters in SQL
    Column("memory_bytes", BigInteger, nullable=False, server_default="0"),
    Column("runtime_s", BigInteger, nullable=False, server_default="0"),
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
    Column("status", String(32), nullable=False),  # torc-client's JobStatus values
    Column("priority", Integer, nullable=False, server_default="0"),  # higher is claimed first
    Column("env", Text, nullable=True),  # JSON object of strings
    Column("attempt_id", Integer, nullable=False, server_default="1"),
    # the current attempt: set when claimed/started, cleared when it ends
    Column("compute_node_id", Integer, nullable=True),
    Column("start_time", String(64), nullable=True),
    UniqueConstraint("workflow_id", "name", name="uq_job_workflow_name"),
    Index("ix_job_claim", "workflow_id", "status", "priority"),
    sqlite_autoincrement=True,
)

job_dependency = Table(
    "job_depends_on",
    metadata,
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("depends_on_job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("job_id", "depends_on_job_id", name="pk_job_depends_on"),
    Index("ix_job_depends_on_blocker", "depends_on_job_id", "job_id"),  # a job's dependents
    Index("ix_job_depends_on_workflow", "workflow_id"),
)

# -- running workflows (migration 0009) ---------------------------------------------

workflow_status = Table(
    "workflow_status",
    metadata,
    Column(
        "workflow_id",
        Integer,
        ForeignKey("workflow.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("run_id", Integer, nullable=False, server_default="1"),
    Column("is_canceled", Boolean, nullable=False, server_default=false()),
    Column("is_archived", Boolean, nullable=False, server_default=false()),
)

file = Table(
    "file",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("st_mtime", Float, nullable=True),
    Index("ix_file_workflow_name", "workflow_id", "name"),
    sqlite_autoincrement=True,
)

job_file = Table(
    "job_file",
    metadata,
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("file_id", Integer, ForeignKey("file.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),  # input | output
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("job_id", "file_id", "direction", name="pk_job_file"),
    Index("ix_job_file_file", "file_id", "direction"),
    Index("ix_job_file_workflow", "workflow_id"),
)

user_data = Table(
    "user_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("data", Text, nullable=True),  # JSON
    Column("is_ephemeral", Boolean, nullable=False, server_default=false()),
    Index("ix_user_data_workflow_name", "workflow_id", "name"),
    sqlite_autoincrement=True,
)

job_user_data = Table(
    "job_user_data",
    metadata,
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("user_data_id", Integer, ForeignKey("user_data.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),  # input | output
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("job_id", "user_data_id", "direction", name="pk_job_user_data"),
    Index("ix_job_user_data_user_data", "user_data_id", "direction"),
    Index("ix_job_user_data_workflow", "workflow_id"),
)

compute_node = Table(
    "compute_node",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("pid", BigInteger, nullable=False),
    Column("start_time", String(64), nullable=False),
    Column("duration_seconds", Float, nullable=True),
    Column("is_active", Boolean, nullable=True),
    Column("num_cpus", Integer, nullable=False),
    Column("memory_gb", Float, nullable=False),
    Column("num_gpus", Integer, nullable=False),
    Column("num_nodes", Integer, nullable=False),
    Column("time_limit", String(64), nullable=True),
    Column("scheduler_config_id", Integer, nullable=True),
    Column("compute_node_type", String(64), nullable=False),
    Column("scheduler", Text, nullable=True),  # JSON
    Column("peak_memory_bytes", BigInteger, nullable=True),
    Column("avg_memory_bytes", BigInteger, nullable=True),
    Column("peak_cpu_percent", Float, nullable=True),
    Column("avg_cpu_percent", Float, nullable=True),
    Column("sample_count", Integer, nullable=True),
    Column("last_heartbeat", String(64), nullable=True),  # migration 0010
    Index("ix_compute_node_workflow", "workflow_id", "id"),
    sqlite_autoincrement=True,
)

result = Table(
    "result",
    metadata,
    Column("id", BIG_ID, primary_key=True),
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("attempt_id", Integer, nullable=False, server_default="1"),
    Column("compute_node_id", Integer, nullable=False),
    Column("return_code", BigInteger, nullable=False),
    Column("exec_time_minutes", Float, nullable=False),
    Column("completion_time", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("peak_memory_bytes", BigInteger, nullable=True),
    Column("avg_memory_bytes", BigInteger, nullable=True),
    Column("peak_cpu_percent", Float, nullable=True),
    Column("avg_cpu_percent", Float, nullable=True),
    Index("ix_result_workflow", "workflow_id", "id"),
    Index("ix_result_job", "job_id", "id"),
    sqlite_autoincrement=True,
)

event = Table(
    "event",
    metadata,
    Column("id", BIG_ID, primary_key=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # ms since the epoch
    Column("data", Text, nullable=True),  # JSON
    Column("category", String(64), nullable=True),  # what GET /events?category= matches
    Index("ix_event_workflow", "workflow_id", "id"),
    Index("ix_event_workflow_category", "workflow_id", "category", "id"),
    sqlite_autoincrement=True,
)

# -- RBAC ----------------------------------------------------------------------

rbac_state = Table(
    "rbac_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("initialized", Boolean, nullable=False),
    Column("init_user", String(255), nullable=True),
    Column("init_time", String(32), nullable=True),
    Column("version", BigInteger, nullable=False),  # bumped by every access change
    # bumped by every write that changes a workflow list's count (see services.context)
    Column("workflows_version", BigInteger, nullable=False, server_default="0"),
)

rbac_permission = Table(
    "rbac_permission",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(255), nullable=True),
)

rbac_permission_rule = Table(
    "rbac_permission_rule",
    metadata,
    Column(
        "permission_id",
        String(255),
        ForeignKey("rbac_permission.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("rule", Text, nullable=False),
    PrimaryKeyConstraint("permission_id", "position", name="pk_rbac_permission_rule"),
)

rbac_role = Table(
    "rbac_role",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(255), nullable=True),
)

rbac_role_permission = Table(
    "rbac_role_permission",
    metadata,
    Column("role_id", String(255), ForeignKey("rbac_role.id", ondelete="CASCADE"), nullable=False),
    Column(
        "permission_id",
        String(255),
        ForeignKey("rbac_permission.id", ondelete="CASCADE"),
        nullable=False,
    ),
    PrimaryKeyConstraint("role_id", "permission_id", name="pk_rbac_role_permission"),
    Index("ix_rbac_role_permission_permission", "permission_id"),
)

rbac_user_role = Table(
    "rbac_user_role",
    metadata,
    Column("user_name", String(255), nullable=False),
    Column("role_id", String(255), ForeignKey("rbac_role.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("user_name", "role_id", name="pk_rbac_user_role"),
    Index("ix_rbac_user_role_role", "role_id"),
)

# migration 0011: a role held by every member of an access group while they are members
rbac_group_role = Table(
    "rbac_group_role",
    metadata,
    Column("group_id", Integer, ForeignKey("access_group.id", ondelete="CASCADE"), nullable=False),
    Column("role_id", String(255), ForeignKey("rbac_role.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(255), nullable=True),
    PrimaryKeyConstraint("group_id", "role_id", name="pk_rbac_group_role"),
    Index("ix_rbac_group_role_role", "role_id"),
)

slurm_allocation = Table(  # migration 0010: one row per sbatch of a workflow
    "slurm_allocation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", Integer, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False),
    Column("slurm_job_id", String(64), nullable=True),
    Column("resource_requirements_id", Integer, nullable=True),
    Column("group_name", String(255), nullable=False),
    Column("account", String(255), nullable=False),
    Column("partition", String(255), nullable=True),
    Column("num_cpus", Integer, nullable=False),
    Column("memory_bytes", BigInteger, nullable=False),
    Column("time_limit", String(64), nullable=True),
    Column("state", String(32), nullable=False),  # submitted | running | done | canceled | failed
    Column("submitted_by", String(255), nullable=False),
    Column("submitted_at", String(64), nullable=False),
    Column("ended_at", String(64), nullable=True),
    Column("compute_node_id", Integer, nullable=True),
    Index("ix_slurm_allocation_workflow", "workflow_id", "id"),
    sqlite_autoincrement=True,
)

# -- API tokens --------------------------------------------------------------------

api_token = Table(
    "api_token",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lookup", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("user_name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
    # SHA-256 of the user's htpasswd hash at issue time (migration 0007); None: issued before
    Column("password_fingerprint", String(64), nullable=True),
    # a runner token's one workflow (migration 0010); None: the user's own token
    Column(
        "workflow_id",
        Integer,
        ForeignKey("workflow.id", ondelete="CASCADE", name="fk_api_token_workflow"),
        nullable=True,
    ),
    # migration 0011: a name, the last use, and the scope its holder chose (an upper bound)
    Column("name", String(255), nullable=True),
    Column("last_used_at", String(32), nullable=True),
    Column("read_only", Boolean, nullable=False, server_default=false()),
    Column("unit_prefix", Text, nullable=True),
    Column(
        "scope_workflow_id",
        Integer,
        ForeignKey("workflow.id", ondelete="CASCADE", name="fk_api_token_scope_workflow"),
        nullable=True,
    ),
    # migration 0013: minted after an OIDC sign-in, the caller's IdP groups then (a JSON list);
    # NULL for a token bound to an htpasswd password
    Column("idp_groups", Text, nullable=True),
    # migration 0014: a web console session (its cookie holds the token): ends after this
    # many seconds without a request; NULL for every other token
    Column("idle_secs", Integer, nullable=True),
    Index("ix_api_token_user", "user_name"),
    Index("ix_api_token_workflow", "workflow_id"),
    sqlite_autoincrement=True,
)

# -- units (Terraform state) -------------------------------------------------------

unit = Table(
    "unit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", _bytewise(1024), nullable=False, unique=True),
    Column("owner", String(255), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("blob_key", String(255), nullable=True),
    Column("lock_id", String(255), nullable=True),
    Column("lock_info", Text, nullable=True),
    Column("locked_by", String(255), nullable=True),  # the teamgate user holding the lock
    # migration 0012: who wrote the current state (kept with it when it becomes a version)
    Column("written_by", String(255), nullable=True),
    Column("token_id", Integer, nullable=True),
    Index("ix_unit_owner_path", "owner", "path", postgresql_include=["id"]),
    # index-only scans of (path, id) for `unit ls`; SQLite's indexes hold the rowid already
    Index("ix_unit_path_id", "path", postgresql_include=["id"]).ddl_if(dialect="postgresql"),
    sqlite_autoincrement=True,
)

unit_version = Table(
    "unit_version",
    metadata,
    Column("unit_id", Integer, ForeignKey("unit.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("blob_key", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    # migration 0011: the teamgate user who wrote it, and their token if they used one
    Column("written_by", String(255), nullable=True),
    Column("token_id", Integer, nullable=True),
    PrimaryKeyConstraint("unit_id", "generation", name="pk_unit_version"),
)

unit_share = Table(
    "unit_access_group",
    metadata,
    Column("unit_id", Integer, ForeignKey("unit.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Integer, ForeignKey("access_group.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", String(32), nullable=False),
    # the share's level: read, write or admin (domain.levels; migration 0011)
    Column("access", String(16), nullable=False, server_default="write"),
    PrimaryKeyConstraint("unit_id", "group_id", name="pk_unit_access_group"),
    Index("ix_unit_access_group_group", "group_id", "unit_id"),
)

# -- audit log ---------------------------------------------------------------------

audit_event = Table(
    "audit_event",
    metadata,
    Column("id", BIG_ID, primary_key=True),  # denied requests add up
    Column("time", String(32), nullable=False),  # UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`
    Column("user_name", String(255), nullable=True),  # None: anonymous
    Column("client", String(64), nullable=True),
    Column("request_id", String(32), nullable=True),
    Column("action", String(255), nullable=False),
    Column("resource", Text, nullable=False),
    Column("decision", String(16), nullable=False),  # allowed | denied | failed-login
    Column("reason", Text, nullable=True),
    Column("detail", Text, nullable=True),
    # id last in each: newest-first pages (time, id) come straight from the index
    Index("ix_audit_event_time", "time", "id"),
    Index("ix_audit_event_user_time", "user_name", "time", "id"),
    Index("ix_audit_event_action_time", "action", "time", "id"),
    sqlite_autoincrement=True,
)
