"""Agent reports: probe results, anomalies and telemetry applied to the fleet state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine import _dedup
from sentinel.fleet.engine._common import (
    check_finite,
    check_int,
    check_text,
    invalid,
    report_time,
)
from sentinel.fleet.engine._directives import evaluate, record_findings, sample, signal
from sentinel.fleet.engine._tx import Batch, dumps
from sentinel.fleet.engine.correlation import Signal
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.state import Gpu
from sentinel.fleet.limits import MAX_INT32
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine

_PASS, _FAIL = types_pb2.PROBE_RESULT_PASS, types_pb2.PROBE_RESULT_FAIL
_SM_CHECKPOINT_US = 300 * 1_000_000


def is_new(eng: FleetEngine, b: Batch, ack: agent_pb2.ReportAck, report_id: str) -> bool:
    """Whether to apply a report: refuses one without an id, counts a duplicate."""
    if not report_id:
        ack.rejected.append("(no report_id): report_id is required")
        return False
    if _dedup.seen(eng, b, report_id):
        ack.duplicates += 1
        return False
    return True


def probe_results(
    eng: FleetEngine, b: Batch, reports: Sequence[agent_pb2.ProbeReport]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    gpus, p = eng.state.gpus, eng.policy
    now = b.now
    for r in reports:
        rid = r.report_id
        if not is_new(eng, b, ack, rid):
            continue
        try:
            g, ts = _check_probe(gpus, r, now)
        except ValueError as exc:
            ack.rejected.append(f"{rid}: {exc}")
            continue
        b.stage(g)
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
        _dedup.remember(eng, b, rid)
        ack.accepted += 1
        if r.result == _FAIL:
            attributed: list[int | None] = list(failed_sms) or [None]
            for sm_id in attributed:
                signal(eng, b, Signal(rid, g.uuid, ts, "probe_fail", sm_id=sm_id, detail=r.detail))
        evaluate(eng, b, g, ts)
        sample(b, g)
        checkpoint = bool(failed_sms) or (
            g.sm_dirty and b.now_us - g.sm_persisted_us > _SM_CHECKPOINT_US
        )
        b.touch(g, sm=checkpoint)
    b.reports += ack.accepted
    return ack


def _check_probe(gpus: dict[str, Gpu], r: agent_pb2.ProbeReport, now: float) -> tuple[Gpu, float]:
    """The report's GPU and time; raises before anything changes when a field is bad."""
    g = gpus.get(r.gpu_uuid)
    if g is None:
        raise invalid(f"unknown GPU {r.gpu_uuid!r}; register it first")
    if not 1 <= r.probe_type <= 7 or not 1 <= r.result <= 4:
        raise invalid("probe_type must be 1..7 and result 1..4")
    check_text("report_id", r.report_id)
    check_text("detail", r.detail)
    for i, d in enumerate(r.sm_details):
        if "\x00" in d.detail:  # the field's name is formatted only when it is refused
            check_text(f"sm_details[{i}].detail", d.detail)
    return g, report_time(r.timestamp, now)


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
        if not is_new(eng, b, ack, rid):
            continue
        try:
            g, ts = _check_anomaly(eng.state.gpus, r, b.now)
        except ValueError as exc:
            ack.rejected.append(f"{rid}: {exc}")
            continue
        b.stage(g)
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
        _dedup.remember(eng, b, rid)
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
        signal(eng, b, sig)
        evaluate(eng, b, g, ts)
        sample(b, g)
        b.touch(g, sm=r.has_sm)
    b.reports += ack.accepted
    return ack


def _check_anomaly(
    gpus: dict[str, Gpu], r: agent_pb2.AnomalyReport, now: float
) -> tuple[Gpu, float]:
    g = gpus.get(r.gpu_uuid)
    if g is None:
        raise invalid(f"unknown GPU {r.gpu_uuid!r}; register it first")
    if not 1 <= r.anomaly_type <= 8:
        raise invalid(f"anomaly_type must be 1..8, got {r.anomaly_type}")
    if not 1 <= r.source <= 3:
        raise invalid(f"source must be 1..3, got {r.source}")
    if not 0 <= r.severity <= 4:
        raise invalid(f"severity must be 0..4, got {r.severity}")
    if r.has_sm and r.sm_id >= g.sm_count:
        raise invalid(f"sm_id {r.sm_id} is outside 0..{g.sm_count - 1}")
    check_finite("score", r.score)
    check_finite("threshold", r.threshold)
    check_text("report_id", r.report_id)
    check_text("detail", r.detail)
    return g, report_time(r.timestamp, now)


def _check_telemetry(eng: FleetEngine, s: agent_pb2.GpuTelemetry, now: float) -> float:
    if s.gpu_uuid not in eng.state.gpus:
        raise invalid("unknown GPU; register it first")
    check_finite("temperature_c", s.temperature_c)
    check_finite("power_w", s.power_w)
    for name in ("throttle_reasons", "ecc_single_bit", "ecc_double_bit"):
        check_int(name, getattr(s, name))
    for name in ("sm_clock_mhz", "mem_clock_mhz", "retired_rows", "remapped_rows"):
        check_int(name, getattr(s, name), MAX_INT32)
    return report_time(s.timestamp, now)


def telemetry(
    eng: FleetEngine, b: Batch, samples: Sequence[agent_pb2.GpuTelemetry]
) -> agent_pb2.ReportAck:
    ack = agent_pb2.ReportAck()
    for s in samples:
        try:
            ts = _check_telemetry(eng, s, b.now)
        except ValueError as exc:
            ack.rejected.append(f"{s.gpu_uuid}: {exc}")
            continue
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
        record_findings(eng, b, findings, ts)
        ack.accepted += 1
    return ack
