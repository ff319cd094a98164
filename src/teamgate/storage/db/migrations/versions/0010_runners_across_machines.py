"""What running across machines needs: workflow-scoped runner tokens, heartbeats and Slurm
allocations.

- `api_token.workflow_id`: a token minted for the runners of one workflow (NULL: a user's own
  token, as before). Deleting the workflow deletes its tokens.
- `compute_node.last_heartbeat`: when the runner on that node last said it is alive; a node
  whose heartbeat is older than the server's heartbeat timeout is lost, and its running jobs
  are recovered by the lost-job policy. NULL for nodes registered before this revision.
- New table `slurm_allocation`: one row per `sbatch` a workflow's submission made: the Slurm
  job id, the resource group it serves (its resource requirements), what was asked of Slurm,
  and its state as the runners and `torc slurm status` last saw it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("workflow_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_api_token_workflow", "workflow", ["workflow_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_api_token_workflow", "api_token", ["workflow_id"])
    with op.batch_alter_table("compute_node") as batch:
        batch.add_column(sa.Column("last_heartbeat", sa.String(64), nullable=True))
    op.create_table(
        "slurm_allocation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflow.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slurm_job_id", sa.String(64), nullable=True),
        sa.Column("resource_requirements_id", sa.Integer, nullable=True),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("partition", sa.String(255), nullable=True),
        sa.Column("num_cpus", sa.Integer, nullable=False),
        sa.Column("memory_bytes", sa.BigInteger, nullable=False),
        sa.Column("time_limit", sa.String(64), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("submitted_by", sa.String(255), nullable=False),
        sa.Column("submitted_at", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.String(64), nullable=True),
        sa.Column("compute_node_id", sa.Integer, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_slurm_allocation_workflow", "slurm_allocation", ["workflow_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_slurm_allocation_workflow", table_name="slurm_allocation")
    op.drop_table("slurm_allocation")
    with op.batch_alter_table("compute_node") as batch:
        batch.drop_column("last_heartbeat")
    op.drop_index("ix_api_token_workflow", table_name="api_token")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint("fk_api_token_workflow", type_="foreignkey")
        batch.drop_column("workflow_id")
