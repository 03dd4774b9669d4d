"""Exact duplicate detection for agent reports.

Every acknowledged report id is written to ``fleet_report_ids`` in the transaction of
the batch that applied the report, so after any restart a replay is recognised. The
engine keeps the newest ids in memory as a first filter; for the ids of a batch that
memory does not know, one indexed query per batch asks the table before the batch's
operations run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from sentinel.fleet.engine.store import ReportIdRow

if TYPE_CHECKING:
    from sentinel.fleet.engine._tx import Batch
    from sentinel.fleet.engine.engine import FleetEngine

MEMORY_WINDOW = 200_000
"""How many of the newest committed ids the engine keeps in memory."""
_QUERY_CHUNK = 10_000
"""Ids per query: under SQLite's 32,766 bound parameters; one query for most batches."""


def prefetch(eng: FleetEngine, b: Batch, conn: Connection, report_ids: Iterable[str]) -> None:
    """Record in ``b`` which of ``report_ids`` the database already holds.

    Ids the in-memory window knows need no query; the rest are looked up on ``conn``
    (every batch before ``b`` has committed, so the table is up to date).
    """
    seen = eng.seen_reports
    unknown = [i for i in dict.fromkeys(report_ids) if i and i not in seen]
    table = ReportIdRow.__tablename__
    # Driver-level SQL: compiling an expanding IN of thousands of parameters through
    # SQLAlchemy on every batch costs more than the indexed lookup itself.
    postgres = conn.dialect.name == "postgresql"
    for at in range(0, len(unknown), _QUERY_CHUNK):
        chunk = unknown[at : at + _QUERY_CHUNK]
        params: tuple[Any, ...] = (chunk,) if postgres else tuple(chunk)
        where = "= ANY(%s)" if postgres else f"IN ({','.join('?' * len(chunk))})"
        rows = conn.exec_driver_sql(
            f"SELECT report_id FROM {table} WHERE report_id {where}", params
        )
        b.stored_reports.update(r[0] for r in rows)


def seen(eng: FleetEngine, b: Batch, report_id: str) -> bool:
    """Whether ``report_id`` was applied before: in memory, earlier in ``b``, or stored."""
    if report_id in eng.seen_reports or report_id in b.report_ids:
        return True
    return report_id in b.stored_reports


def remember(eng: FleetEngine, b: Batch, report_id: str) -> None:
    """Mark ``report_id`` applied in ``b``; memory learns it only once ``b`` commits."""
    if not b.report_ids:
        b.after_commit.append(lambda: _committed(eng, b))
    b.report_ids[report_id] = None


def _committed(eng: FleetEngine, b: Batch) -> None:
    seen = eng.seen_reports
    seen.update(b.report_ids)
    while len(seen) > MEMORY_WINDOW:
        seen.popitem(last=False)


def store(conn: Connection, report_ids: Sequence[str]) -> None:
    """Insert ``report_ids``; a duplicate fails the transaction (it would be a bug upstream).

    One statement with an array on PostgreSQL (thousands of single-row inserts cost a
    third of the batch there); an executemany on SQLite, where that is already cheap.
    """
    if not report_ids:
        return
    table = ReportIdRow.__tablename__
    if conn.dialect.name == "postgresql":
        sql = f"INSERT INTO {table} (report_id) SELECT unnest(%s::text[])"
        conn.exec_driver_sql(sql, (list(report_ids),))
    else:
        conn.exec_driver_sql(
            f"INSERT INTO {table} (report_id) VALUES (?)", [(i,) for i in report_ids]
        )
