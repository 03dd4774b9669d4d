"""Core tables: the audit ledger, its Merkle batches and sentinel_meta.

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sentinel_meta",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sentinel_meta")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_type", sa.SmallInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("gpu_uuid", sa.String(64), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("previous_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("merkle_root", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_gpu_uuid_entry_id", "ledger_entries", ["gpu_uuid", "entry_id"]
    )
    op.create_index(
        "ix_ledger_entries_entry_type_entry_id", "ledger_entries", ["entry_type", "entry_id"]
    )
    op.create_index("ix_ledger_entries_timestamp", "ledger_entries", ["timestamp"])
    op.create_table(
        "ledger_batches",
        sa.Column("batch_no", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("merkle_root", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("batch_no", name=op.f("pk_ledger_batches")),
    )


def downgrade() -> None:
    op.drop_table("ledger_batches")
    op.drop_index("ix_ledger_entries_timestamp", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_entry_type_entry_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_gpu_uuid_entry_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("sentinel_meta")
