"""Who wrote a unit's current state: `unit.written_by` and `unit.token_id`.

A unit's current state lives on its `unit` row; when it is replaced it moves to
`unit_version` (0011 gave that table `written_by` and `token_id`). For the version to say who
wrote it, the current state must carry its writer until then: the teamgate user, and the id
of the API token they used (NULL for a password).

States written before this revision have no recorded writer (NULL), and keep none when they
become versions.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.add_column(sa.Column("written_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("token_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.drop_column("token_id")
        batch.drop_column("written_by")
