"""Bind each API token to the password it was issued against: `api_token.password_fingerprint`.

The column holds SHA-256 of the user's htpasswd hash at issue time (a hash of the hash, never
the hash itself: the bcrypt salt stays unknown, so it helps no offline guessing). A token is
accepted only while the user's current htpasswd entry has the same fingerprint, so removing the
user or changing their password ends every token issued before, in every server process that
reads the file, across restarts.

Tokens issued before this revision have no fingerprint and are no longer accepted: nothing can
tell whether their user's password changed since. Their holders sign in again (`taco login`).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("password_fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("password_fingerprint")
