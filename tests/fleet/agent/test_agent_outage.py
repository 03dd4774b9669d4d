"""Surviving the engine: results wait on disk and arrive once, damaged records are skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sentinel_testing import agent_token

from sentinel.core.ids import uuid7
from sentinel.core.settings import ServerSettings
from sentinel.fleet.agent import DiskBuffer, Record
from sentinel.fleet.agent.buffer import KIND_PROBE
from sentinel.fleet.probes import CpuBackend
from sentinel.server.app import SentinelServer
from sentinel.v1 import agent_pb2


def _server(tmp_path: Path, grpc_port: int) -> Any:
    """A server on a given port over the SQLite database under ``tmp_path``."""
    settings = ServerSettings(
        grpc_port=grpc_port,
        http_port=0,
        data_dir=tmp_path / "data",
    )
    return SentinelServer(settings).start()


def _counted(server: Any, uuids: list[str]) -> int:
    gpus = server.engine.state.gpus
    return sum(gpus[u].probe_pass_count + gpus[u].probe_fail_count for u in uuids if u in gpus)


def test_results_survive_an_engine_outage_and_an_agent_restart(
    tmp_path: Path, make_agent: Any, wait_for: Any
) -> None:
    first = _server(tmp_path, 0)
    port = first.grpc_port
    try:
        token = agent_token(first, "node-a")  # stored in the database: valid after restarts
        agent, backend = make_agent(first.address, token=token)
        uuids = [d.uuid for d in agent.devices]
        wait_for(lambda: _counted(first, uuids) >= 4, "first deliveries")
    finally:
        first.stop()
    wait_for(lambda: len(agent.buffer) >= 10, "reports buffered while the engine is down")
    agent.stop()
    made = agent.stats.results["PASS"] + agent.stats.results["FAIL"]
    assert list((agent.data_dir / "buffer").glob("seg-*.log"))

    # A new agent process on the same data dir, and the engine back on the same database.
    again, _ = make_agent(first.address, backend=backend, token=token)
    second = _server(tmp_path, port)
    try:
        wait_for(lambda: not len(again.buffer) and again.stats.delivered, "the backlog")
        again.stop()
        made += again.stats.results["PASS"] + again.stats.results["FAIL"] - len(again.buffer)
        wait_for(lambda: _counted(second, uuids) == made, f"{made} results counted once")
    finally:
        second.stop()


def test_damaged_buffer_records_are_skipped_and_the_rest_delivered(
    fleet_server: Any,
    make_agent: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    wait_for: Any,
) -> None:
    backend = CpuBackend(2, 8, hostname="node-a")
    data_dir = tmp_path / "agent-node-a"
    buffer = DiskBuffer(data_dir / "buffer", 1 << 20)
    ids = []
    for i in range(20):
        r = agent_pb2.ProbeReport(
            report_id=uuid7(),
            gpu_uuid=backend.devices()[i % 2].uuid,
            probe_type=1,
            result=1,
            sm_outcomes=bytes([1] * 8),
        )
        ids.append(r.report_id)
        buffer.append(Record(r.report_id, KIND_PROBE, r.SerializeToString()))
    buffer.close()
    (segment,) = (data_dir / "buffer").glob("seg-*.log")
    data = bytearray(segment.read_bytes())
    record_size = len(data) // 20
    data[5 * record_size + 20] ^= 0xFF  # a flipped bit inside record 5
    data[12 * record_size + 4 : 12 * record_size + 8] = b"\xff\xff\xff\x7f"  # record 12's length
    segment.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, "sentinel.fleet.agent"):
        agent, _ = make_agent(fleet_server.address, backend=backend, start=False)
    assert len(agent.buffer) == 18 and agent.buffer.damaged == 2
    assert "skipped 2 damaged record(s)" in caplog.text
    agent.start()
    wait_for(lambda: not len(agent.buffer), "the intact records to be delivered")
    agent.stop()
    produced = agent.stats.results["PASS"] + agent.stats.results["FAIL"]
    uuids = [d.uuid for d in backend.devices()]
    assert _counted(fleet_server, uuids) == 18 + produced - len(agent.buffer)
