"""TMR canaries: three GPUs run one fixed-seed workload, the engine votes on the digests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sentinel.core.ids import uuid7
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine import _dedup
from sentinel.fleet.engine._common import (
    check_text,
    identifier,
    invalid,
    known_gpu,
    report_time,
    system_event,
)
from sentinel.fleet.engine._directives import evaluate, sample, signal
from sentinel.fleet.engine._tx import Batch, dumps
from sentinel.fleet.engine.correlation import Signal
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.trust import Edge, tmr_vote
from sentinel.v1 import agent_pb2, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


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
        raise invalid("a TMR canary needs three distinct GPUs")
    for u in participants:
        known_gpu(eng, u)
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
        if r.report_id and _dedup.seen(eng, b, r.report_id):
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
        if not problem:
            try:
                check_text("report_id", r.report_id)
                check_text("canary_id", r.canary_id)
                ts = report_time(r.timestamp, b.now)
            except ValueError as exc:
                problem = str(exc)
        if problem or c is None:
            ack.rejected.append(f"{r.report_id or r.canary_id}: {problem}")
            continue
        c["digests"][r.gpu_uuid] = bytes(r.digest)
        rec = types_pb2.TmrRecord(
            canary_id=r.canary_id, gpu_uuid=r.gpu_uuid, digest=r.digest, verdict="reported"
        )
        b.audit(EntryType.TMR_RESULT, r.gpu_uuid, rec.SerializeToString(), ts)
        if r.report_id:
            _dedup.remember(eng, b, r.report_id)
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
        b.stage(g)
        old = g.rel.score
        g.rel.observe(0, 1, b.now, eng.policy)
        eng.state.rescore(g, old)
        signal(eng, b, Signal(c["canary_id"], u, b.now, "tmr_dissent", detail="outvoted 2-of-3"))
        evaluate(eng, b, g, b.now)
        sample(b, g)
        b.touch(g)
