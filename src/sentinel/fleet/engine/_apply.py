"""Engine operations that are not reports, directives, config or TMR: registration, the
time-driven tick, and what start-up needs.

Each operation validates first and mutates after, so one that raises has changed nothing;
what it changes is written by the batch in one transaction with its audit entries.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sentinel.fleet.engine import _directives, _tmr
from sentinel.fleet.engine._common import (
    check_gpu_uuid,
    check_int,
    check_text,
    invalid,
    system_event,
)
from sentinel.fleet.engine._tx import Batch
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.rates import WindowCounter
from sentinel.fleet.engine.reliability import BetaReliability
from sentinel.fleet.engine.state import Agent, Gpu, agent_id_of, sm_array
from sentinel.fleet.limits import MAX_INT32
from sentinel.v1 import agent_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


def register_agent(
    eng: FleetEngine, b: Batch, req: agent_pb2.RegisterAgentRequest
) -> agent_pb2.RegisterAgentResponse:
    if not req.hostname.strip():
        raise invalid("hostname must not be empty")
    check_text("hostname", req.hostname)
    check_text("agent_version", req.agent_version)
    seen: set[str] = set()
    for reg in req.gpus:
        check_gpu_uuid(reg.gpu.uuid)
        for name in ("model", "driver_version", "firmware_version"):
            check_text(f"GPU {reg.gpu.uuid}: {name}", getattr(reg.gpu, name))
        check_int(f"GPU {reg.gpu.uuid}: device_index", reg.gpu.device_index, MAX_INT32)
        if reg.gpu.uuid in seen:
            raise invalid(f"GPU {reg.gpu.uuid} is listed twice")
        seen.add(reg.gpu.uuid)
        if not 0 < reg.sm_count <= 4096:
            raise invalid(f"GPU {reg.gpu.uuid}: sm_count must be in 1..4096, got {reg.sm_count}")
    agent_id = agent_id_of(req.hostname)
    now_us = b.now_us
    state, p = eng.state, eng.policy
    for reg in req.gpus:
        ident = reg.gpu
        g = state.gpus.get(ident.uuid)
        if g is None:
            g = Gpu(
                uuid=ident.uuid,
                hostname=req.hostname,
                device_index=ident.device_index,
                model=ident.model,
                driver_version=ident.driver_version,
                firmware_version=ident.firmware_version,
                sm_count=reg.sm_count,
                state=GpuState.HEALTHY,
                state_changed_us=now_us,
                state_change_reason="registered",
                rel=BetaReliability.prior(p, b.now),
                sm=sm_array(b"", reg.sm_count, p),
                fail_window=WindowCounter(p.rate_window_seconds),
                anomaly_window=WindowCounter(p.rate_window_seconds),
                agent_id=agent_id,
                registered_us=now_us,
            )
            b.stage(g)
            state.add(g)
            _directives.sample(b, g, force=True)
        else:
            b.stage(g)
            if (g.hostname, g.driver_version, g.firmware_version) != (
                req.hostname,
                ident.driver_version,
                ident.firmware_version,
            ):
                state.reidentify(g, req.hostname, ident.driver_version, ident.firmware_version)
            g.model, g.device_index, g.agent_id = ident.model, ident.device_index, agent_id
        b.touch(g, sm=not g.persisted)
    agent = state.agents.get(agent_id)
    if agent is None:
        agent = Agent(agent_id, req.hostname, req.agent_version, now_us, now_us)
        state.agents[agent_id] = agent
    b.stage_agent(agent)
    agent.agent_version, agent.last_heartbeat_us = req.agent_version, now_us
    b.agents[agent_id] = agent
    system_event(
        eng, b, "agent_registered", f"host {req.hostname} registered {len(req.gpus)} GPUs", agent_id
    )
    return agent_pb2.RegisterAgentResponse(
        agent_id=agent_id, config=eng.config, heartbeat_interval_seconds=15
    )


def load_disabled(raw: str) -> dict[int, str]:
    return {int(k): v for k, v in json.loads(raw or "{}").items()}


def tick(eng: FleetEngine, b: Batch) -> None:
    """Time-driven policy: automatic deep tests, TMR canary scheduling and expiry."""
    for quarantined in list(eng.state.by_state.get(GpuState.QUARANTINED, ())):
        _directives.evaluate(eng, b, eng.state.gpus[quarantined], b.now)
    period_us = eng.policy.tmr_period_seconds * 1e6
    for c in list(eng.canaries.values()):
        if b.now_us - c["created_us"] > 2 * period_us:
            c["status"] = "expired"
            eng.canaries.pop(c["canary_id"])
            b.canaries[c["canary_id"]] = _tmr._canary_row(c)
            missing = sorted(set(c["participants"]) - set(c["digests"]))
            system_event(
                eng, b, "tmr_expired", f"canary {c['canary_id']}: no result from {missing}"
            )
    if b.now - eng.last_canary >= eng.policy.tmr_period_seconds:
        eng.last_canary = b.now
        _tmr.create_canary(eng, b, None)
