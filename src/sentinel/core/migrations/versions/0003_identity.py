"""Identities: hashed API tokens with scopes (operator, agent bound to a host, domains).

Revision ID: 0003_identity
Revises: 0002_fleet
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_identity"
down_revision = "0002_fleet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sentinel_tokens",
        sa.Column("token_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_sentinel_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sentinel_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("sentinel_tokens")
