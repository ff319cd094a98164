"""API tokens minted after signing in through the identity provider (OIDC).

`api_token.idp_groups`: NULL for a token bound to its user's htpasswd password (every token
made before this revision); for a token minted after an OIDC sign-in, the IdP groups (a JSON
list of names, prefix removed) its caller had then, so that a caller using it (Terraform with
TF_HTTP_PASSWORD) keeps the access those groups give. Such a token is bound to the issuer and
the user (`password_fingerprint`, see auth.oidc.binding) and lives at most 7 days.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("idp_groups", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("idp_groups")
