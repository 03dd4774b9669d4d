"""Duplicate detection is exact: every acknowledged report id counts once, across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from sqlalchemy import Engine, text

from sentinel.core.db import _alembic_config, make_engine, migrate
from sentinel.fleet.engine import _dedup
from sentinel.fleet.engine.engine import FleetEngine
from sentinel.v1 import agent_pb2, types_pb2

HOST = "dedup-node-1"
GPU = "GPU-0000d00d-1111-2222-3333-444455556666"
REPORTS = 12_000
CHUNK = 1_000


@contextmanager
def _engine(db: Engine) -> Iterator[FleetEngine]:
    engine = FleetEngine(db)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def _reports(ids: range, prefix: str = "r") -> list[agent_pb2.ProbeReport]:
    return [
        agent_pb2.ProbeReport(
            report_id=f"{prefix}-{i}",
            gpu_uuid=GPU,
            probe_type=types_pb2.PROBE_TYPE_FMA,
            result=types_pb2.PROBE_RESULT_PASS,
        )
        for i in ids
    ]


def _send(engine: FleetEngine, ids: range, prefix: str = "r") -> tuple[int, int]:
    """Send reports in agent-sized batches; returns (accepted, duplicates)."""
    accepted = duplicates = 0
    for at in range(ids.start, ids.stop, CHUNK):
        ack = engine.ingest_probe_results(_reports(range(at, min(at + CHUNK, ids.stop)), prefix))
        accepted, duplicates = accepted + ack.accepted, duplicates + ack.duplicates
    return accepted, duplicates


def _probe_entries(db: Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM ledger_entries WHERE entry_type = 1")).scalar()
        )


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_replay_after_restart_counts_nothing_twice(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A memory window far smaller than the replay: only the stored ids can catch it all.
    monkeypatch.setattr(_dedup, "MEMORY_WINDOW", 500)
    with _engine(db) as engine:
        engine.register_gpus(HOST, [(GPU, 0, "NVIDIA H100", "535.1", "96.0", 8)])
        assert _send(engine, range(REPORTS)) == (REPORTS, 0)
        assert len(engine.seen_reports) == 500
        assert _send(engine, range(REPORTS)) == (0, REPORTS)
    with _engine(db) as engine:
        assert _send(engine, range(REPORTS // 2, REPORTS + 100)) == (100, REPORTS // 2)
        within = _reports(range(3), "fresh") * 2
        ack = engine.ingest_probe_results(within)
        assert (ack.accepted, ack.duplicates) == (3, 3)
        assert engine.state.gpus[GPU].probe_pass_count == REPORTS + 103
        assert engine.ledger.verify().valid
    assert _probe_entries(db) == REPORTS + 103


def test_upgrade_backfills_the_ids_already_in_the_ledger(db: Engine) -> None:
    with _engine(db) as engine:
        engine.register_gpus(HOST, [(GPU, 0, "NVIDIA H100", "535.1", "96.0", 8)])
        assert _send(engine, range(2_500)) == (2_500, 0)
        anomaly = agent_pb2.AnomalyReport(
            report_id="anomaly-1", gpu_uuid=GPU, anomaly_type=1, source=1, severity=2
        )
        assert engine.submit_anomalies([anomaly]).result(timeout=10).accepted == 1
    # Back to the schema of the code before exact de-duplication, then upgrade again.
    cfg = _alembic_config(db)
    command.downgrade(cfg, "0003_identity")
    with db.connect() as conn:
        assert not db.dialect.has_table(conn, "fleet_report_ids")
    migrate(db)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fleet_report_ids")).scalar() == 2_501
    with _engine(db) as engine:
        assert _send(engine, range(2_600)) == (100, 2_500)
        assert engine.submit_anomalies([anomaly]).result(timeout=10).duplicates == 1
