"""Agents' acknowledgements of configuration updates: gRPC, REST and the dashboard."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sentinel_testing import OPERATOR_TOKEN

from sentinel.fleet import NotFoundError, SentinelClient
from sentinel.fleet.types import ConfigUpdate, OverheadBudgetUpdate, ThresholdUpdate
from sentinel.v1 import agent_pb2, types_pb2


def _register(server: Any, host: str) -> None:
    """Register an agent of ``host`` and acknowledge the current configuration as it."""
    req = agent_pb2.RegisterAgentRequest(hostname=host, agent_version="test")
    agent_id = server.engine.register_agent(req).agent_id
    assert agent_id == str(uuid.uuid5(uuid.NAMESPACE_DNS, host))
    ack = types_pb2.ConfigAck(
        update_id=server.engine.config.update_id,
        applied=True,
        component_id=host,
        config_version=server.engine.config.config_version,
    )
    server.engine.ack_config(ack, agent_id).result()


def test_acks_per_agent_through_the_sdk_rest_and_dashboard(
    fleet_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTINEL_TOKEN", OPERATOR_TOKEN)
    for host in ("gpu-01", "gpu-02", "gpu-03"):
        _register(fleet_server, host)
    with SentinelClient.connect(fleet_server.address) as client:
        ack = client.update_config(
            ConfigUpdate(update_id="cfg-acks", overhead_budget=OverheadBudgetUpdate(budget_pct=1))
        )
        agent_id = {h: str(uuid.uuid5(uuid.NAMESPACE_DNS, h)) for h in ("gpu-01", "gpu-02")}
        engine = fleet_server.engine
        engine.ack_config(
            types_pb2.ConfigAck(
                update_id="cfg-acks",
                applied=True,
                component_id="gpu-01",
                config_version=ack.config_version,
            ),
            agent_id["gpu-01"],
        ).result()
        engine.ack_config(
            types_pb2.ConfigAck(
                update_id="cfg-acks",
                component_id="gpu-02",
                error="budget below the probes' needs",
                config_version=ack.config_version - 1,
            ),
            agent_id["gpu-02"],
        ).result()

        acks = client.list_config_acks("cfg-acks")
        assert [(a.component_id, a.applied, a.error, a.config_version) for a in acks.acks] == [
            ("gpu-01", True, "", ack.config_version),
            ("gpu-02", False, "budget below the probes' needs", ack.config_version - 1),
            ("gpu-03", False, "", ack.config_version - 1),
        ]
        assert ack.component_id == engine.component_id, "UpdateConfig answers for the engine"
        # A later update: the agent that applied cfg-acks is pending for the new one only.
        client.update_config(
            ConfigUpdate(threshold=ThresholdUpdate(component="c", parameter="p", value=1.0))
        )
        assert client.list_config_acks("cfg-acks").acks[0].applied
        assert not client.list_config_acks().acks[0].applied
        with pytest.raises(NotFoundError, match="config update 'nope' not found"):
            client.list_config_acks("nope")

    with httpx.Client(base_url=fleet_server.http_url) as http:
        view = http.get("/api/v1/config/acks", params={"update_id": "cfg-acks"}).json()
        assert [(a["hostname"], a["status"]) for a in view["agents"]] == [
            ("gpu-01", "applied"),
            ("gpu-02", "refused"),
            ("gpu-03", "pending"),
        ]
        assert http.get("/api/v1/config/acks", params={"update_id": "nope"}).status_code == 404
        page = http.get("/fleet")
        assert page.status_code == 200
        assert 'data-host="gpu-01" data-status="pending"' in page.text
        assert 'data-host="gpu-02" data-status="refused"' in page.text
        assert f"v{ack.config_version + 1}" in page.text


def test_the_fleet_page_lists_at_most_twenty_waiting_agents(fleet_server: Any) -> None:
    from sentinel_testing import register_host

    for i in range(25):
        register_host(fleet_server.engine, f"node-{i:02d}", 1, i)
    page = httpx.get(f"{fleet_server.http_url}/fleet", timeout=10).text
    assert page.count('data-status="pending"') == 20
    assert "0 of 25 agents applied it; 25 refused or pending." in page
    assert "and 5 more" in page
    every = httpx.get(f"{fleet_server.http_url}/api/v1/config/acks", timeout=10).json()
    assert len(every["agents"]) == 25
