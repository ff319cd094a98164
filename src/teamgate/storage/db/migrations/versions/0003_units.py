"""Units (Terraform state): current content, versions, lock, shares.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _unit_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "unit_id", sa.Integer, sa.ForeignKey("unit.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("blob_key", sa.String(255), nullable=True),
        sa.Column("lock_id", sa.String(255), nullable=True),
        sa.Column("lock_info", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "unit_version",
        _unit_fk(),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "generation", name="pk_unit_version"),
    )
    op.create_table(
        "unit_access_group",
        _unit_fk(),
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("access_group.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "group_id", name="pk_unit_access_group"),
    )
    op.create_index("ix_unit_access_group_group", "unit_access_group", ["group_id", "unit_id"])


def downgrade() -> None:
    for table in ("unit_access_group", "unit_version", "unit"):
        op.drop_table(table)
