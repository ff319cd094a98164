"""Finer access: share levels, RBAC roles for access groups, tokens people manage, and who
wrote each state version.

- `workflow_access_group.access`, `unit_access_group.access`: the level a share gives, `read`,
  `write` or `admin`. Shares made before this revision gave "see and interact": `write`.
- New table `rbac_group_role`: a role assigned to an access group; its members hold the role's
  rules while they are members.
- `api_token`: a `name`, when it was `last_used_at`, and its scope: `read_only`, `unit_prefix`
  (units under that path only) and `scope_workflow_id` (that one workflow only). A runner
  token's `workflow_id` is unchanged.
- `unit_version.written_by`, `unit_version.token_id`: the teamgate user who wrote the version,
  and the token they used if any (NULL for versions written before this revision).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("workflow_access_group", "unit_access_group"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("access", sa.String(16), nullable=False, server_default="write")
            )
    op.create_table(
        "rbac_group_role",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("access_group.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "role_id",
            sa.String(255),
            sa.ForeignKey("rbac_role.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("group_id", "role_id", name="pk_rbac_group_role"),
    )
    op.create_index("ix_rbac_group_role_role", "rbac_group_role", ["role_id"])
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("unit_prefix", sa.Text, nullable=True))
        batch.add_column(sa.Column("scope_workflow_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_api_token_scope_workflow",
            "workflow",
            ["scope_workflow_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("unit_version") as batch:
        batch.add_column(sa.Column("written_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("token_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unit_version") as batch:
        batch.drop_column("token_id")
        batch.drop_column("written_by")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint("fk_api_token_scope_workflow", type_="foreignkey")
        for column in ("scope_workflow_id", "unit_prefix", "read_only", "last_used_at", "name"):
            batch.drop_column(column)
    op.drop_index("ix_rbac_group_role_role", table_name="rbac_group_role")
    op.drop_table("rbac_group_role")
    for table in ("unit_access_group", "workflow_access_group"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("access")
