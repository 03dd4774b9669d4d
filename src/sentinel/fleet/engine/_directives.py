"""Policy, lifecycle transitions and quarantine directives."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine._common import (
    ENGINE,
    identifier,
    invalid,
    known_gpu,
    stamp,
)
from sentinel.fleet.engine._tx import Batch, dumps
from sentinel.fleet.engine.correlation import Finding, Signal
from sentinel.fleet.engine.enums import Action, GpuState, Pattern
from sentinel.fleet.engine.lifecycle import (
    IllegalTransition,
    PolicyInput,
    directive_target,
    policy_target,
)
from sentinel.fleet.engine.state import Gpu
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine

_PASS, _FAIL = types_pb2.PROBE_RESULT_PASS, types_pb2.PROBE_RESULT_FAIL
_ALL_PROBE_TYPES = sum(1 << t for t in range(1, 8))
_SAMPLE_EVERY_US = 600 * 1_000_000
_SAMPLE_DELTA = 0.001
_DEEP_TEST_WAITS = "its deep test waits until the environment is back within limits"

# Which directive a policy transition sends to the GPU's agent.
_POLICY_ACTIONS = {
    GpuState.QUARANTINED: Action.QUARANTINE,
    GpuState.DEEP_TEST: Action.SCHEDULE_DEEP_TEST,
    GpuState.CONDEMNED: Action.CONDEMN,
}


def signal(eng: FleetEngine, b: Batch, signal: Signal) -> None:
    record_findings(eng, b, eng.correlator.observe(signal), signal.ts)


def record_findings(eng: FleetEngine, b: Batch, findings: Iterable[Finding], ts: float) -> None:
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
            b.stage(g)
            g.sm_disabled.setdefault(f.sm_id, f"masked after SM_LOCALIZED finding {event_id}")
            b.touch(g, sm=True)
        b.after_commit.append(functools.partial(eng.emit, "correlation", row))


def evaluate(eng: FleetEngine, b: Batch, g: Gpu, ts: float) -> None:
    """Apply the lifecycle policy to ``g`` after new evidence.

    A GPU whose surroundings are out of limits (heat, throttling) is not judged by a deep
    test: its quarantine waits for the environment to come back within limits, and a deep
    test that fails meanwhile sends it back to QUARANTINED instead of towards CONDEMN.
    """
    p = eng.policy
    environment = eng.correlator.environment_out_of_limits(g.uuid)
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
            if environment is not None:
                _void_deep_test(eng, b, g, environment)
                return
            directive = _new_directive(
                g,
                Action.CONDEMN,
                "deep test failed",
                ENGINE,
                [],
                p.condemn_requires_approval,
                b.now,
            )
            _dispatch(eng, b, g, directive)
        return
    if g.state == GpuState.QUARANTINED:
        draining = b.now_us - g.state_changed_us < p.deep_test_delay_seconds * 1e6
        if draining or environment is not None:
            return
    target = policy_target(inp, p)
    if target is None:
        return
    new_state, reason = target
    if new_state == GpuState.QUARANTINED and environment is not None:
        reason += f"; environmental: {environment}"
        reason += f"; {_DEEP_TEST_WAITS}" if p.auto_deep_test else ""
    action = _POLICY_ACTIONS.get(GpuState(new_state))
    if action is None and new_state == GpuState.HEALTHY and g.state == GpuState.DEEP_TEST:
        action = Action.REINSTATE
    if action is None:
        transition(eng, b, g, new_state, reason, ENGINE, None)
        return
    directive = _new_directive(g, action, reason, ENGINE, [], False, b.now)
    _dispatch(eng, b, g, directive)


def _void_deep_test(eng: FleetEngine, b: Batch, g: Gpu, environment: str) -> None:
    """Back to QUARANTINED: a deep test failed outside the GPU's environmental limits."""
    reason = (
        f"environmental: {environment}; the deep test failed outside the environmental "
        f"limits and does not count: {_DEEP_TEST_WAITS}"
    )
    directive = _new_directive(g, Action.QUARANTINE, reason, ENGINE, [], False, b.now)
    _dispatch(eng, b, g, directive, GpuState.QUARANTINED)


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
    b.stage(g)
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
    sample(b, g, force=True)
    b.touch(g)
    if GpuState.SUSPECT in (old_state, new_state):  # the agent watches SUSPECT GPUs
        change = agent_pb2.GpuStateChange(
            gpu=identifier(g),
            state=new_state,  # type: ignore[arg-type]
            reason=reason,
        )
        b.after_commit.append(lambda: eng.emit("state", change))


def sample(b: Batch, g: Gpu, force: bool = False) -> None:
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
        timestamp=stamp(now),
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


def _dispatch(
    eng: FleetEngine,
    b: Batch,
    g: Gpu,
    d: types_pb2.QuarantineDirective,
    target: int | None = None,
) -> str:
    """Apply ``d`` now or park it for approval; returns the status it ends in.

    ``target`` is for the engine's own moves that no directive from people may make
    (DEEP_TEST back to QUARANTINED); otherwise the lifecycle rules give the target.
    """
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
    if target is None:
        target = directive_target(g.state, d.action)
    transition(eng, b, g, target, d.reason, d.initiated_by, d)
    b.directives[d.directive_id] = _directive_row(d, "applied")
    b.after_commit.append(lambda: eng.emit("directive", d))
    return "applied"


def issue_directive(
    eng: FleetEngine, b: Batch, req: Any, identity: str
) -> types_pb2.DirectiveResponse:
    g = known_gpu(eng, req.gpu_uuid)
    if req.action not in (1, 2, 3, 4):
        raise invalid(
            "action must be one of QUARANTINE, REINSTATE, CONDEMN, SCHEDULE_DEEP_TEST; "
            f"got {req.action}"
        )
    if not req.reason.strip():
        raise invalid("reason must not be empty: say why the GPU's state should change")
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
    g = known_gpu(eng, d.gpu.uuid)
    d.gpu.CopyFrom(identifier(g))  # deliver to the host the GPU is on now
    d.approval.CopyFrom(
        types_pb2.ApprovalStatus(
            approved=approve, reviewer=reviewer, review_time=stamp(b.now), comment=comment
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


def directive_from_row(r: Any, gpu: Gpu | None = None) -> types_pb2.QuarantineDirective:
    """A stored directive as a message; ``gpu`` (the GPU's current state) completes its
    identifier with the host, device index and versions an agent matches on."""
    d = types_pb2.QuarantineDirective(
        directive_id=r["directive_id"],
        gpu=identifier(gpu) if gpu is not None else types_pb2.GpuIdentifier(uuid=r["gpu_uuid"]),
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
