"""Database outages through the real server: PostgreSQL stopped and started again, SQLite
locked by another connection or full. The writer survives, ingestion answers UNAVAILABLE
at once while the database is away, everything recovers within 5 s of its return, no
acknowledged report is lost or applied twice, and the server stops within 10 s."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from _pgcluster import PgCluster
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sentinel_testing import (
    OPERATOR_TOKEN,
    agent_token,
    bearer,
    gpu_uuid,
    start_server,
    wait_for,
)
from sqlalchemy import create_engine, event, text

from sentinel.v1 import agent_pb2, agent_pb2_grpc, types_pb2

HOST = "outage-node"
GPUS = [gpu_uuid(i) for i in range(4)]
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _register(address: str, metadata: Any) -> None:
    req = agent_pb2.RegisterAgentRequest(hostname=HOST, agent_version="outage-test")
    for i, u in enumerate(GPUS):
        reg = req.gpus.add(sm_count=8)
        reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = u, HOST, i
        reg.gpu.model, reg.gpu.driver_version, reg.gpu.firmware_version = "H100", "535", "96"
    with grpc.insecure_channel(address) as channel:
        agent_pb2_grpc.AgentServiceStub(channel).RegisterAgent(req, metadata=metadata, timeout=10)


class Ingestor:
    """Reports PASS probe results in batches of 20, each retried until acknowledged, as an
    agent does; records every answer that was not an acknowledgement."""

    def __init__(self, address: str, metadata: Any) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._metadata = metadata
        self.acked: set[str] = set()
        self.acked_at: list[float] = []
        self.refusals: list[tuple[float, float, grpc.StatusCode]] = []
        """(monotonic start, seconds to the answer, status) of each failed call."""
        self.details: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingestor", daemon=True)

    def __enter__(self) -> Ingestor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self._channel.close()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            reports = [
                agent_pb2.ProbeReport(
                    report_id=f"outage-{n + i}",
                    gpu_uuid=GPUS[(n + i) % len(GPUS)],
                    probe_type=types_pb2.PROBE_TYPE_FMA,
                    result=types_pb2.PROBE_RESULT_PASS,
                )
                for i in range(20)
            ]
            n += len(reports)
            self._deliver(agent_pb2.ProbeReportBatch(reports=reports))

    def _deliver(self, batch: agent_pb2.ProbeReportBatch) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                ack = self._stub.ReportProbeResults(batch, metadata=self._metadata, timeout=2)
            except grpc.RpcError as exc:
                self.refusals.append((started, time.monotonic() - started, exc.code()))
                self.details.append(exc.details() or "")
                if exc.code() not in _RETRYABLE:
                    self.errors.append(f"{exc.code()}: {exc.details()}")
                self._stop.wait(0.05)
                continue
            if ack.rejected or ack.accepted + ack.duplicates != len(batch.reports):
                self.errors.append(f"unexpected acknowledgement {ack}")
            self.acked.update(r.report_id for r in batch.reports)
            self.acked_at.append(time.monotonic())
            return

    def acked_since(self, t: float) -> bool:
        return any(at > t for at in self.acked_at)


def _health(http_url: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"{http_url}/healthz", timeout=5)
    return r.status_code, r.json()


def _degraded(http_url: str) -> bool:
    status, body = _health(http_url)
    return status == 503 and body["status"] == "degraded"


def _stored_probe_ids(url: str) -> list[str]:
    """Report ids of every probe result in the ledger, read straight from the database."""
    db = create_engine(url)
    try:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT data FROM ledger_entries WHERE entry_type = 1"))
            return [agent_pb2.ProbeReport.FromString(r[0]).report_id for r in rows]
    finally:
        db.dispose()


def _grpc_health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        req = health_pb2.HealthCheckRequest(service="sentinel.v1.AgentService")
        return stub.Check(req, timeout=5).status


def _check_outage(
    server: Any,
    ingest: Ingestor,
    outage: Callable[[], None],
    end: Any,
    *,
    unreachable: bool = False,
) -> None:
    """Take the database away with ``outage()``, check the degraded server, ``end()`` the
    outage and check the recovery. ``unreachable``: reads fail too (not just writes), so a
    token the server has not cached cannot be checked and is answered UNAVAILABLE."""
    # Issued before the outage but never presented: checking it needs the database.
    unseen = bearer(agent_token(server, "unseen-host"))
    wait_for(lambda: len(ingest.acked_at) >= 3, "ingestion before the outage", 15)
    outage()
    down = time.monotonic()
    wait_for(lambda: _degraded(server.http_url), "/healthz to report degraded", 15)
    seen = time.monotonic()
    status, body = _health(server.http_url)
    assert any("database unavailable" in p for p in body["problems"]), body
    assert server.engine.running, "the writer thread must survive the outage"
    metrics = httpx.get(f"{server.http_url}/metrics", timeout=5).text
    assert "sentinel_engine_degraded 1.0" in metrics
    wait_for(
        lambda: sum(1 for s, _, _ in ingest.refusals if s > seen) >= 5,
        "ingestion refused while degraded",
        10,
    )
    while_down = [(s, secs, c) for s, secs, c in ingest.refusals if s > seen]
    assert all(c == grpc.StatusCode.UNAVAILABLE for _, _, c in while_down), while_down
    assert max(secs for _, secs, _ in while_down) < 1.0, while_down
    said = ingest.details[-1]
    assert "database unavailable" in said and "retry" in said, said
    assert "SELECT" not in said and "INSERT" not in said and "127.0.0.1" not in said, said
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    wait_for(lambda: _grpc_health(server.address) == not_serving, "gRPC health NOT_SERVING", 5)
    if unreachable:
        with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as e:
            agent_pb2_grpc.AgentServiceStub(channel).Heartbeat(
                agent_pb2.HeartbeatRequest(), metadata=unseen, timeout=5
            )
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
    time.sleep(max(0.0, down + 5.0 - time.monotonic()))  # hold the outage for 5 s
    end()
    back = time.monotonic()
    wait_for(lambda: _health(server.http_url)[0] == 200, "/healthz 200 after the outage", 5)
    wait_for(lambda: ingest.acked_since(back), "an acknowledged batch after the outage", 5)
    serving = health_pb2.HealthCheckResponse.SERVING
    wait_for(lambda: _grpc_health(server.address) == serving, "gRPC health SERVING", 5)
    assert time.monotonic() - back <= 5.0


def test_postgres_outage_degrades_then_recovers_losing_nothing(
    private_pg: PgCluster, tmp_path: Path
) -> None:
    server = start_server(tmp_path, private_pg.url)
    try:
        metadata = bearer(agent_token(server, HOST))
        _register(server.address, metadata)
        with Ingestor(server.address, metadata) as ingest:
            _check_outage(server, ingest, private_pg.stop, private_pg.start, unreachable=True)
            wait_for(lambda: len(ingest.acked_at) >= 3 + 3, "steady ingestion again", 10)
        assert not ingest.errors, ingest.errors[:5]
    finally:
        server.stop()
    stored = _stored_probe_ids(private_pg.url)
    assert ingest.acked, "nothing was acknowledged"
    assert ingest.acked <= set(stored), f"lost {len(ingest.acked - set(stored))} acked reports"
    assert len(stored) == len(set(stored)), "a report was applied twice"


def test_server_stops_within_10_s_while_postgres_is_down(
    private_pg: PgCluster, tmp_path: Path
) -> None:
    server = start_server(tmp_path, private_pg.url)
    metadata = bearer(agent_token(server, HOST))
    _register(server.address, metadata)
    with Ingestor(server.address, metadata) as ingest:
        wait_for(lambda: ingest.acked_at, "ingestion", 15)
        private_pg.stop()
        wait_for(lambda: _degraded(server.http_url), "/healthz to report degraded", 15)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 10.0
    assert not server.engine.running


def test_sigterm_stops_sentinel_serve_within_10_s_while_its_database_is_down(
    private_pg: PgCluster, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SENTINEL_DATABASE_URL": private_pg.url,
        "SENTINEL_OPERATOR_TOKENS": f"alice:{OPERATOR_TOKEN}",
        "SENTINEL_DATA_DIR": str(tmp_path / "data"),
    }
    main = "from sentinel.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", main, "serve", "--grpc-port", "0", "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = ""
        for line in proc.stdout:
            if "Sentinel is up" in line:
                ready = line
                break
        found = re.search(r"gRPC (\S+), HTTP (\S+)", ready)
        assert found, f"serve did not come up: {ready!r}"
        grpc_address, http_url = found.group(1), found.group(2)
        metadata = bearer(OPERATOR_TOKEN)
        _register(grpc_address, metadata)
        with Ingestor(grpc_address, metadata) as ingest:
            wait_for(lambda: ingest.acked_at, "ingestion", 15)
            private_pg.stop()
            wait_for(lambda: _degraded(http_url), "/healthz to report degraded", 15)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 10.0
    finally:
        if proc.poll() is None:
            proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out


def test_sqlite_locked_by_another_connection_degrades_then_recovers(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    path = Path(server.settings.resolved_database_url.removeprefix("sqlite:///"))
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        metadata = bearer(agent_token(server, HOST))
        _register(server.address, metadata)
        with Ingestor(server.address, metadata) as ingest:
            _check_outage(
                server,
                ingest,
                lambda: blocker.execute("BEGIN EXCLUSIVE"),
                lambda: blocker.execute("COMMIT"),
            )
        assert not ingest.errors, ingest.errors[:5]
    finally:
        blocker.close()
        server.stop()
    stored = _stored_probe_ids(server.settings.resolved_database_url)
    assert ingest.acked <= set(stored)
    assert len(stored) == len(set(stored))


def test_full_sqlite_database_degrades_then_recovers(tmp_path: Path) -> None:
    """SQLite's own SQLITE_FULL: every connection the server opens is capped at the pages
    the database has (``PRAGMA max_page_count``), then given room again."""
    server = start_server(tmp_path)
    room = {"full": False}

    @event.listens_for(server.engine.db, "checkout")
    def _cap(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {1 if room['full'] else 1 << 30}")
        cur.close()

    try:
        metadata = bearer(agent_token(server, HOST))
        _register(server.address, metadata)
        with Ingestor(server.address, metadata) as ingest:
            _check_outage(
                server, ingest, lambda: room.update(full=True), lambda: room.update(full=False)
            )
        assert not ingest.errors, ingest.errors[:5]
    finally:
        server.stop()
    stored = _stored_probe_ids(server.settings.resolved_database_url)
    assert ingest.acked <= set(stored)
    assert len(stored) == len(set(stored))
