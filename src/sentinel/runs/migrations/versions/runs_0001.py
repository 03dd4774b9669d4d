"""runs tables: tracked runs and the GPUs they used

Revision ID: runs_0001
Revises:
Depends on: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "runs_0001"
down_revision = None
branch_labels = ("runs",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "runs_runs",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("project_name", sa.String(255), nullable=False),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("finished_us", sa.BigInteger(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("upload_uri_prefix", sa.String(512), nullable=False),
        sa.Column("upload_secret_hash", sa.String(64), nullable=False),
        sa.Column("upload_expires_us", sa.BigInteger(), nullable=False),
        sa.Column("data_source", sa.String(16), nullable=False),
        sa.Column("data_uris", sa.Text(), nullable=False),
        sa.Column("statistics", sa.Text(), nullable=True),
        sa.Column("measured_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs_runs")),
    )
    op.create_index("ix_runs_runs_created", "runs_runs", ["created_us"])
    op.create_index("ix_runs_runs_project_created", "runs_runs", ["project_name", "created_us"])
    op.create_index("ix_runs_runs_status_created", "runs_runs", ["status", "created_us"])
    op.create_index("ix_runs_runs_owner_created", "runs_runs", ["owner", "created_us"])
    op.create_table(
        "runs_gpus",
        sa.Column("gpu_uuid", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gpu_uuid", "run_id", name=op.f("pk_runs_gpus")),
    )
    op.create_index("ix_runs_gpus_gpu_created", "runs_gpus", ["gpu_uuid", "created_us"])


def downgrade() -> None:
    op.drop_table("runs_gpus")
    op.drop_table("runs_runs")
