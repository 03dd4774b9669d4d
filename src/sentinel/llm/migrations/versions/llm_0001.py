"""llm tables: anomalies, window figures and persisted baselines

Revision ID: llm_0001
Revises:
Depends on: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "llm_0001"
down_revision = None
branch_labels = ("llm",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "llm_anomalies",
        sa.Column("anomaly_id", sa.String(36), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("anomaly_type", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("window_start_us", sa.BigInteger(), nullable=False),
        sa.Column("window_end_us", sa.BigInteger(), nullable=False),
        sa.Column("detected_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("windows", sa.Integer(), nullable=False),
        sa.Column("gpu_uuid", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("anomaly_id", name=op.f("pk_llm_anomalies")),
    )
    op.create_index("ix_llm_anomalies_start", "llm_anomalies", ["window_start_us"])
    op.create_index(
        "ix_llm_anomalies_key_start", "llm_anomalies", ["service", "model", "window_start_us"]
    )
    op.create_index(
        "ix_llm_anomalies_type_start", "llm_anomalies", ["anomaly_type", "window_start_us"]
    )
    op.create_index("ix_llm_anomalies_gpu", "llm_anomalies", ["gpu_uuid"])
    op.create_table(
        "llm_windows",
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service", "model", "start_us", name=op.f("pk_llm_windows")),
    )
    op.create_table(
        "llm_baselines",
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service", "model", name=op.f("pk_llm_baselines")),
    )


def downgrade() -> None:
    op.drop_table("llm_baselines")
    op.drop_table("llm_windows")
    op.drop_table("llm_anomalies")
