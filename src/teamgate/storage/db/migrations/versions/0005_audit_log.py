"""Audit log: administrative changes, denied requests and failed logins.

`sqlite_autoincrement` so that ids are never reused after pruning (they are page cursors).
Every index ends in `id`, so newest-first pages ordered by (time, id) are read from the index
in order, also on PostgreSQL (SQLite's indexes hold the rowid anyway).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_event_time": ["time", "id"],
    "ix_audit_event_user_time": ["user_name", "time", "id"],
    "ix_audit_event_action_time": ["action", "time", "id"],
}


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(32), nullable=True),
        sa.Column("action", sa.String(255), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_event", columns)


def downgrade() -> None:
    op.drop_table("audit_event")
