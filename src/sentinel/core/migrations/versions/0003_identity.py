"""Identities: hashed API tokens with scopes (operator, agent bound to a host, domains).

Revision ID: 0003_identity
Revises: 0002_fleet
"""

import sqlalchemy as sa  # noqa: F401  (used once the tables are filled in)
from alembic import op  # noqa: F401

revision = "0003_identity"
down_revision = "0002_fleet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # PLACEHOLDER: the identity helper fills in the tables


def downgrade() -> None:
    pass
