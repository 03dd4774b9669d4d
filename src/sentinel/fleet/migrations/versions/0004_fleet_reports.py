"""Fleet hardening: exact report de-duplication (every acknowledged report id is stored).

Creates ``fleet_report_ids`` and fills it with the ids of the reports already in the
audit ledger, so a database made before this revision de-duplicates exactly too. Probe
results and anomalies carry their report id in the entry's stored protobuf; TMR entries
do not (a replayed TMR report is refused by its canary, which already holds the digest).

Revision ID: 0004_fleet_reports
Revises: 0003_identity
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_fleet_reports"
down_revision = "0003_identity"
branch_labels = None
depends_on = None

_CHUNK = 20_000


def _report_ids(conn: sa.Connection) -> Iterator[list[str]]:
    """Report ids of the ledger's probe-result and anomaly entries, a chunk at a time."""
    from sentinel.v1 import agent_pb2

    parsers: dict[int, Any] = {1: agent_pb2.ProbeReport, 2: agent_pb2.AnomalyReport}
    after = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT entry_id, entry_type, data FROM ledger_entries "
                "WHERE entry_id > :after AND entry_type IN (1, 2) ORDER BY entry_id LIMIT :n"
            ),
            {"after": after, "n": _CHUNK},
        ).all()
        if not rows:
            return
        ids = []
        for _, entry_type, data in rows:
            try:
                report_id = parsers[entry_type].FromString(bytes(data)).report_id
            except Exception:  # a damaged entry is `audit verify`'s finding, not a failed upgrade
                continue
            if report_id:
                ids.append(report_id)
        yield ids
        after = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "fleet_report_ids",
        sa.Column("report_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_fleet_report_ids")),
    )
    conn = op.get_bind()
    insert = sa.text("INSERT INTO fleet_report_ids (report_id) VALUES (:id) ON CONFLICT DO NOTHING")
    for ids in _report_ids(conn):
        if ids:
            conn.execute(insert, [{"id": i} for i in dict.fromkeys(ids)])


def downgrade() -> None:
    op.drop_table("fleet_report_ids")
