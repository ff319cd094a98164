"""Web console sessions.

A console sign-in is an API token whose secret lives in an HttpOnly cookie: it is bound to the
user's password (or IdP sign-in), expires, is revoked at sign-out, and is listed with the
user's tokens. `api_token.idle_secs` marks it and says how long it may go unused before it
ends (the idle timeout); NULL for every other token.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("idle_secs", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("idle_secs")
