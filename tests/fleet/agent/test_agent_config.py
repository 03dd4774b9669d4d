"""Validating the engine's AgentConfig, and the ack or NACK the agent sends back."""

from __future__ import annotations

import pytest

from sentinel.fleet.agent import ConfigError
from sentinel.fleet.agent._config import config_ack, parse_config
from sentinel.v1 import agent_pb2, types_pb2


def _config(**entry: float) -> agent_pb2.AgentConfig:
    e = {"type": 1, "period_seconds": 60, "sm_coverage": 1.0, "enabled": True, "timeout_ms": 5}
    e.update(entry)
    return agent_pb2.AgentConfig(
        config_version=7,
        update_id="u-7",
        overhead_budget_pct=2.0,
        probe_schedule=[types_pb2.ProbeScheduleEntry(**e)],  # type: ignore[arg-type]
    )


def test_valid_config_is_scaled_and_acked() -> None:
    settings = parse_config(_config(), schedule_scale=0.5)
    assert settings.version == 7 and settings.schedule[0].period_s == 30
    ack = config_ack(_config(), "host-1")
    assert (ack.applied, ack.update_id, ack.component_id, ack.config_version) == (
        True,
        "u-7",
        "host-1",
        7,
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": 42}, "unknown probe type 42"),
        ({"period_seconds": 0}, "period_seconds must be > 0"),
        ({"sm_coverage": 0.0}, "sm_coverage must be in (0, 1]"),
        ({"timeout_ms": 0}, "timeout_ms must be > 0"),
    ],
)
def test_malformed_entries_are_refused_with_the_field(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")):
        parse_config(_config(**entry))


def test_duplicate_types_and_bad_budget_are_refused() -> None:
    cfg = _config()
    cfg.probe_schedule.append(cfg.probe_schedule[0])
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config(cfg)
    cfg = _config()
    cfg.overhead_budget_pct = 0
    with pytest.raises(ConfigError, match="overhead_budget_pct"):
        parse_config(cfg)


def test_nack_keeps_the_running_version() -> None:
    ack = config_ack(_config(), "host-1", "bad", applied_version=3)
    assert (ack.applied, ack.error, ack.config_version) == (False, "bad", 3)
