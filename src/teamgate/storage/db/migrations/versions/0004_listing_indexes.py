"""Indexes and byte-wise collation for listing workflows and units in one indexed query.

- `unit (owner, path)`: a user's own units in path order (the owner branch of `unit ls`).
- PostgreSQL only, `INCLUDE (id)` on that index and a new `unit (path) INCLUDE (id)`: the
  branches of `unit ls` select (path, id), so these make them index-only scans, which the
  planner is willing to merge lazily (a Merge Append stopped by LIMIT) instead of sorting
  every visible unit. SQLite's indexes hold the rowid (= id) already.
- PostgreSQL only: `unit.path`, `workflow.user` and `workflow.name` become `COLLATE "C"`, so
  they order and compare byte-wise as on SQLite. The list queries turn RBAC patterns and
  prefixes into index ranges `[prefix, upper(prefix))`, which hold exactly the strings with
  that prefix only under a byte-wise collation (under a locale collation such as en_US they
  do not, and `LIKE 'x%'` cannot use a plain index). Their indexes are rebuilt with the
  column.

The other indexes the plans use exist since 0001/0003: `workflow (user, id)`,
`workflow_access_group (group_id, workflow_id)`, `user_group_membership (user_name,
group_id)` (unique) and `unit_access_group (group_id, unit_id)`.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BYTEWISE = (("unit", "path", 1024), ("workflow", "user", 255), ("workflow", "name", 255))


def _collate(collation: str) -> None:
    for table, column, length in BYTEWISE:
        op.execute(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" '
            f'TYPE VARCHAR({length}) COLLATE "{collation}"'
        )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        _collate("C")
        op.create_index("ix_unit_path_id", "unit", ["path"], postgresql_include=["id"])
    op.create_index("ix_unit_owner_path", "unit", ["owner", "path"], postgresql_include=["id"])


def downgrade() -> None:
    op.drop_index("ix_unit_owner_path", "unit")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_unit_path_id", "unit")
        _collate("default")
