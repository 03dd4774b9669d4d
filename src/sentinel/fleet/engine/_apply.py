"""The engine's operations, run on its writer thread against one ``Batch``.

Each function validates first and mutates after, so an operation that raises has
changed nothing; what it changes is written by the batch in one transaction together
with its audit entries.
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine, text

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType, Ledger
from sentinel.fleet.engine._tx import Batch, dumps
from sentinel.fleet.engine.correlation import Finding, Signal
from sentinel.fleet.engine.enums import Action, GpuState, Pattern
from sentinel.fleet.engine.lifecycle import (
    IllegalTransition,
    PolicyInput,
    directive_target,
    policy_target,
)
from sentinel.fleet.engine.rates import WindowCounter
from sentinel.fleet.engine.reliability import BetaReliability
from sentinel.fleet.engine.state import GPU_UUID_FORMAT, GPU_UUID_RE, Agent, Gpu, sm_array
from sentinel.fleet.engine.trust import Edge, tmr_vote
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine

_PASS, _FAIL = types_pb2.PROBE_RESULT_PASS, types_pb2.PROBE_RESULT_FAIL
_ALL_PROBE_TYPES = sum(1 << t for t in range(1, 8))
_SEEN_LIMIT = 200_000
_SM_CHECKPOINT_US = 300 * 1_000_000
_SAMPLE_EVERY_US = 600 * 1_000_000
_SAMPLE_DELTA = 0.001
_ENGINE = "sentinel-engine"

# Which directive a policy transition sends to the GPU's agent.
_POLICY_ACTIONS = {
    GpuState.QUARANTINED: Action.QUARANTINE,
    GpuState.DEEP_TEST: Action.SCHEDULE_DEEP_TEST,
    GpuState.CONDEMNED: Action.CONDEMN,
}


def check_gpu_uuid(value: str) -> None:
    """Refuse anything that is not an NVIDIA GPU UUID, naming the expected format."""
    if not GPU_UUID_RE.match(value):
        from sentinel.fleet.engine.engine import EngineValidationError

        raise EngineValidationError(f"malformed GPU UUID {value!r}: expected {GPU_UUID_FORMAT}")


def _gpu(eng: FleetEngine, gpu_uuid: str) -> Gpu:
    from sentinel.fleet.engine.engine import EngineNotFound

    check_gpu_uuid(gpu_uuid)
    gpu = eng.state.gpus.get(gpu_uuid)
    if gpu is None:
        raise EngineNotFound(f"GPU {gpu_uuid} not found")
    return gpu


def _invalid(msg: str) -> Exception:
    from sentinel.fleet.engine.engine import EngineValidationError

    return EngineValidationError(msg)


def _ts(stamp: Any, now: float) -> float:
    """A report's timestamp in epoch seconds; unset or in the future means now."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return now
    return min(stamp.seconds + stamp.nanos / 1e9, now)


def identifier(g: Gpu) -> types_pb2.GpuIdentifier:
    return types_pb2.GpuIdentifier(
        uuid=g.uuid,
        hostname=g.hostname,
        device_index=g.device_index,
        model=g.model,
        driver_version=g.driver_version,
        firmware_version=g.firmware_version,
    )


def _stamp(ts: float) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromMicroseconds(int(ts * 1e6))
    return t


# -- system events and registration --------------------------------------------------


def system_event(eng: FleetEngine, b: Batch, kind: str, detail: str, by: str = _ENGINE) -> None:
    ev = types_pb2.SystemEvent(kind=kind, detail=detail, initiated_by=by, timestamp=_stamp(b.now))
    b.audit(EntryType.SYSTEM_EVENT, None, ev.SerializeToString())


def register_agent(
    eng: FleetEngine, b: Batch, req: agent_pb2.RegisterAgentRequest
) -> agent_pb2.RegisterAgentResponse:
    if not req.hostname.strip():
        raise _invalid("hostname must not be empty")
    seen: set[str] = set()
    for reg in req.gpus:
        check_gpu_uuid(reg.gpu.uuid)
        if reg.gpu.uuid in seen:
            raise _invalid(f"GPU {reg.gpu.uuid} is listed twice")
        seen.add(reg.gpu.uuid)
        if not 0 < reg.sm_count <= 4096:
            raise _invalid(f"GPU {reg.gpu.uuid}: sm_count must be in 1..4096, got {reg.sm_count}")
    agent_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, req.hostname))
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
            state.add(g)
            _sample(b, g, force=True)
        else:
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
    agent.agent_version, agent.last_heartbeat_us = req.agent_version, now_us
    b.agents[agent_id] = agent
    system_event(
        eng, b, "agent_registered", f"host {req.hostname} registered {len(req.gpus)} GPUs", agent_id
    )
    return agent_pb2.RegisterAgentResponse(
        agent_id=agent_id, config=eng.config, heartbeat_interval_seconds=15
    )


# -- reports ----------------------------------------------------------------------------


def _remember(eng: FleetEngine, report_id: str) -> None:
    seen = eng.seen_reports
    seen[report_id] = None
    if len(seen) > _SEEN_LIMIT:
        seen.popitem(last=False)


def probe_results(
    eng: FleetEngine, b: Batch, reports: Sequence[agent_pb2.ProbeReport]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    gpus, seen, p = eng.state.gpus, eng.seen_reports, eng.policy
    now = b.now
    for r in reports:
        rid = r.report_id
        if not rid:
            ack.rejected.append("(no report_id): report_id is required")
            continue
        if rid in seen:
            ack.duplicates += 1
            continue
        g = gpus.get(r.gpu_uuid)
        if g is None:
            ack.rejected.append(f"{rid}: unknown GPU {r.gpu_uuid!r}; register it first")
            continue
        if not 1 <= r.probe_type <= 7 or not 1 <= r.result <= 4:
            ack.rejected.append(f"{rid}: probe_type must be 1..7 and result 1..4")
            continue
        ts = _ts(r.timestamp, now)
        old = g.rel.score
        _decay_sm(g, ts, p)
        failed_sms: list[int] = []
        sm_passes = 0
        if r.sm_outcomes:
            outcomes = np.frombuffer(r.sm_outcomes, dtype=np.uint8)[: g.sm_count]
            n = len(outcomes)
            passes = outcomes == _PASS
            fails = outcomes == _FAIL
            sm = g.sm
            sm[0, :n] += passes
            sm[1, :n] += fails
            sm[2, :n] += passes
            sm[3, :n] += fails
            sm_passes = int(passes.sum())
            if fails.any():
                failed_sms = [int(i) for i in np.flatnonzero(fails)]
            g.sm_dirty = True
        deep = r.deep_test and g.state == GpuState.DEEP_TEST
        if r.result == _PASS:
            # A deep test checks every SM on its own: each SM that passed is one trial.
            g.rel.observe(max(sm_passes, 1) if deep else 1, 0, ts, p)
            g.probe_pass_count += 1
        elif r.result == _FAIL:
            g.rel.observe(0, 1, ts, p)
            g.probe_fail_count += 1
            g.fail_window.add(ts)
            eng.state.record_event(g, ts)
        if deep:
            g.deep_test_types |= 1 << r.probe_type
            g.deep_test_failed |= r.result == _FAIL
            g.passes_since_deep_test += max(sm_passes, 1) if r.result == _PASS else 0
        g.last_probe_us = max(g.last_probe_us, int(ts * 1e6))
        eng.state.rescore(g, old)
        b.audit(EntryType.PROBE_RESULT, g.uuid, r.SerializeToString(), ts)
        _remember(eng, rid)
        ack.accepted += 1
        if r.result == _FAIL:
            attributed: list[int | None] = list(failed_sms) or [None]
            for sm_id in attributed:
                _signal(eng, b, Signal(rid, g.uuid, ts, "probe_fail", sm_id=sm_id, detail=r.detail))
        evaluate(eng, b, g, ts)
        _sample(b, g)
        checkpoint = bool(failed_sms) or (
            g.sm_dirty and b.now_us - g.sm_persisted_us > _SM_CHECKPOINT_US
        )
        b.touch(g, sm=checkpoint)
    b.reports += ack.accepted
    return ack


def _decay_sm(g: Gpu, ts: float, p: Any) -> None:
    elapsed = ts - g.rel.updated_at
    if elapsed <= 60:
        return
    keep = 0.5 ** (elapsed / (p.half_life_hours * 3600.0))
    g.sm[0] = p.prior_alpha + (g.sm[0] - p.prior_alpha) * keep
    g.sm[1] = p.prior_beta + (g.sm[1] - p.prior_beta) * keep


def anomalies(
    eng: FleetEngine, b: Batch, reports: Sequence[agent_pb2.AnomalyReport]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    p = eng.policy
    for r in reports:
        rid = r.report_id
        if not rid:
            ack.rejected.append("(no report_id): report_id is required")
            continue
        if rid in eng.seen_reports:
            ack.duplicates += 1
            continue
        g = eng.state.gpus.get(r.gpu_uuid)
        problem = ""
        if g is None:
            problem = f"unknown GPU {r.gpu_uuid!r}; register it first"
        elif not 1 <= r.anomaly_type <= 8:
            problem = f"anomaly_type must be 1..8, got {r.anomaly_type}"
        elif not 1 <= r.source <= 3:
            problem = f"source must be 1..3, got {r.source}"
        elif not 0 <= r.severity <= 4:
            problem = f"severity must be 0..4, got {r.severity}"
        elif r.has_sm and r.sm_id >= g.sm_count:
            problem = f"sm_id {r.sm_id} is outside 0..{g.sm_count - 1}"
        if problem or g is None:
            ack.rejected.append(f"{rid}: {problem}")
            continue
        ts = _ts(r.timestamp, b.now)
        severity = r.severity or types_pb2.SEVERITY_WARNING
        old = g.rel.score
        g.rel.add_anomaly(severity, ts, p)
        if r.has_sm:
            g.sm[1, r.sm_id] += p.anomaly_weight * p.severity_weight(severity)
            g.sm_dirty = True
        g.anomaly_count += 1
        g.last_anomaly_us = max(g.last_anomaly_us, int(ts * 1e6))
        g.anomaly_window.add(ts)
        eng.state.record_event(g, ts)
        eng.state.rescore(g, old)
        b.audit(EntryType.ANOMALY_EVENT, g.uuid, r.SerializeToString(), ts)
        _remember(eng, rid)
        ack.accepted += 1
        sig = Signal(
            rid,
            g.uuid,
            ts,
            "anomaly",
            sm_id=r.sm_id if r.has_sm else None,
            detail=r.detail,
            anomaly_type=r.anomaly_type,
            severity=severity,
        )
        _signal(eng, b, sig)
        evaluate(eng, b, g, ts)
        _sample(b, g)
        b.touch(g, sm=r.has_sm)
    b.reports += ack.accepted
    return ack


def telemetry(
    eng: FleetEngine, b: Batch, samples: Sequence[agent_pb2.GpuTelemetry]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    for s in samples:
        if s.gpu_uuid not in eng.state.gpus:
            ack.rejected.append(f"{s.gpu_uuid}: unknown GPU; register it first")
            continue
        if not all(math.isfinite(v) for v in (s.temperature_c, s.power_w)):
            ack.rejected.append(f"{s.gpu_uuid}: temperature and power must be finite")
            continue
        ts = _ts(s.timestamp, b.now)
        event_id = uuid7()
        b.telemetry.append(
            {
                "gpu_uuid": s.gpu_uuid,
                "ts_us": int(ts * 1e6),
                "temperature_c": s.temperature_c,
                "power_w": s.power_w,
                "sm_clock_mhz": s.sm_clock_mhz,
                "mem_clock_mhz": s.mem_clock_mhz,
                "throttle_reasons": s.throttle_reasons,
                "ecc_single_bit": s.ecc_single_bit,
                "ecc_double_bit": s.ecc_double_bit,
                "retired_rows": s.retired_rows,
                "remapped_rows": s.remapped_rows,
                "xid_events": dumps(list(s.xid_events)),
            }
        )
        findings = eng.correlator.observe_telemetry(
            s.gpu_uuid,
            ts,
            s.temperature_c,
            s.power_w,
            s.throttle_reasons,
            s.ecc_single_bit,
            s.ecc_double_bit,
            list(s.xid_events),
            event_id,
        )
        _record_findings(eng, b, findings, ts)
        ack.accepted += 1
    return ack


# -- correlation, policy, lifecycle ----------------------------------------------------


def _signal(eng: FleetEngine, b: Batch, signal: Signal) -> None:
    _record_findings(eng, b, eng.correlator.observe(signal), signal.ts)


def _record_findings(eng: FleetEngine, b: Batch, findings: Iterable[Finding], ts: float) -> None:
    for f in findings:
        event_id = uuid7()
        row = {
            "event_id": event_id,
            "gpu_uuid": f.gpu_uuid,
            "sm_id": f.sm_id,
            "pattern": int(f.pattern),
            "confidence": f.confidence,
            "severity": int(f.severity),
            "description": f.description,
            "recommended_action": f.recommended_action,
            "events": dumps(list(f.events)),
            "ts_us": int(ts * 1e6),
        }
        b.correlations.append(row)
        g = eng.state.gpus.get(f.gpu_uuid or "")
        if g is not None and f.pattern == Pattern.SM_LOCALIZED and f.sm_id is not None:
            g.sm_disabled.setdefault(f.sm_id, f"masked after SM_LOCALIZED finding {event_id}")
            b.touch(g, sm=True)
        b.after_commit.append(functools.partial(eng.emit, "correlation", row))


def evaluate(eng: FleetEngine, b: Batch, g: Gpu, ts: float) -> None:
    """Apply the lifecycle policy to ``g`` after new evidence."""
    p = eng.policy
    inp = PolicyInput(
        state=g.state,
        score=g.rel.score,
        failures_in_window=g.fail_window.count(ts),
        passes_since_deep_test=g.passes_since_deep_test,
        deep_test_failed=g.deep_test_failed,
        deep_test_complete=g.deep_test_types & _ALL_PROBE_TYPES == _ALL_PROBE_TYPES,
    )
    if g.state == GpuState.DEEP_TEST and g.deep_test_failed:
        if not any(
            d.gpu.uuid == g.uuid and d.action == Action.CONDEMN for d in eng.pending.values()
        ):
            directive = _new_directive(
                g,
                Action.CONDEMN,
                "deep test failed",
                _ENGINE,
                [],
                p.condemn_requires_approval,
                b.now,
            )
            _dispatch(eng, b, g, directive)
        return
    if (
        g.state == GpuState.QUARANTINED
        and b.now_us - g.state_changed_us < p.deep_test_delay_seconds * 1e6
    ):
        return
    target = policy_target(inp, p)
    if target is None:
        return
    new_state, reason = target
    action = _POLICY_ACTIONS.get(GpuState(new_state))
    if action is None and new_state == GpuState.HEALTHY and g.state == GpuState.DEEP_TEST:
        action = Action.REINSTATE
    if action is None:
        transition(eng, b, g, new_state, reason, _ENGINE, None)
        return
    directive = _new_directive(g, action, reason, _ENGINE, [], False, b.now)
    _dispatch(eng, b, g, directive)


def transition(
    eng: FleetEngine,
    b: Batch,
    g: Gpu,
    new_state: int,
    reason: str,
    by: str,
    directive: types_pb2.QuarantineDirective | None,
) -> None:
    """Move ``g`` to ``new_state``: memory, transitions table, audit entry, sample."""
    old_state = g.state
    eng.state.move(g, new_state)
    g.state_changed_us = b.now_us
    g.state_change_reason = reason
    if new_state == GpuState.DEEP_TEST:
        g.deep_test_types, g.deep_test_failed, g.passes_since_deep_test = 0, False, 0
    b.transitions.append(
        {
            "gpu_uuid": g.uuid,
            "from_state": old_state,
            "to_state": new_state,
            "ts_us": b.now_us,
            "reason": reason,
            "initiated_by": by,
        }
    )
    record = types_pb2.QuarantineRecord(
        status="applied" if directive is not None else "policy",
        from_state=old_state,  # type: ignore[arg-type]
        to_state=new_state,  # type: ignore[arg-type]
    )
    if directive is not None:
        record.directive.CopyFrom(directive)
    b.audit(EntryType.QUARANTINE_ACTION, g.uuid, record.SerializeToString())
    _sample(b, g, force=True)
    b.touch(g)


def _sample(b: Batch, g: Gpu, force: bool = False) -> None:
    score = g.rel.score
    now_us = b.now_us
    if (
        force
        or abs(score - g.last_sample_score) > _SAMPLE_DELTA
        or now_us - g.last_sample_us > _SAMPLE_EVERY_US
    ):
        b.samples.append(
            {
                "gpu_uuid": g.uuid,
                "ts_us": now_us,
                "score": score,
                "alpha": g.rel.alpha,
                "beta": g.rel.beta,
            }
        )
        g.last_sample_us, g.last_sample_score = now_us, score


# -- directives --------------------------------------------------------------------


def _new_directive(
    g: Gpu,
    action: int,
    reason: str,
    by: str,
    evidence: Sequence[str],
    requires_approval: bool,
    now: float,
) -> types_pb2.QuarantineDirective:
    return types_pb2.QuarantineDirective(
        directive_id=uuid7(),
        gpu=identifier(g),
        action=action,  # type: ignore[arg-type]
        reason=reason,
        initiated_by=by,
        evidence=list(evidence),
        timestamp=_stamp(now),
        priority=0 if action in (Action.QUARANTINE, Action.CONDEMN) else 1,
        requires_approval=requires_approval,
    )


def _directive_row(d: types_pb2.QuarantineDirective, status: str) -> dict[str, Any]:
    return {
        "directive_id": d.directive_id,
        "gpu_uuid": d.gpu.uuid,
        "action": int(d.action),
        "reason": d.reason,
        "initiated_by": d.initiated_by,
        "evidence": dumps(list(d.evidence)),
        "ts_us": d.timestamp.ToMicroseconds(),
        "priority": d.priority,
        "requires_approval": d.requires_approval,
        "status": status,
        "reviewer": d.approval.reviewer,
        "review_us": d.approval.review_time.ToMicroseconds() if d.HasField("approval") else 0,
        "comment": d.approval.comment,
    }


def _dispatch(eng: FleetEngine, b: Batch, g: Gpu, d: types_pb2.QuarantineDirective) -> str:
    """Apply ``d`` now or park it for approval; returns the status it ends in."""
    if d.requires_approval and not (d.HasField("approval") and d.approval.approved):
        eng.pending[d.directive_id] = d
        record = types_pb2.QuarantineRecord(
            directive=d,
            status="pending",
            from_state=g.state,  # type: ignore[arg-type]
            to_state=g.state,  # type: ignore[arg-type]
        )
        b.audit(EntryType.QUARANTINE_ACTION, g.uuid, record.SerializeToString())
        b.directives[d.directive_id] = _directive_row(d, "pending")
        b.after_commit.append(lambda: eng.emit("directive", d))
        return "pending"
    target = directive_target(g.state, d.action)
    transition(eng, b, g, target, d.reason, d.initiated_by, d)
    b.directives[d.directive_id] = _directive_row(d, "applied")
    b.after_commit.append(lambda: eng.emit("directive", d))
    return "applied"


def issue_directive(
    eng: FleetEngine, b: Batch, req: Any, identity: str
) -> types_pb2.DirectiveResponse:
    g = _gpu(eng, req.gpu_uuid)
    if req.action not in (1, 2, 3, 4):
        raise _invalid(
            "action must be one of QUARANTINE, REINSTATE, CONDEMN, SCHEDULE_DEEP_TEST; "
            f"got {req.action}"
        )
    if not req.reason.strip():
        raise _invalid("reason must not be empty: say why the GPU's state should change")
    by = req.initiated_by or identity or "sentinel-sdk"
    d = _new_directive(g, req.action, req.reason, by, req.evidence, req.requires_approval, b.now)
    try:
        directive_target(g.state, req.action)
    except IllegalTransition as exc:
        return types_pb2.DirectiveResponse(
            directive_id=d.directive_id,
            accepted=False,
            rejection_reason=exc.reason,
            resulting_state=GpuState(g.state).name,
        )
    _dispatch(eng, b, g, d)
    return types_pb2.DirectiveResponse(
        directive_id=d.directive_id, accepted=True, resulting_state=GpuState(g.state).name
    )


def review_directive(
    eng: FleetEngine, b: Batch, directive_id: str, approve: bool, reviewer: str, comment: str
) -> types_pb2.DirectiveResponse:
    from sentinel.fleet.engine.engine import EngineNotFound

    d = eng.pending.get(directive_id)
    if d is None:
        raise EngineNotFound(
            f"no pending directive {directive_id!r} (unknown, or already reviewed)"
        )
    g = _gpu(eng, d.gpu.uuid)
    d.approval.CopyFrom(
        types_pb2.ApprovalStatus(
            approved=approve, reviewer=reviewer, review_time=_stamp(b.now), comment=comment
        )
    )
    del eng.pending[directive_id]
    resp = types_pb2.DirectiveResponse(directive_id=directive_id)
    if not approve:
        b.directives[directive_id] = _directive_row(d, "rejected")
        record = types_pb2.QuarantineRecord(
            directive=d,
            status="rejected",
            from_state=g.state,  # type: ignore[arg-type]
            to_state=g.state,  # type: ignore[arg-type]
        )
        b.audit(EntryType.QUARANTINE_ACTION, g.uuid, record.SerializeToString())
        resp.accepted = False
        resp.rejection_reason = f"rejected by {reviewer}" + (f": {comment}" if comment else "")
    else:
        try:
            directive_target(g.state, d.action)
        except IllegalTransition as exc:
            b.directives[directive_id] = _directive_row(d, "rejected")
            resp.accepted = False
            resp.rejection_reason = f"approved, but no longer applies: {exc.reason}"
            resp.resulting_state = GpuState(g.state).name
            return resp
        _dispatch(eng, b, g, d)
        resp.accepted = True
    resp.resulting_state = GpuState(g.state).name
    return resp


def directive_from_row(r: Any) -> types_pb2.QuarantineDirective:
    d = types_pb2.QuarantineDirective(
        directive_id=r["directive_id"],
        gpu=types_pb2.GpuIdentifier(uuid=r["gpu_uuid"]),
        action=r["action"],
        reason=r["reason"],
        initiated_by=r["initiated_by"],
        evidence=json.loads(r["evidence"]),
        priority=r["priority"],
        requires_approval=r["requires_approval"],
    )
    d.timestamp.FromMicroseconds(r["ts_us"])
    if r["status"] in ("applied", "rejected") and r["reviewer"]:
        d.approval.approved = r["status"] == "applied"
        d.approval.reviewer = r["reviewer"]
        d.approval.comment = r["comment"]
        d.approval.review_time.FromMicroseconds(r["review_us"])
    return d


# -- configuration ------------------------------------------------------------------


def validate_config_update(u: types_pb2.ConfigUpdate) -> str:
    """Which payload ``u`` carries; raises when it carries none, several or bad values."""
    present = [
        f
        for f in ("probe_schedule", "overhead_budget", "sampling_rate", "threshold")
        if u.HasField(f)
    ]
    if len(present) != 1:
        raise _invalid(
            "a ConfigUpdate must carry exactly one of probe_schedule, overhead_budget, "
            f"sampling_rate, threshold; got {len(present)}"
            + (f" ({', '.join(present)})" if present else "")
        )
    kind = present[0]
    if kind == "probe_schedule":
        entries = u.probe_schedule.entries
        if not entries:
            raise _invalid("probe_schedule must have at least one entry")
        types = set()
        for i, e in enumerate(entries):
            where = f"probe_schedule.entries[{i}]"
            if not 1 <= e.type <= 7:
                raise _invalid(f"{where}.type must be a ProbeType 1..7, got {e.type}")
            if e.type in types:
                raise _invalid(f"{where}: probe type {e.type} appears twice")
            types.add(e.type)
            if e.period_seconds <= 0:
                raise _invalid(f"{where}.period_seconds must be > 0")
            if not 0.0 <= e.sm_coverage <= 1.0 or not math.isfinite(e.sm_coverage):
                raise _invalid(f"{where}.sm_coverage must be in [0, 1], got {e.sm_coverage}")
            if e.timeout_ms <= 0:
                raise _invalid(f"{where}.timeout_ms must be > 0")
    elif kind == "overhead_budget":
        pct = u.overhead_budget.budget_pct
        if not (0.0 < pct <= 100.0):
            raise _invalid(f"overhead_budget.budget_pct must be in (0, 100], got {pct}")
    elif kind == "sampling_rate":
        s = u.sampling_rate
        if not s.component.strip():
            raise _invalid("sampling_rate.component must not be empty")
        if not 0.0 <= s.rate <= 1.0 or not math.isfinite(s.rate):
            raise _invalid(f"sampling_rate.rate must be in [0, 1], got {s.rate}")
    else:
        t = u.threshold
        if not t.component.strip() or not t.parameter.strip():
            raise _invalid("threshold.component and threshold.parameter must not be empty")
        if not math.isfinite(t.value):
            raise _invalid(f"threshold.value must be finite, got {t.value}")
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
                raise _invalid(f"threshold for the engine: {exc}") from exc
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


def ack_config(eng: FleetEngine, b: Batch, ack: types_pb2.ConfigAck, agent_id: str) -> None:
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


# -- TMR -----------------------------------------------------------------------------


def canary_from_row(r: Any) -> dict[str, Any]:
    return {
        "canary_id": r["canary_id"],
        "workload_seed": r["workload_seed"],
        "participants": json.loads(r["participants"]),
        "created_us": r["created_us"],
        "digests": {k: bytes.fromhex(v) for k, v in json.loads(r["digests"]).items()},
        "status": r["status"],
    }


def _canary_row(c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "canary_id": c["canary_id"],
        "workload_seed": c["workload_seed"],
        "participants": dumps(c["participants"]),
        "created_us": c["created_us"],
        "digests": dumps({k: v.hex() for k, v in c["digests"].items()}),
        "status": c["status"],
    }


def edge_from_row(a: str, b: str, r: Any) -> Edge:
    agree, disagree = r["agreement_count"], r["disagreement_count"]
    total = agree + disagree
    return Edge(a, b, agree, disagree, r["last_us"] / 1e6, agree / total if total else 1.0)


def create_canary(eng: FleetEngine, b: Batch, participants: Sequence[str] | None) -> str | None:
    if participants is None:
        cutoff = (b.now - eng.policy.active_agent_timeout_seconds) * 1e6
        live = {a.agent_id for a in eng.state.agents.values() if a.last_heartbeat_us >= cutoff}
        candidates = [
            g.uuid
            for g in eng.state.gpus.values()
            if g.state in (GpuState.HEALTHY, GpuState.SUSPECT) and g.agent_id in live
        ]
        triple = eng.trust.pick_triple(sorted(candidates), eng.rng)
        if triple is None:
            return None
        participants = list(triple)
    if len(set(participants)) != 3:
        raise _invalid("a TMR canary needs three distinct GPUs")
    for u in participants:
        _gpu(eng, u)
    canary: dict[str, Any] = {
        "canary_id": uuid7(),
        "workload_seed": eng.rng.getrandbits(63),
        "participants": list(participants),
        "created_us": b.now_us,
        "digests": {},
        "status": "open",
    }
    eng.canaries[canary["canary_id"]] = canary
    b.canaries[canary["canary_id"]] = _canary_row(canary)
    assignment = agent_pb2.TmrAssignment(
        canary_id=canary["canary_id"],
        workload_seed=canary["workload_seed"],
        participants=[identifier(eng.state.gpus[u]) for u in participants],
    )
    b.after_commit.append(lambda: eng.emit("tmr", assignment))
    return str(canary["canary_id"])


def tmr_results(
    eng: FleetEngine, b: Batch, reports: Sequence[agent_pb2.TmrReport]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    for r in reports:
        if r.report_id and r.report_id in eng.seen_reports:
            ack.duplicates += 1
            continue
        c = eng.canaries.get(r.canary_id)
        problem = ""
        if c is None:
            problem = f"unknown or closed canary {r.canary_id!r}"
        elif r.gpu_uuid not in c["participants"]:
            problem = f"GPU {r.gpu_uuid} is not a participant of canary {r.canary_id}"
        elif r.gpu_uuid in c["digests"]:
            problem = f"GPU {r.gpu_uuid} already reported for canary {r.canary_id}"
        elif not r.digest:
            problem = "digest must not be empty"
        if problem or c is None:
            ack.rejected.append(f"{r.report_id or r.canary_id}: {problem}")
            continue
        c["digests"][r.gpu_uuid] = bytes(r.digest)
        rec = types_pb2.TmrRecord(
            canary_id=r.canary_id, gpu_uuid=r.gpu_uuid, digest=r.digest, verdict="reported"
        )
        b.audit(EntryType.TMR_RESULT, r.gpu_uuid, rec.SerializeToString(), _ts(r.timestamp, b.now))
        if r.report_id:
            _remember(eng, r.report_id)
        ack.accepted += 1
        if len(c["digests"]) == len(c["participants"]):
            _close_canary(eng, b, c)
        b.canaries[c["canary_id"]] = _canary_row(c)
    return ack


def _close_canary(eng: FleetEngine, b: Batch, c: dict[str, Any]) -> None:
    digests: dict[str, bytes] = c["digests"]
    majority, dissent = tmr_vote(digests, eng.policy.tmr_quorum)
    members = sorted(digests)
    for i, a in enumerate(members):
        for other in members[i + 1 :]:
            eng.trust.record(a, other, digests[a] == digests[other], b.now)
            key = (a, other) if a < other else (other, a)
            e = eng.trust.edge(a, other)
            assert e is not None  # recorded just above
            b.trust_edges[key] = {
                "gpu_a": key[0],
                "gpu_b": key[1],
                "agreement_count": e.agreement_count,
                "disagreement_count": e.disagreement_count,
                "last_us": b.now_us,
            }
    c["status"] = "closed"
    eng.canaries.pop(c["canary_id"], None)
    if majority is None:
        system_event(
            eng, b, "tmr_inconclusive", f"canary {c['canary_id']}: no digest reached quorum"
        )
        return
    for u in dissent:
        g = eng.state.gpus[u]
        rec = types_pb2.TmrRecord(
            canary_id=c["canary_id"],
            gpu_uuid=u,
            digest=digests[u],
            verdict="dissent",
            majority_digest=majority,
        )
        b.audit(EntryType.TMR_RESULT, u, rec.SerializeToString())
        old = g.rel.score
        g.rel.observe(0, 1, b.now, eng.policy)
        eng.state.rescore(g, old)
        _signal(eng, b, Signal(c["canary_id"], u, b.now, "tmr_dissent", detail="outvoted 2-of-3"))
        evaluate(eng, b, g, b.now)
        _sample(b, g)
        b.touch(g)


# -- start-up helpers ----------------------------------------------------------------


def load_disabled(raw: str) -> dict[int, str]:
    return {int(k): v for k, v in json.loads(raw or "{}").items()}


def recent_report_ids(db: Engine, ledger: Ledger, window: int = 100_000) -> list[str]:
    """Report ids of the newest ledger entries, so a restarted engine still drops duplicates."""
    head, _ = ledger.head()
    parsers: dict[int, Any] = {
        EntryType.PROBE_RESULT: agent_pb2.ProbeReport,
        EntryType.ANOMALY_EVENT: agent_pb2.AnomalyReport,
    }
    out: list[str] = []
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT entry_type, data FROM ledger_entries WHERE entry_id > :lo "
                "AND entry_type IN (1, 2) ORDER BY entry_id"
            ),
            {"lo": max(head - window, 0)},
        )
        for entry_type, data in rows:
            try:
                out.append(parsers[entry_type].FromString(data).report_id)
            except Exception:  # an unparsable entry is verify's business, not start-up's
                continue
    return out


def tick(eng: FleetEngine, b: Batch) -> None:
    """Time-driven policy: automatic deep tests, TMR canary scheduling and expiry."""
    for quarantined in list(eng.state.by_state.get(GpuState.QUARANTINED, ())):
        evaluate(eng, b, eng.state.gpus[quarantined], b.now)
    period_us = eng.policy.tmr_period_seconds * 1e6
    for c in list(eng.canaries.values()):
        if b.now_us - c["created_us"] > 2 * period_us:
            c["status"] = "expired"
            eng.canaries.pop(c["canary_id"])
            b.canaries[c["canary_id"]] = _canary_row(c)
            missing = sorted(set(c["participants"]) - set(c["digests"]))
            system_event(
                eng, b, "tmr_expired", f"canary {c['canary_id']}: no result from {missing}"
            )
    if b.now - eng.last_canary >= eng.policy.tmr_period_seconds:
        eng.last_canary = b.now
        create_canary(eng, b, None)
