"""Who holds a unit's lock: `unit.locked_by`, the teamgate user who took it.

The lock information a client sends (Terraform's `Who`, e.g. `root@vm`) names a machine
account, not the person: two people applying from the same CI runner look alike. The server
now records the authenticated user beside it, and shows it in unit lists, unit details, lock
conflicts and forced unlocks.

Locks taken before this revision have no recorded user (NULL); they show as held by an
unknown user until they are released.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.add_column(sa.Column("locked_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.drop_column("locked_by")
