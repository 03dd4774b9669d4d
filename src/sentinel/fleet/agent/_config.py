"""Validating an ``AgentConfig`` from the engine before anything of it is applied.

The engine validates updates too, but the agent cannot trust that: a newer engine may
know a probe type this agent does not. A config that fails here is refused as a whole
(a NACK with the reason) and the agent keeps the schedule it had.

The last config applied is kept on disk, so an agent that starts while the engine is down
probes by it (or by the built-in default schedule when it never received one) instead of
waiting idle for a registration that may take minutes.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

from sentinel.v1 import agent_pb2, types_pb2

__all__ = [
    "AgentSettings",
    "ConfigError",
    "ScheduleEntry",
    "config_ack",
    "load_config",
    "parse_config",
    "save_config",
]

log = logging.getLogger("sentinel.fleet.agent")

_KNOWN_TYPES = ", ".join(
    f"{name.removeprefix('PROBE_TYPE_')}={number}"
    for name, number in types_pb2.ProbeType.items()
    if number
)


class ConfigError(ValueError):
    """The engine sent a config this agent cannot apply; the message says which field."""


@dataclass(frozen=True)
class ScheduleEntry:
    """One probe type's slot in the schedule, validated."""

    probe_type: int
    """``ProbeType`` value, 1..7."""
    period_s: float
    """Seconds between two runs on each device (already multiplied by ``schedule_scale``)."""
    sm_coverage: float
    """Share of the SMs one run checks, in (0, 1]."""
    priority: int
    """Lower runs first and is deferred last when the overhead budget is spent."""
    timeout_ms: int
    """How long one run may take before it is reported as TIMEOUT."""


@dataclass(frozen=True)
class AgentSettings:
    """An applied ``AgentConfig``: what the agent runs by."""

    version: int
    """``config_version`` the engine gave it; sent back in heartbeats and acks."""
    schedule: tuple[ScheduleEntry, ...]
    """Enabled probe types, in priority order."""
    budget_pct: float
    """Share of each device's wall time that probes may use, in percent."""
    sampling_rates: Mapping[str, float]
    """Monitor sampling rates by component, for monitors running beside the agent."""
    thresholds: Mapping[str, float]
    """Thresholds keyed ``component.parameter``."""


def parse_config(msg: agent_pb2.AgentConfig, schedule_scale: float = 1.0) -> AgentSettings:
    """Validate ``msg`` as a whole.

    Args:
        msg: The config from RegisterAgent or the command stream.
        schedule_scale: Factor applied to every period (tests and demos run faster).

    Raises:
        ConfigError: Naming the first field that is wrong and what was expected.
    """
    if not msg.probe_schedule:
        raise ConfigError("probe_schedule is empty: expected at least one entry")
    seen: set[int] = set()
    entries: list[ScheduleEntry] = []
    for i, e in enumerate(msg.probe_schedule):
        where = f"probe_schedule[{i}]"
        if e.type not in types_pb2.ProbeType.values() or e.type == 0:
            raise ConfigError(
                f"{where}: unknown probe type {e.type}; this agent runs {_KNOWN_TYPES}"
            )
        if e.type in seen:
            raise ConfigError(
                f"{where}: probe type {types_pb2.ProbeType.Name(e.type)} is listed twice"
            )
        seen.add(e.type)
        if not (e.period_seconds > 0 and math.isfinite(e.period_seconds)):
            raise ConfigError(f"{where}.period_seconds must be > 0, got {e.period_seconds}")
        if not 0.0 < e.sm_coverage <= 1.0:
            raise ConfigError(f"{where}.sm_coverage must be in (0, 1], got {e.sm_coverage}")
        if e.timeout_ms <= 0:
            raise ConfigError(f"{where}.timeout_ms must be > 0, got {e.timeout_ms}")
        if e.enabled:
            entries.append(
                ScheduleEntry(
                    e.type,
                    e.period_seconds * schedule_scale,
                    e.sm_coverage,
                    e.priority,
                    e.timeout_ms,
                )
            )
    if not 0.0 < msg.overhead_budget_pct <= 100.0:
        raise ConfigError(f"overhead_budget_pct must be in (0, 100], got {msg.overhead_budget_pct}")
    for component, rate in msg.sampling_rates.items():
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"sampling_rates[{component!r}] must be in [0, 1], got {rate}")
    for key, value in msg.thresholds.items():
        if not math.isfinite(value):
            raise ConfigError(f"thresholds[{key!r}] must be finite, got {value}")
    entries.sort(key=lambda s: (s.priority, s.probe_type))
    return AgentSettings(
        version=msg.config_version,
        schedule=tuple(entries),
        budget_pct=msg.overhead_budget_pct,
        sampling_rates=dict(msg.sampling_rates),
        thresholds=dict(msg.thresholds),
    )


def config_ack(
    msg: agent_pb2.AgentConfig, hostname: str, error: str = "", applied_version: int = 0
) -> types_pb2.ConfigAck:
    """The ``ConfigAck`` for ``msg``: applied when ``error`` is empty, else a NACK.

    A NACK carries the version the agent keeps running (``applied_version``).
    """
    return types_pb2.ConfigAck(
        update_id=msg.update_id,
        applied=not error,
        component_id=hostname,
        error=error,
        config_version=applied_version if error else msg.config_version,
    )


def save_config(path: Path, msg: agent_pb2.AgentConfig) -> None:
    """Write ``msg`` to ``path`` atomically: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(msg.SerializeToString())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_config(path: Path) -> agent_pb2.AgentConfig | None:
    """The config ``save_config`` kept at ``path``; ``None`` when there is none or it is
    unreadable (then the agent starts from the default schedule and says why)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the saved config %s (%s); using the default schedule", path, exc)
        return None
    try:
        return agent_pb2.AgentConfig.FromString(data)
    except DecodeError:
        log.warning("the saved config %s is corrupt; using the default schedule", path)
        return None
