"""Configuration updates: validation, the versioned agent config, agents' acknowledgements.

Every agent receives the whole config on registration and with each change, so its size
is bounded: names are short and plain, values finite, and an update that would make the
serialized config larger than ``MAX_CONFIG_BYTES`` is refused. Rates and thresholds are
removed with ``delete``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine._common import (
    check_int,
    check_text,
    invalid,
    system_event,
)
from sentinel.fleet.engine._tx import Batch
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


MAX_CONFIG_BYTES = 64 << 10
"""Largest serialized AgentConfig an update may produce: far below gRPC's 4 MB messages."""
_NAME = re.compile(r"[a-z0-9_.-]{1,64}")
_MAX_UPDATE_ID = 64


def _check_name(where: str, value: str) -> None:
    if not _NAME.fullmatch(value):
        raise invalid(
            f"{where} must be 1-64 characters of a-z, 0-9, '_', '.', '-'; "
            f"got {value[:80]!r}" + ("..." if len(value) > 80 else "")
        )


def validate_config_update(u: types_pb2.ConfigUpdate) -> str:
    """Which payload ``u`` carries; raises when it carries none, several or bad values."""
    present = [
        f
        for f in ("probe_schedule", "overhead_budget", "sampling_rate", "threshold")
        if u.HasField(f)
    ]
    if len(present) != 1:
        raise invalid(
            "a ConfigUpdate must carry exactly one of probe_schedule, overhead_budget, "
            f"sampling_rate, threshold; got {len(present)}"
            + (f" ({', '.join(present)})" if present else "")
        )
    kind = present[0]
    if len(u.update_id) > _MAX_UPDATE_ID:
        raise invalid(f"update_id must be at most {_MAX_UPDATE_ID} characters")
    if kind == "probe_schedule":
        entries = u.probe_schedule.entries
        if not entries:
            raise invalid("probe_schedule must have at least one entry")
        types = set()
        for i, e in enumerate(entries):
            where = f"probe_schedule.entries[{i}]"
            if not 1 <= e.type <= 7:
                raise invalid(f"{where}.type must be a ProbeType 1..7, got {e.type}")
            if e.type in types:
                raise invalid(f"{where}: probe type {e.type} appears twice")
            types.add(e.type)
            if e.period_seconds <= 0:
                raise invalid(f"{where}.period_seconds must be > 0")
            if not 0.0 <= e.sm_coverage <= 1.0 or not math.isfinite(e.sm_coverage):
                raise invalid(f"{where}.sm_coverage must be in [0, 1], got {e.sm_coverage}")
            if e.timeout_ms <= 0:
                raise invalid(f"{where}.timeout_ms must be > 0")
    elif kind == "overhead_budget":
        pct = u.overhead_budget.budget_pct
        if not (0.0 < pct <= 100.0):
            raise invalid(f"overhead_budget.budget_pct must be in (0, 100], got {pct}")
    elif kind == "sampling_rate":
        # A key that exists may be deleted whatever its name (one stored before the rules).
        s = u.sampling_rate
        if not s.delete:
            _check_name("sampling_rate.component", s.component)
            if not 0.0 <= s.rate <= 1.0 or not math.isfinite(s.rate):
                raise invalid(f"sampling_rate.rate must be in [0, 1], got {s.rate}")
    else:
        t = u.threshold
        if t.delete and t.component == "engine":
            raise invalid(
                "engine thresholds cannot be deleted (the engine needs a value): set "
                f"engine.{t.parameter} to the value you want instead"
            )
        if not t.delete:
            _check_name("threshold.component", t.component)
            _check_name("threshold.parameter", t.parameter)
            if not math.isfinite(t.value):
                raise invalid(f"threshold.value must be finite, got {t.value}")
    return kind


def update_config(eng: FleetEngine, b: Batch, u: types_pb2.ConfigUpdate) -> types_pb2.ConfigAck:
    kind = validate_config_update(u)
    cfg = agent_pb2.AgentConfig()
    cfg.CopyFrom(eng.config)
    policy = eng.policy
    if kind == "probe_schedule":
        del cfg.probe_schedule[:]
        cfg.probe_schedule.extend(u.probe_schedule.entries)
    elif kind == "overhead_budget":
        cfg.overhead_budget_pct = u.overhead_budget.budget_pct
    elif kind == "sampling_rate":
        s = u.sampling_rate
        if s.delete:
            _delete(cfg.sampling_rates, s.component, "sampling rate")
        else:
            cfg.sampling_rates[s.component] = s.rate
    elif u.threshold.delete:
        _delete(cfg.thresholds, f"{u.threshold.component}.{u.threshold.parameter}", "threshold")
    else:
        t = u.threshold
        if t.component == "engine":
            try:
                policy = policy.with_overrides({t.parameter: t.value})
            except ValueError as exc:
                raise invalid(f"threshold for the engine: {exc}") from exc
        cfg.thresholds[f"{t.component}.{t.parameter}"] = t.value
    cfg.config_version = eng.config.config_version + 1
    update_id = u.update_id or uuid7()
    cfg.update_id = update_id
    # Deleting from an oversized config (one stored before the limit) must stay possible.
    if cfg.ByteSize() > max(MAX_CONFIG_BYTES, eng.config.ByteSize()):
        raise invalid(
            f"this update would make the agent config {cfg.ByteSize():,} bytes, over the "
            f"{MAX_CONFIG_BYTES:,}-byte limit; delete unused rates or thresholds first"
        )
    stored = types_pb2.ConfigUpdate()
    stored.CopyFrom(u)
    stored.update_id = update_id
    eng.config = cfg
    if policy is not eng.policy:
        eng.policy = policy
        eng.correlator.policy = policy
    b.config.append(
        {
            "version": cfg.config_version,
            "update_id": update_id,
            "initiated_by": u.initiated_by,
            "reason": u.reason,
            "ts_us": b.now_us,
            "config": cfg.SerializeToString(),
        }
    )
    b.audit(EntryType.CONFIG_CHANGE, None, stored.SerializeToString())
    b.after_commit.append(lambda: eng.emit("config", cfg))
    return types_pb2.ConfigAck(
        update_id=update_id,
        applied=True,
        component_id=eng.component_id,
        config_version=cfg.config_version,
    )


def _delete(values: Any, key: str, what: str) -> None:
    if key not in values:
        raise invalid(f"there is no {what} {key!r} to delete")
    del values[key]


def ack_config(
    eng: FleetEngine, b: Batch, ack: types_pb2.ConfigAck, agent_id: str
) -> agent_pb2.AckConfigResponse:
    from sentinel.fleet.engine.engine import EngineNotFound

    agent = eng.state.agents.get(agent_id)
    if agent is None:
        raise EngineNotFound(f"agent {agent_id!r} is not registered; register first")
    check_int("config_version", ack.config_version)
    check_text("error", ack.error)
    b.stage_agent(agent)
    if ack.applied:
        agent.config_version, agent.config_error = ack.config_version, ""
    else:
        agent.config_error = ack.error or "rejected without a reason"
        system_event(
            eng,
            b,
            "config_rejected",
            f"{agent.hostname} refused config update {ack.update_id}: {agent.config_error}; "
            f"it keeps version {agent.config_version}",
            agent_id,
        )
    b.agents[agent_id] = agent
    return agent_pb2.AckConfigResponse()
