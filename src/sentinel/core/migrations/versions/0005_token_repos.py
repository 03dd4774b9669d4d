"""Repository-bound keys: the GitHub repositories a ``capture`` token reports for.

Revision ID: 0005_token_repos
Revises: 0004_fleet_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_token_repos"
down_revision = "0004_fleet_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tokens issued before hold no repository (none of them is a capture key bound to one).
    with op.batch_alter_table("sentinel_tokens") as batch:
        batch.add_column(sa.Column("repos", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sentinel_tokens") as batch:
        batch.drop_column("repos")
