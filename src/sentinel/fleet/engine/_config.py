"""Configuration updates: validation, the versioned agent config, agents' acknowledgements."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine._common import (
    invalid,
    system_event,
)
from sentinel.fleet.engine._tx import Batch
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


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
        s = u.sampling_rate
        if not s.component.strip():
            raise invalid("sampling_rate.component must not be empty")
        if not 0.0 <= s.rate <= 1.0 or not math.isfinite(s.rate):
            raise invalid(f"sampling_rate.rate must be in [0, 1], got {s.rate}")
    else:
        t = u.threshold
        if not t.component.strip() or not t.parameter.strip():
            raise invalid("threshold.component and threshold.parameter must not be empty")
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
        cfg.sampling_rates[u.sampling_rate.component] = u.sampling_rate.rate
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


def ack_config(
    eng: FleetEngine, b: Batch, ack: types_pb2.ConfigAck, agent_id: str
) -> agent_pb2.AckConfigResponse:
    from sentinel.fleet.engine.engine import EngineNotFound

    agent = eng.state.agents.get(agent_id)
    if agent is None:
        raise EngineNotFound(f"agent {agent_id!r} is not registered; register first")
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
