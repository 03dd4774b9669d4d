"""An agent that starts while the engine is down probes anyway: by the last config it
received (kept on disk) or, never having received one, by the built-in default schedule;
it keeps retrying registration and delivers what it found once the engine is up."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from sentinel_testing import OPERATOR_TOKEN

from sentinel.core.settings import ServerSettings
from sentinel.fleet._schedule import default_config
from sentinel.fleet.agent._config import load_config
from sentinel.server.app import SentinelServer
from sentinel.v1 import types_pb2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(tmp_path: Path, grpc_port: int) -> SentinelServer:
    settings = ServerSettings(
        grpc_port=grpc_port,
        http_port=0,
        data_dir=tmp_path / "data",
        operator_tokens=(f"alice:{OPERATOR_TOKEN}",),
    )
    return SentinelServer(settings).start()


def _counted(server: SentinelServer, uuids: list[str]) -> int:
    gpus = server.engine.state.gpus
    return sum(gpus[u].probe_pass_count + gpus[u].probe_fail_count for u in uuids if u in gpus)


def test_agent_probes_by_the_default_schedule_before_the_engine_is_up(
    tmp_path: Path, make_agent: Any, wait_for: Any
) -> None:
    port = _free_port()
    agent, _ = make_agent(f"127.0.0.1:{port}", token=OPERATOR_TOKEN)
    assert agent.settings is not None
    assert agent.settings.version == default_config().config_version
    wait_for(lambda: len(agent.buffer) >= 4, "probe reports made while the engine is down")
    assert agent.agent_id is None, "there is no engine to register with"
    assert not (agent.data_dir / "config.pb").exists(), "only an engine's config is kept"
    server = _server(tmp_path, port)
    try:
        uuids = [d.uuid for d in agent.devices]
        wait_for(lambda: agent.agent_id, "registration once the engine is up", 20)
        wait_for(lambda: _counted(server, uuids) >= 4, "the offline reports delivered", 20)
        agent_id = agent.agent_id
        wait_for(
            lambda: server.engine.state.agents[agent_id].config_version == 1,
            "the engine told that the agent runs its config",
        )
    finally:
        agent.stop()
        server.stop()


def test_agent_restarted_while_the_engine_is_down_probes_by_its_saved_config(
    tmp_path: Path, make_agent: Any, wait_for: Any
) -> None:
    port = _free_port()
    server = _server(tmp_path, port)
    data_dir = tmp_path / "agent-data"
    try:
        first, backend = make_agent(server.address, token=OPERATOR_TOKEN, data_dir=data_dir)
        wait_for(lambda: first.agent_id, "registration")
        only_fma = types_pb2.ProbeScheduleUpdate(
            entries=[
                types_pb2.ProbeScheduleEntry(
                    type=types_pb2.PROBE_TYPE_FMA,
                    period_seconds=30,
                    sm_coverage=0.5,
                    priority=1,
                    enabled=True,
                    timeout_ms=5000,
                )
            ]
        )
        update = types_pb2.ConfigUpdate(probe_schedule=only_fma, reason="offline test")
        version = server.engine.update_config(update).result(timeout=10).config_version
        wait_for(lambda: first.settings.version == version, "the new config applied")
        first.stop()
    finally:
        server.stop()
    saved = load_config(data_dir / "config.pb")
    assert saved is not None and saved.config_version == version
    assert not list(data_dir.glob(".config.pb*")), "no temporary file is left behind"

    again, _ = make_agent(server.address, token=OPERATOR_TOKEN, data_dir=data_dir, backend=backend)
    assert again.settings is not None and again.settings.version == version
    assert [e.probe_type for e in again.settings.schedule] == [types_pb2.PROBE_TYPE_FMA]
    made = again.stats.results.total()
    wait_for(lambda: again.stats.results.total() >= made + 3, "probes while the engine is down")
    assert again.agent_id is None
