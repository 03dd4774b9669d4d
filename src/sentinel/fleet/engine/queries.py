"""Read side of the engine: answers for the fleet API, as ``sentinel.v1`` messages.

Current health comes from memory; history, directives and the audit trail from the
database. Inputs are validated here so that every caller (gRPC, REST, CLI) refuses the
same things with the same words.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from sentinel.core.pagination import InvalidPageToken, PageTokenCodec
from sentinel.fleet.engine._common import identifier, queried_gpu
from sentinel.fleet.engine._directives import directive_from_row
from sentinel.fleet.engine.engine import EngineNotFound, EngineValidationError, FleetEngine
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.state import Gpu
from sentinel.fleet.engine.store import (
    ConfigRow,
    CorrelationRow,
    DirectiveRow,
    ReliabilitySampleRow,
    TransitionRow,
)
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

_MAX_LIMIT = 10_000


def _stamp_us(msg: Any, us: int) -> None:
    if us:
        msg.FromMicroseconds(us)


def _states(values: Sequence[int]) -> set[int]:
    out = set()
    for v in values:
        if v not in {int(s) for s in GpuState}:
            raise EngineValidationError(f"state_filter: {v} is not a GpuHealthState (1..5)")
        out.add(int(v))
    return out


def _limit(limit: int, default: int) -> int:
    if limit == 0:
        return default
    if not 1 <= limit <= _MAX_LIMIT:
        raise EngineValidationError(f"limit must be in 1..{_MAX_LIMIT}, got {limit}")
    return limit


def _codec(eng: FleetEngine) -> PageTokenCodec:
    return eng.page_tokens


def _decode(eng: FleetEngine, scope: str, token: str) -> dict[str, Any]:
    try:
        return _codec(eng).decode(scope, token)
    except InvalidPageToken as exc:
        raise EngineValidationError(f"invalid page_token: {exc}") from exc


def gpu_health(eng: FleetEngine, gpu_uuid: str, *, with_sm: bool = True) -> types_pb2.GpuHealth:
    """Current health of one GPU, with the per-SM breakdown."""
    with eng.state.lock:
        g = queried_gpu(eng, gpu_uuid)
        return _health(eng, g, with_sm)


def _health(eng: FleetEngine, g: Gpu, with_sm: bool) -> types_pb2.GpuHealth:
    now = eng.clock()
    h = types_pb2.GpuHealth(
        gpu=identifier(g),
        state=g.state,  # type: ignore[arg-type]
        reliability_score=g.rel.score,
        alpha=g.rel.alpha,
        beta=g.rel.beta,
        probe_pass_count=g.probe_pass_count,
        probe_fail_count=g.probe_fail_count,
        anomaly_count=g.anomaly_count,
        state_change_reason=g.state_change_reason,
        anomaly_rate=g.anomaly_window.rate_per_hour(now),
        probe_failure_rate=g.fail_window.rate_per_hour(now),
    )
    _stamp_us(h.last_probe_time, g.last_probe_us)
    _stamp_us(h.last_anomaly_time, g.last_anomaly_us)
    _stamp_us(h.state_changed_at, g.state_changed_us)
    if with_sm:
        alpha, beta, passes, fails = g.sm
        scores = alpha / (alpha + beta)
        ident = h.gpu
        for sm_id in range(g.sm_count):
            reason = g.sm_disabled.get(sm_id, "")
            h.sm_health.add(
                sm=types_pb2.SmIdentifier(gpu=ident, sm_id=sm_id),
                reliability_score=float(scores[sm_id]),
                probe_pass_count=int(passes[sm_id]),
                probe_fail_count=int(fails[sm_id]),
                disabled=bool(reason),
                disable_reason=reason,
            )
    return h


def fleet_health(
    eng: FleetEngine, hostname_prefix: str = "", model_filter: str = "", states: Sequence[int] = ()
) -> types_pb2.FleetHealthSummary:
    """Counts by state, SDC rate and mean reliability over the GPUs the filters select.

    Without a model filter this reads the per-state and per-host aggregates; only the
    GPUs of the states left out (or, with a host prefix and a state filter, of the
    matching hosts) are visited, to subtract their events from the window counts.
    """
    wanted = _states(states) or set(GpuState)
    now = eng.clock()
    window = eng.policy.rate_window_seconds
    st = eng.state
    events: float
    with st.lock:
        if model_filter:
            counts, score_sum, events = _scan(st.select(hostname_prefix, model_filter, wanted), now)
        elif hostname_prefix:
            hosts = st.hosts_with_prefix(hostname_prefix)
            counts = {s: sum(st.hosts[h].count.get(s, 0) for h in hosts) for s in wanted}
            score_sum = sum(st.hosts[h].score.get(s, 0.0) for h in hosts for s in wanted)
            if len(wanted) == len(GpuState):
                events = sum(st.host_events[h].count(now) for h in hosts if h in st.host_events)
            else:
                events = _scan(st.select(hostname_prefix, "", wanted), now)[2]
        else:
            counts = {s: st.fleet.count.get(s, 0) for s in wanted}
            score_sum = sum(st.fleet.score.get(s, 0.0) for s in wanted)
            # Sum the events of whichever side of the state filter has fewer GPUs.
            others = {int(s) for s in GpuState} - wanted
            if sum(counts.values()) <= sum(st.fleet.count.get(s, 0) for s in others):
                events = sum(_state_events(st, wanted, now))
            else:
                events = st.events.count(now) - sum(_state_events(st, others, now))
        agents = eng.active_agents()
    total = sum(counts.values())
    hours = window / 3600.0
    summary = types_pb2.FleetHealthSummary(
        total_gpus=total,
        healthy=counts.get(GpuState.HEALTHY, 0),
        suspect=counts.get(GpuState.SUSPECT, 0),
        quarantined=counts.get(GpuState.QUARANTINED, 0),
        deep_test=counts.get(GpuState.DEEP_TEST, 0),
        condemned=counts.get(GpuState.CONDEMNED, 0),
        overall_sdc_rate=max(events, 0.0) / (total * hours) if total else 0.0,
        average_reliability_score=score_sum / total if total else 0.0,
        active_agents=agents,
        rate_window_seconds=int(window),
    )
    summary.snapshot_time.FromMicroseconds(int(now * 1e6))
    return summary


def _state_events(st: Any, states: set[int], now: float) -> Iterator[float]:
    for state in states:
        for u in st.by_state.get(state, ()):
            yield _events(st.gpus[u], now)


def _events(g: Gpu, now: float) -> float:
    return g.fail_window.count(now) + g.anomaly_window.count(now)


def _scan(gpus: Sequence[Gpu], now: float) -> tuple[dict[int, int], float, float]:
    counts: dict[int, int] = {}
    score_sum = events = 0.0
    for g in gpus:
        counts[g.state] = counts.get(g.state, 0) + 1
        score_sum += g.rel.score
        events += _events(g, now)
    return counts, score_sum, events


def list_gpus(
    eng: FleetEngine,
    hostname_prefix: str = "",
    model_filter: str = "",
    states: Sequence[int] = (),
    limit: int = 100,
    page_token: str = "",
) -> fleet_pb2.ListGpusResponse:
    """A page of per-GPU health (no SM breakdown), in UUID order."""
    wanted = _states(states)
    limit = _limit(limit, 100)
    scope = json.dumps(["gpus", hostname_prefix, model_filter, sorted(wanted)])
    after = _decode(eng, scope, page_token)["after"] if page_token else ""
    with eng.state.lock:
        gpus = eng.state.select(hostname_prefix, model_filter, wanted)
        start = bisect.bisect_right(gpus, after, key=lambda g: g.uuid) if after else 0
        page = gpus[start : start + limit]
        resp = fleet_pb2.ListGpusResponse(
            gpus=[_health(eng, g, with_sm=False) for g in page], total_count=len(gpus)
        )
    if start + limit < len(gpus):
        resp.next_page_token = _codec(eng).encode(scope, {"after": page[-1].uuid})
    return resp


def _range(start: Any, end: Any) -> tuple[int, int]:
    """Microsecond bounds of a request's optional Timestamps (unset = open)."""
    lo = start.ToMicroseconds() if start.seconds or start.nanos else 0
    hi = end.ToMicroseconds() if end.seconds or end.nanos else 2**62
    if lo > hi:
        raise EngineValidationError(
            f"start_time ({datetime.fromtimestamp(lo / 1e6, timezone.utc).isoformat()}) is after "
            f"end_time ({datetime.fromtimestamp(hi / 1e6, timezone.utc).isoformat()})"
        )
    return lo, hi


def gpu_history(
    eng: FleetEngine, req: fleet_pb2.GetGpuHistoryRequest
) -> fleet_pb2.GpuHistoryResponse:
    """Transitions, correlations and reliability samples of one GPU, merged in time order.

    A page holds at most ``limit`` items across the three lists; the page token carries
    the (time, kind, id) of the last item returned.
    """
    # Arguments that are wrong whatever the fleet holds are refused before the lookup.
    lo, hi = _range(req.start_time, req.end_time)
    limit = _limit(req.limit, 1000)
    with eng.state.lock:
        g = queried_gpu(eng, req.gpu_uuid)
    scope = json.dumps(["history", g.uuid, lo, hi])
    cursor = (lo, -1, "")
    if req.page_token:
        c = _decode(eng, scope, req.page_token)
        cursor = (int(c["ts"]), int(c["kind"]), str(c["id"]))
    items: list[tuple[int, int, str, Any]] = []
    tables = (
        (0, TransitionRow.__table__, "id"),
        (1, CorrelationRow.__table__, "event_id"),
        (2, ReliabilitySampleRow.__table__, "id"),
    )
    with eng.db.connect() as conn:
        for kind, table, key in tables:
            col = table.c[key]
            ts = table.c.ts_us
            same_ts: ColumnElement[bool]
            if kind > cursor[1]:
                same_ts = true()
            elif kind == cursor[1]:
                same_ts = col > _key_value(key, cursor[2])
            else:
                same_ts = false()
            after = or_(ts > cursor[0], and_(ts == cursor[0], same_ts))
            rows = conn.execute(
                select(table)
                .where(table.c.gpu_uuid == g.uuid, ts >= lo, ts <= hi, after)
                .order_by(ts, col)
                .limit(limit + 1)
            ).mappings()
            items.extend((r["ts_us"], kind, str(r[key]), r) for r in rows)
    items.sort(key=lambda it: (it[0], it[1], _sort_key(it[2])))
    page, more = items[:limit], len(items) > limit
    resp = fleet_pb2.GpuHistoryResponse()
    ident = identifier(g)
    for ts_us, kind, _, r in page:
        if kind == 0:
            t = resp.state_transitions.add(
                from_state=r["from_state"],
                to_state=r["to_state"],
                reason=r["reason"],
                initiated_by=r["initiated_by"],
            )
            t.timestamp.FromMicroseconds(ts_us)
        elif kind == 1:
            resp.correlations.append(_correlation(r, ident))
        else:
            s = resp.reliability_history.add(
                reliability_score=r["score"], alpha=r["alpha"], beta=r["beta"]
            )
            s.timestamp.FromMicroseconds(ts_us)
    if more and page:
        last = page[-1]
        resp.next_page_token = _codec(eng).encode(
            scope, {"ts": last[0], "kind": last[1], "id": last[2]}
        )
    return resp


def _key_value(key: str, raw: str) -> Any:
    if key == "id":
        return int(raw or 0)
    return raw


def _sort_key(raw: str) -> Any:
    return (0, int(raw), "") if raw.isdigit() else (1, 0, raw)


def _correlation(r: Any, ident: types_pb2.GpuIdentifier | None) -> types_pb2.CorrelationEvent:
    ev = types_pb2.CorrelationEvent(
        event_id=r["event_id"],
        events_correlated=json.loads(r["events"]),
        pattern_type=r["pattern"],
        confidence=r["confidence"],
        description=r["description"],
        severity=r["severity"],
        recommended_action=r["recommended_action"],
    )
    if ident is not None:
        ev.attributed_gpu.CopyFrom(ident)
        if r["sm_id"] is not None:
            ev.attributed_sm.gpu.CopyFrom(ident)
            ev.attributed_sm.sm_id = r["sm_id"]
    ev.timestamp.FromMicroseconds(r["ts_us"])
    return ev


def list_directives(
    eng: FleetEngine, pending_only: bool = False, gpu_uuid: str = "", limit: int = 100
) -> fleet_pb2.ListDirectivesResponse:
    """Directives, newest first; ``pending_only`` for those awaiting approval."""
    limit = _limit(limit, 100)
    stmt = select(DirectiveRow.__table__).order_by(DirectiveRow.ts_us.desc()).limit(limit)
    if pending_only:
        stmt = stmt.where(DirectiveRow.status == "pending")
    if gpu_uuid:
        with eng.state.lock:
            queried_gpu(eng, gpu_uuid)
        stmt = stmt.where(DirectiveRow.gpu_uuid == gpu_uuid)
    with eng.db.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    resp = fleet_pb2.ListDirectivesResponse()
    for r in rows:
        resp.directives.append(directive_from_row(r, eng.state.gpus.get(r["gpu_uuid"])))
    return resp


def latest_applied_directives(
    eng: FleetEngine, hostname: str
) -> list[types_pb2.QuarantineDirective]:
    """The last directive applied to each GPU of ``hostname``: what a (re)subscribing agent
    must have acted on, whatever it missed while it was away."""
    with eng.state.lock:
        uuids = sorted(eng.state.by_host.get(hostname, ()))
    if not uuids:
        return []
    table = DirectiveRow.__table__
    with eng.db.connect() as conn:
        rows = conn.execute(
            select(table)
            .where(table.c.gpu_uuid.in_(uuids), table.c.status == "applied")
            .order_by(table.c.gpu_uuid, table.c.ts_us.desc())
        ).mappings()
        latest: dict[str, Any] = {}
        for r in rows:
            latest.setdefault(r["gpu_uuid"], r)
    return [directive_from_row(r, eng.state.gpus.get(u)) for u, r in sorted(latest.items())]


def audit_trail(eng: FleetEngine, f: fleet_pb2.AuditQueryFilters) -> fleet_pb2.AuditQueryResponse:
    """A page of audit entries matching the filters."""
    start = f.start_time.ToDatetime(tzinfo=timezone.utc) if f.HasField("start_time") else None
    end = f.end_time.ToDatetime(tzinfo=timezone.utc) if f.HasField("end_time") else None
    if not 0 <= f.entry_type <= 6:
        raise EngineValidationError(
            f"entry_type must be an AuditEntryType 0..6, got {f.entry_type}"
        )
    gpu_uuid = f.gpu.uuid if f.HasField("gpu") and f.gpu.uuid else None
    try:
        entries, token, total = eng.ledger.query(
            gpu_uuid=gpu_uuid,
            start=start,
            end=end,
            entry_type=f.entry_type,
            limit=f.limit or 100,
            page_token=f.page_token,
            descending=f.descending,
        )
    except ValueError as exc:
        raise EngineValidationError(str(exc)) from exc
    resp = fleet_pb2.AuditQueryResponse(next_page_token=token, total_count=total)
    for e in entries:
        entry = resp.entries.add(
            entry_id=e.entry_id,
            entry_type=e.entry_type,  # type: ignore[arg-type]
            data=e.data,
            previous_hash=e.previous_hash,
            entry_hash=e.entry_hash,
            merkle_root=e.merkle_root or b"",
        )
        entry.timestamp.FromDatetime(e.timestamp)
        if e.gpu_uuid:
            g = eng.state.gpus.get(e.gpu_uuid)
            entry.gpu.CopyFrom(identifier(g) if g else types_pb2.GpuIdentifier(uuid=e.gpu_uuid))
    return resp


def verify_chain(
    eng: FleetEngine, req: fleet_pb2.VerifyChainRequest
) -> fleet_pb2.ChainVerificationResult:
    """Verify the ledger against its signed checkpoints, or an entry-id range of its chain.

    No range (start and end 0): every checkpoint is checked and the chain recomputed from
    the newest one, which costs the entries since that checkpoint, not the whole ledger.
    ``start_entry_id=1`` with no end: the same, recomputing the whole chain. Any other
    range: the chain over that range only. One verification runs at a time; concurrent
    calls wait their turn.
    """
    if req.end_entry_id and req.start_entry_id > req.end_entry_id:
        raise EngineValidationError(
            f"start_entry_id ({req.start_entry_id}) is after end_entry_id ({req.end_entry_id})"
        )
    _range(req.start_time, req.end_time)
    t0 = time.perf_counter()
    merkle = req.verify_merkle_roots
    try:
        if req.start_entry_id <= 1 and not req.end_entry_id:
            r = eng.ledger.audit(full=req.start_entry_id == 1, merkle=merkle)
        else:
            r = eng.ledger.verify(req.start_entry_id, req.end_entry_id, merkle)
    except ValueError as exc:
        raise EngineValidationError(str(exc)) from exc
    eng.metrics.observe_verify(r.valid, time.perf_counter() - t0)
    return fleet_pb2.ChainVerificationResult(
        valid=r.valid,
        first_invalid_entry_id=r.first_invalid_entry_id,
        failure_description=r.failure_description,
        entries_verified=r.entries_verified,
        batches_verified=r.batches_verified,
        verification_time_ms=r.verification_time_ms,
        merkle_roots=r.merkle_roots,
    )


def trust_graph(eng: FleetEngine) -> types_pb2.TrustGraphSnapshot:
    """The TMR trust graph over every GPU the engine knows."""
    with eng.state.lock:
        snap = eng.trust.snapshot(eng.state.gpus.keys())
        gpus = eng.state.gpus
        out = types_pb2.TrustGraphSnapshot(
            coverage_pct=snap.coverage_pct,
            total_gpus=snap.total_gpus,
            min_trust_score=snap.min_trust_score,
            mean_trust_score=snap.mean_trust_score,
        )
        for e in snap.edges:
            edge = out.edges.add(
                agreement_count=e.agreement_count,
                disagreement_count=e.disagreement_count,
                trust_score=e.trust_score,
            )
            for target, u in ((edge.gpu_a, e.gpu_a), (edge.gpu_b, e.gpu_b)):
                g = gpus.get(u)
                target.CopyFrom(identifier(g) if g else types_pb2.GpuIdentifier(uuid=u))
            edge.last_comparison.FromMicroseconds(int(e.last_comparison * 1e6))
    out.timestamp.FromMicroseconds(int(eng.clock() * 1e6))
    return out


def suspect_gpus(eng: FleetEngine, host: str) -> list[agent_pb2.GpuStateChange]:
    """The SUSPECT GPUs of ``host``, for an agent that (re)subscribes to learn of them."""
    with eng.state.lock:
        return [
            agent_pb2.GpuStateChange(
                gpu=identifier(g),
                state=g.state,  # type: ignore[arg-type]
                reason=g.state_change_reason,
            )
            for g in eng.state.gpus.values()
            if g.hostname == host and g.state == GpuState.SUSPECT
        ]


def config_acks(eng: FleetEngine, update_id: str = "") -> fleet_pb2.ListConfigAcksResponse:
    """Each registered agent's acknowledgement of a config update (empty: the current one).

    Configurations are whole snapshots, so an agent running the update's version or a
    later one has applied it; one that refused a newer version and runs an older one
    says why; any other is still pending.

    Raises:
        EngineNotFound: No update has ``update_id``.
    """
    if update_id:
        with eng.db.connect() as conn:
            version = conn.execute(
                select(ConfigRow.version)
                .where(ConfigRow.update_id == update_id)
                .order_by(ConfigRow.version.desc())
                .limit(1)
            ).scalar()
        if version is None:
            raise EngineNotFound(f"config update {update_id!r} not found")
    else:
        update_id, version = eng.config.update_id, eng.config.config_version
    out = fleet_pb2.ListConfigAcksResponse(update_id=update_id, config_version=version)
    with eng.state.lock:
        agents = sorted(eng.state.agents.values(), key=lambda a: a.hostname)
        for a in agents:
            applied = a.config_version >= version
            out.acks.add(
                update_id=update_id,
                applied=applied,
                component_id=a.hostname,
                error="" if applied else a.config_error,
                config_version=a.config_version,
            )
    return out
