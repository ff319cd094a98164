"""RBAC permissions, roles and assignments; API tokens.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _fk(name: str, target: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.String(255), sa.ForeignKey(target, ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "rbac_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("initialized", sa.Boolean, nullable=False),
        sa.Column("init_user", sa.String(255), nullable=True),
        sa.Column("init_time", sa.String(32), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO rbac_state (id, initialized, version) VALUES (1, false, 0)")
    for table in ("rbac_permission", "rbac_role"):
        op.create_table(
            table,
            sa.Column("id", sa.String(255), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("description", sa.Text, nullable=True),
            sa.Column("created_at", sa.String(32), nullable=False),
            sa.Column("created_by", sa.String(255), nullable=True),
        )
    op.create_table(
        "rbac_permission_rule",
        _fk("permission_id", "rbac_permission.id"),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("permission_id", "position", name="pk_rbac_permission_rule"),
    )
    op.create_table(
        "rbac_role_permission",
        _fk("role_id", "rbac_role.id"),
        _fk("permission_id", "rbac_permission.id"),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name="pk_rbac_role_permission"),
    )
    op.create_index("ix_rbac_role_permission_permission", "rbac_role_permission", ["permission_id"])
    op.create_table(
        "rbac_user_role",
        sa.Column("user_name", sa.String(255), nullable=False),
        _fk("role_id", "rbac_role.id"),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("user_name", "role_id", name="pk_rbac_user_role"),
    )
    op.create_index("ix_rbac_user_role_role", "rbac_user_role", ["role_id"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lookup", sa.String(32), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_api_token_user", "api_token", ["user_name"])


def downgrade() -> None:
    for table in (
        "api_token",
        "rbac_user_role",
        "rbac_role_permission",
        "rbac_permission_rule",
        "rbac_role",
        "rbac_permission",
        "rbac_state",
    ):
        op.drop_table(table)
