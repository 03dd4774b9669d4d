"""Fleet hardening: exact report de-duplication (every acknowledged report id is stored).

Revision ID: 0004_fleet_reports
Revises: 0003_identity
"""

import sqlalchemy as sa  # noqa: F401  (used once the tables are filled in)
from alembic import op  # noqa: F401

revision = "0004_fleet_reports"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # PLACEHOLDER: the audit/delivery helper fills in the tables


def downgrade() -> None:
    pass
