"""forecast tables: operator actions on forecast series

Revision ID: forecast_0001
Revises:
Depends on: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "forecast_0001"
down_revision = None
branch_labels = ("forecast",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "forecast_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("series", sa.String(1024), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_actions")),
    )
    op.create_index("ix_forecast_actions_created", "forecast_actions", ["created_us"])


def downgrade() -> None:
    op.drop_table("forecast_actions")
