"""capture tables: issues (grouped exceptions), their events, endpoints and hourly counts

Revision ID: capture_0001
Revises:
Depends on: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "capture_0001"
down_revision = None
branch_labels = ("capture",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "capture_issues",
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("github_repo", sa.String(160), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("exception_type", sa.String(512), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("culprit", sa.String(1024), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("status_changed_us", sa.BigInteger(), nullable=True),
        sa.Column("status_changed_by", sa.String(128), nullable=False),
        sa.Column("regressions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_capture_issues")),
        sa.UniqueConstraint(
            "github_repo", "fingerprint", name="uq_capture_issues_github_repo_fingerprint"
        ),
    )
    op.create_index("ix_capture_issues_last_seen", "capture_issues", ["last_seen_us"])
    op.create_index(
        "ix_capture_issues_status_last_seen", "capture_issues", ["status", "last_seen_us"]
    )
    op.create_table(
        "capture_events",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.String(512), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("stack_trace", sa.Text(), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("reporter", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_capture_events")),
    )
    op.create_index(
        "ix_capture_events_issue_received", "capture_events", ["issue_id", "received_us"]
    )
    op.create_table(
        "capture_endpoints",
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("endpoint", sa.String(512), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "endpoint", name=op.f("pk_capture_endpoints")),
    )
    op.create_table(
        "capture_hourly",
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "hour", name=op.f("pk_capture_hourly")),
    )


def downgrade() -> None:
    op.drop_table("capture_hourly")
    op.drop_table("capture_endpoints")
    op.drop_table("capture_events")
    op.drop_table("capture_issues")
