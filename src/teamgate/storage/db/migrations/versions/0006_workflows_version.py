"""A second shared change counter beside the access version: `rbac_state.workflows_version`.

Every write that can change what a workflow list counts (a workflow created or deleted, a
share added or removed) bumps it in its own transaction, before anything else (so such
writes always take this row's lock first and cannot deadlock with access changes, which
take it first too). List requests read it with the access version and reuse the count of
an identical request made at the same pair of versions.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rbac_state") as batch:
        batch.add_column(
            sa.Column("workflows_version", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("rbac_state") as batch:
        batch.drop_column("workflows_version")
