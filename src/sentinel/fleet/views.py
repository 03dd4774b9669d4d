"""What the dashboard shows, computed once: each page renders these and ``/api/v1`` serves them.

Builders read the engine's in-memory state under its lock and the store for history; they
raise ``EngineValidationError`` for bad parameters and ``EngineNotFound`` for unknown ids,
which the HTTP layer turns into 400 and 404.
"""

from __future__ import annotations

import base64
import heapq
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Literal

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from pydantic import BaseModel, Field
from sqlalchemy import select

from sentinel.core.ledger import EntryType, StoredEntry
from sentinel.fleet.engine import queries
from sentinel.fleet.engine._common import check_gpu_uuid, known_gpu
from sentinel.fleet.engine.engine import EngineValidationError, FleetEngine
from sentinel.fleet.engine.enums import Action, GpuState, Pattern, Severity
from sentinel.fleet.engine.state import Gpu
from sentinel.fleet.engine.store import (
    CorrelationRow,
    DirectiveRow,
    ReliabilitySampleRow,
    TelemetryRow,
    TransitionRow,
)
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

__all__ = [
    "AuditPage",
    "AuditRow",
    "CorrelationView",
    "DirectiveView",
    "FleetOverview",
    "GpuDetail",
    "GpuQuery",
    "GpuRow",
    "GpuTable",
    "SmCell",
    "TelemetryPoint",
    "TransitionView",
    "TrustEdgeView",
    "TrustGraphView",
    "VerifyView",
    "audit_page",
    "audit_records",
    "directives",
    "fleet_overview",
    "gpu_detail",
    "gpu_table",
    "readable",
    "trust_graph",
    "verify",
]

SortKey = Literal[
    "reliability", "state", "hostname", "model", "uuid", "failures", "anomalies", "last_probe"
]
STATE_NAMES = tuple(s.name for s in GpuState)
ENTRY_TYPES = tuple(t.name for t in EntryType)

_RELIABILITY_POINTS = 2000
_TELEMETRY_POINTS = 720
_GPU_AUDIT_ROWS = 50
_TRUST_MAX_NODES = 400
_PAYLOADS: dict[int, type[Message]] = {
    EntryType.PROBE_RESULT: agent_pb2.ProbeReport,
    EntryType.ANOMALY_EVENT: agent_pb2.AnomalyReport,
    EntryType.QUARANTINE_ACTION: types_pb2.QuarantineRecord,
    EntryType.CONFIG_CHANGE: types_pb2.ConfigUpdate,
    EntryType.TMR_RESULT: types_pb2.TmrRecord,
    EntryType.SYSTEM_EVENT: types_pb2.SystemEvent,
}


def _ts(us: int) -> datetime | None:
    """A time the engine may not have yet (0 = never)."""
    return _at(us) if us else None


def _at(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, timezone.utc)


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


# -- fleet -------------------------------------------------------------------------------


class FleetOverview(BaseModel):
    """The fleet at a glance."""

    total_gpus: int
    counts: dict[str, int] = Field(description="GPUs per lifecycle state name.")
    sdc_rate: float = Field(description="Failure and anomaly events per GPU-hour in the window.")
    average_reliability: float
    active_agents: int
    pending_approvals: int
    ledger_entries: int
    rate_window_seconds: int
    hosts: int
    snapshot_time: datetime


def fleet_overview(eng: FleetEngine) -> FleetOverview:
    """Counts by state, SDC rate, mean reliability, agents, approvals waiting."""
    s = queries.fleet_health(eng)
    with eng.state.lock:
        hosts = len(eng.state.by_host)
        pending = len(eng.pending)
    return FleetOverview(
        total_gpus=s.total_gpus,
        counts={
            "HEALTHY": s.healthy,
            "SUSPECT": s.suspect,
            "QUARANTINED": s.quarantined,
            "DEEP_TEST": s.deep_test,
            "CONDEMNED": s.condemned,
        },
        sdc_rate=s.overall_sdc_rate,
        average_reliability=s.average_reliability_score,
        active_agents=s.active_agents,
        pending_approvals=pending,
        ledger_entries=len(eng.ledger),
        rate_window_seconds=s.rate_window_seconds,
        hosts=hosts,
        snapshot_time=s.snapshot_time.ToDatetime(tzinfo=timezone.utc),
    )


class GpuRow(BaseModel):
    """One GPU as the fleet table lists it."""

    uuid: str
    hostname: str
    device_index: int
    model: str
    driver_version: str
    firmware_version: str
    state: str
    reliability: float
    probe_pass_count: int
    probe_fail_count: int
    anomaly_count: int
    sm_count: int
    last_probe: datetime | None
    state_changed: datetime | None
    state_change_reason: str


class GpuTable(BaseModel):
    """A sorted, filtered page of the fleet's GPUs."""

    rows: list[GpuRow]
    total: int = Field(description="GPUs matching the filters, over all pages.")
    offset: int
    limit: int
    sort: str
    order: str
    models: list[str] = Field(description="Every model in the fleet, for the filter.")


def _row(g: Gpu) -> GpuRow:
    return GpuRow(
        uuid=g.uuid,
        hostname=g.hostname,
        device_index=g.device_index,
        model=g.model,
        driver_version=g.driver_version,
        firmware_version=g.firmware_version,
        state=GpuState(g.state).name,
        reliability=g.rel.score,
        probe_pass_count=g.probe_pass_count,
        probe_fail_count=g.probe_fail_count,
        anomaly_count=g.anomaly_count,
        sm_count=g.sm_count,
        last_probe=_ts(g.last_probe_us),
        state_changed=_ts(g.state_changed_us),
        state_change_reason=g.state_change_reason,
    )


_SORTS: dict[str, Callable[[Gpu], Any]] = {
    "reliability": lambda g: g.rel.score,
    "state": lambda g: g.state,
    "hostname": lambda g: (g.hostname, g.device_index),
    "model": lambda g: g.model,
    "uuid": lambda g: g.uuid,
    "failures": lambda g: g.probe_fail_count,
    "anomalies": lambda g: g.anomaly_count,
    "last_probe": lambda g: g.last_probe_us,
}


def _parse_states(raw: str) -> set[int]:
    """``"QUARANTINED,DEEP_TEST"`` (case-insensitive) as state values; ``""`` for all."""
    wanted = set()
    for part in filter(None, (p.strip().upper() for p in raw.split(","))):
        if part not in GpuState.__members__:
            raise EngineValidationError(
                f"unknown state {part!r}; expected one of {', '.join(STATE_NAMES)}"
            )
        wanted.add(int(GpuState[part]))
    return wanted


class GpuQuery(BaseModel):
    """Which GPUs the fleet table shows, in which order (the page's and the API's query)."""

    host: str = Field("", description="Hostname prefix.")
    model: str = Field("", description="Part of the model name, any case.")
    state: str = Field("", description="Lifecycle states, comma-separated names.")
    sort: SortKey = "reliability"
    order: Literal["asc", "desc"] = "asc"
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=1000)


def gpu_table(eng: FleetEngine, q: GpuQuery) -> GpuTable:
    """The page of GPUs ``q`` selects, sorted by ``q.sort``."""
    wanted = _parse_states(q.state)
    key = _SORTS[q.sort]
    with eng.state.lock:
        gpus = eng.state.select(q.host, q.model, wanted)
        # The uuid breaks ties, so pages stay stable while scores are equal.
        gpus.sort(key=lambda g: (key(g), g.uuid), reverse=q.order == "desc")
        rows = [_row(g) for g in gpus[q.offset : q.offset + q.limit]]
        models = sorted({g.model for g in eng.state.gpus.values()})
    return GpuTable(
        rows=rows,
        total=len(gpus),
        offset=q.offset,
        limit=q.limit,
        sort=q.sort,
        order=q.order,
        models=models,
    )


# -- one GPU -----------------------------------------------------------------------------


class SmCell(BaseModel):
    """One SM of the per-SM heat map."""

    sm_id: int
    reliability: float
    passes: int
    fails: int
    disabled: bool
    reason: str


class ReliabilityPoint(BaseModel):
    ts: datetime
    score: float


class TransitionView(BaseModel):
    ts: datetime
    from_state: str
    to_state: str
    reason: str
    initiated_by: str


class TelemetryPoint(BaseModel):
    ts: datetime
    temperature_c: float
    power_w: float
    sm_clock_mhz: int
    throttle_reasons: int
    ecc_single_bit: int
    ecc_double_bit: int
    xid_events: list[int]


class CorrelationView(BaseModel):
    event_id: str
    ts: datetime
    pattern: str
    confidence: float
    severity: str
    gpu_uuid: str | None
    sm_id: int | None
    description: str
    recommended_action: str
    evidence: list[str] = Field(description="Ids of the events the pattern was found in.")


class AuditRow(BaseModel):
    entry_id: int
    ts: datetime
    type: str
    gpu_uuid: str | None
    summary: str
    entry_hash: str


class DirectiveView(BaseModel):
    directive_id: str
    gpu_uuid: str
    hostname: str
    action: str
    reason: str
    initiated_by: str
    ts: datetime
    status: str
    requires_approval: bool
    reviewer: str
    review_ts: datetime | None
    comment: str
    evidence: list[str]


class GpuDetail(BaseModel):
    """Everything the GPU page shows."""

    gpu: GpuRow
    alpha: float
    beta: float
    sm: list[SmCell]
    reliability: list[ReliabilityPoint]
    transitions: list[TransitionView]
    telemetry: list[TelemetryPoint]
    correlations: list[CorrelationView]
    audit: list[AuditRow]
    directives: list[DirectiveView]


def _newest(conn: Any, table: Any, gpu_uuid: str, limit: int) -> list[Any]:
    """The newest ``limit`` rows of one GPU, oldest first."""
    rows = conn.execute(
        select(table)
        .where(table.c.gpu_uuid == gpu_uuid)
        .order_by(table.c.ts_us.desc())
        .limit(limit)
    ).mappings()
    return list(reversed(rows.all()))


def gpu_detail(eng: FleetEngine, gpu_uuid: str) -> GpuDetail:
    """Health, per-SM breakdown, history, environment, findings and audit of one GPU."""
    check_gpu_uuid(gpu_uuid)
    with eng.state.lock:
        g = known_gpu(eng, gpu_uuid)
        row = _row(g)
        alpha, beta, passes, fails = g.sm
        cells = [
            SmCell(
                sm_id=i,
                reliability=float(alpha[i] / (alpha[i] + beta[i])),
                passes=int(passes[i]),
                fails=int(fails[i]),
                disabled=i in g.sm_disabled,
                reason=g.sm_disabled.get(i, ""),
            )
            for i in range(g.sm_count)
        ]
        rel_alpha, rel_beta = g.rel.alpha, g.rel.beta
    with eng.db.connect() as conn:
        samples = _newest(conn, ReliabilitySampleRow.__table__, gpu_uuid, _RELIABILITY_POINTS)
        transitions = _newest(conn, TransitionRow.__table__, gpu_uuid, 500)
        telemetry = _newest(conn, TelemetryRow.__table__, gpu_uuid, _TELEMETRY_POINTS)
        correlations = _newest(conn, CorrelationRow.__table__, gpu_uuid, 100)
        directive_rows = _newest(conn, DirectiveRow.__table__, gpu_uuid, 50)
    entries, _, _ = eng.ledger.query(
        gpu_uuid=gpu_uuid, limit=_GPU_AUDIT_ROWS, descending=True, count=False
    )
    return GpuDetail(
        gpu=row,
        alpha=rel_alpha,
        beta=rel_beta,
        sm=cells,
        reliability=[ReliabilityPoint(ts=_at(r["ts_us"]), score=r["score"]) for r in samples],
        transitions=[
            TransitionView(
                ts=_at(r["ts_us"]),
                from_state=_enum_name(GpuState, r["from_state"]),
                to_state=_enum_name(GpuState, r["to_state"]),
                reason=r["reason"],
                initiated_by=r["initiated_by"],
            )
            for r in transitions
        ],
        telemetry=[
            TelemetryPoint(
                ts=_at(r["ts_us"]),
                temperature_c=r["temperature_c"],
                power_w=r["power_w"],
                sm_clock_mhz=r["sm_clock_mhz"],
                throttle_reasons=r["throttle_reasons"],
                ecc_single_bit=r["ecc_single_bit"],
                ecc_double_bit=r["ecc_double_bit"],
                xid_events=json.loads(r["xid_events"] or "[]"),
            )
            for r in telemetry
        ],
        correlations=[_correlation(r) for r in reversed(correlations)],
        audit=[_audit_row(e) for e in entries],
        directives=[_directive(eng, r) for r in reversed(directive_rows)],
    )


def _correlation(r: Any) -> CorrelationView:
    return CorrelationView(
        event_id=r["event_id"],
        ts=_at(r["ts_us"]),
        pattern=_enum_name(Pattern, r["pattern"]),
        confidence=r["confidence"],
        severity=_enum_name(Severity, r["severity"]),
        gpu_uuid=r["gpu_uuid"],
        sm_id=r["sm_id"],
        description=r["description"],
        recommended_action=r["recommended_action"],
        evidence=json.loads(r["events"] or "[]"),
    )


def _directive(eng: FleetEngine, r: Any) -> DirectiveView:
    g = eng.state.gpus.get(r["gpu_uuid"])
    return DirectiveView(
        directive_id=r["directive_id"],
        gpu_uuid=r["gpu_uuid"],
        hostname=g.hostname if g else "",
        action=_enum_name(Action, r["action"]),
        reason=r["reason"],
        initiated_by=r["initiated_by"],
        ts=_at(r["ts_us"]),
        status=r["status"],
        requires_approval=r["requires_approval"],
        reviewer=r["reviewer"],
        review_ts=_ts(r["review_us"]),
        comment=r["comment"],
        evidence=json.loads(r["evidence"] or "[]"),
    )


# -- directives --------------------------------------------------------------------------


class DirectiveList(BaseModel):
    pending: list[DirectiveView]
    history: list[DirectiveView]


def directives(eng: FleetEngine, limit: int = 200) -> DirectiveList:
    """Directives waiting for an operator, and the newest ``limit`` of the rest."""
    if not 1 <= limit <= 1000:
        raise EngineValidationError(f"limit must be in 1..1000, got {limit}")
    table = DirectiveRow.__table__
    with eng.db.connect() as conn:
        pending = conn.execute(
            select(table).where(table.c.status == "pending").order_by(table.c.ts_us.desc())
        ).mappings()
        pending_rows = pending.all()
        history = conn.execute(
            select(table)
            .where(table.c.status != "pending")
            .order_by(table.c.ts_us.desc())
            .limit(limit)
        ).mappings()
        history_rows = history.all()
    with eng.state.lock:
        return DirectiveList(
            pending=[_directive(eng, r) for r in pending_rows],
            history=[_directive(eng, r) for r in history_rows],
        )


# -- audit -------------------------------------------------------------------------------


class AuditPage(BaseModel):
    entries: list[AuditRow]
    total: int | None = Field(
        description="Matching entries in all; null for a type filter over the whole ledger, "
        "whose count would scan it."
    )
    next_page_token: str


def _payload(e: StoredEntry) -> Message | None:
    cls = _PAYLOADS.get(e.entry_type)
    if cls is None:
        return None
    try:
        return cls.FromString(e.data)
    except Exception:  # a tampered entry may not parse; verify says so, the page must not fail
        return None


def _summary(e: StoredEntry) -> str:
    msg = _payload(e)
    if msg is None:
        return f"{len(e.data)} bytes (not readable as {_enum_name(EntryType, e.entry_type)})"
    if isinstance(msg, agent_pb2.ProbeReport):
        failed = sum(1 for b in msg.sm_outcomes if b == types_pb2.PROBE_RESULT_FAIL)
        text = (
            f"{_short_enum(types_pb2.ProbeType, msg.probe_type)} "
            f"{_short_enum(types_pb2.ProbeResult, msg.result)}"
        )
        if failed:
            text += f" on {failed} SM(s)"
        if msg.deep_test:
            text += " (deep test)"
        return text + (f": {msg.detail}" if msg.detail else "")
    if isinstance(msg, agent_pb2.AnomalyReport):
        return (
            f"{_short_enum(types_pb2.AnomalyType, msg.anomaly_type)} "
            f"{_short_enum(types_pb2.Severity, msg.severity)} score {readable(msg.score)}"
        )
    if isinstance(msg, types_pb2.QuarantineRecord):
        text = (
            f"{_short_enum(types_pb2.GpuHealthState, msg.from_state)} → "
            f"{_short_enum(types_pb2.GpuHealthState, msg.to_state)} ({msg.status})"
        )
        if msg.HasField("directive"):
            d = msg.directive
            text += f": {_short_enum(types_pb2.QuarantineAction, d.action)} by {d.initiated_by}"
            if d.reason:
                text += f", {d.reason}"
        return text
    if isinstance(msg, types_pb2.TmrRecord):
        return f"canary {msg.canary_id[:8]}… {msg.verdict}"
    if isinstance(msg, types_pb2.SystemEvent):
        return f"{msg.kind}: {msg.detail}" + (
            f" (by {msg.initiated_by})" if msg.initiated_by else ""
        )
    text = json.dumps(MessageToDict(msg, preserving_proto_field_name=True), sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def readable(value: float) -> str:
    """A number as a person reads it: ``3.18``, ``41,200``, ``3.18×10³⁴``, ``−∞``, ``NaN``.

    Scores come from agents; an absurd one stored before the gateway refused it must
    still read as a number, not as ``3.18e+34``.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    size = abs(value)
    if size >= 1e6 or 0 < size < 0.01:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    if size >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _short_enum(enum: Any, value: int) -> str:
    try:
        name = enum.Name(value)
    except ValueError:
        return str(value)
    prefix = "_".join(enum.Name(0).split("_")[:-1]) + "_"  # e.g. PROBE_TYPE_ of UNSPECIFIED
    return str(name.removeprefix(prefix))


def _audit_row(e: StoredEntry) -> AuditRow:
    return AuditRow(
        entry_id=e.entry_id,
        ts=e.timestamp,
        type=_enum_name(EntryType, e.entry_type),
        gpu_uuid=e.gpu_uuid,
        summary=_summary(e),
        entry_hash=e.entry_hash.hex(),
    )


def _entry_type(raw: str) -> int:
    if not raw:
        return 0
    name = raw.strip().upper()
    if name not in EntryType.__members__:
        raise EngineValidationError(
            f"unknown entry type {raw!r}; expected one of {', '.join(ENTRY_TYPES)}"
        )
    return int(EntryType[name])


def audit_page(
    eng: FleetEngine,
    *,
    gpu_uuid: str = "",
    entry_type: str = "",
    limit: int = 50,
    page_token: str = "",
) -> AuditPage:
    """Newest entries first, filtered by GPU and entry type, one page at a time."""
    if gpu_uuid:
        check_gpu_uuid(gpu_uuid)
    if not 1 <= limit <= 1000:
        raise EngineValidationError(f"limit must be in 1..1000, got {limit}")
    kind = _entry_type(entry_type)
    try:
        entries, token, total = eng.ledger.query(
            gpu_uuid=gpu_uuid or None,
            entry_type=kind,
            limit=limit,
            page_token=page_token,
            descending=True,
            # A GPU's entries are few and indexed; counting a type over the whole ledger
            # scans it (300 ms at a million entries), and no filter needs no count.
            count=bool(gpu_uuid),
        )
    except ValueError as exc:
        raise EngineValidationError(str(exc)) from exc
    if not gpu_uuid and not kind:
        total = len(eng.ledger)
    return AuditPage(entries=[_audit_row(e) for e in entries], total=total, next_page_token=token)


def audit_records(eng: FleetEngine, *, gpu_uuid: str = "", entry_type: str = "") -> Iterator[str]:
    """Every matching entry as one JSON line, oldest first (the CLI's export format)."""
    if gpu_uuid:
        check_gpu_uuid(gpu_uuid)
    kind = _entry_type(entry_type)
    token = ""
    while True:
        entries, token, _ = eng.ledger.query(
            gpu_uuid=gpu_uuid or None, entry_type=kind, limit=1000, page_token=token, count=False
        )
        for e in entries:
            record = {
                "entry_id": e.entry_id,
                "type": _enum_name(EntryType, e.entry_type),
                "timestamp": e.timestamp.isoformat(),
                "gpu_uuid": e.gpu_uuid,
                "data": base64.b64encode(e.data).decode("ascii"),
                "previous_hash": e.previous_hash.hex(),
                "entry_hash": e.entry_hash.hex(),
                "merkle_root": e.merkle_root.hex() if e.merkle_root else None,
            }
            yield json.dumps(record) + "\n"
        if not token:
            return


class AgentAckView(BaseModel):
    """One agent's acknowledgement of a configuration update."""

    hostname: str
    status: Literal["applied", "refused", "pending"]
    config_version: int
    """The version the agent runs."""
    error: str


class ConfigAcksView(BaseModel):
    """Which agents applied a configuration update, refused it, or have not yet."""

    update_id: str
    config_version: int
    agents: list[AgentAckView]


def config_acks(eng: FleetEngine, update_id: str = "") -> ConfigAcksView:
    """Every agent's acknowledgement of ``update_id`` (empty: the current configuration)."""
    r = queries.config_acks(eng, update_id)
    return ConfigAcksView(
        update_id=r.update_id,
        config_version=r.config_version,
        agents=[
            AgentAckView(
                hostname=a.component_id,
                status="applied" if a.applied else "refused" if a.error else "pending",
                config_version=a.config_version,
                error=a.error,
            )
            for a in r.acks
        ],
    )


class ConfigSummaryView(BaseModel):
    """The fleet page's view of the current configuration: counts, and the agents that have
    not applied it (refused first), at most ``limit`` of them."""

    update_id: str
    config_version: int
    agents: int
    applied: int
    waiting: list[AgentAckView]
    """Refused, then pending, agents; the API's ``/config/acks`` lists every agent."""


def config_summary(eng: FleetEngine, limit: int = 20) -> ConfigSummaryView:
    """Counts and the first ``limit`` agents that have not applied the current configuration.

    Views are built only for the agents shown: a fleet of thousands of hosts must not cost
    the fleet page a record per agent.
    """
    version = eng.config.config_version
    with eng.state.lock:
        agents = list(eng.state.agents.values())
    # (not refused, hostname) orders refused agents first; views only for those shown.
    waiting = [(not a.config_error, a.hostname, a) for a in agents if a.config_version < version]
    shown = heapq.nsmallest(limit, waiting, key=lambda w: (w[0], w[1]))
    applied = len(agents) - len(waiting)
    return ConfigSummaryView(
        update_id=eng.config.update_id,
        config_version=version,
        agents=len(agents),
        applied=applied,
        waiting=[
            AgentAckView(
                hostname=a.hostname,
                status="pending" if pending else "refused",
                config_version=a.config_version,
                error=a.config_error,
            )
            for pending, _, a in shown
        ],
    )


class VerifyView(BaseModel):
    valid: bool
    entries_verified: int
    batches_verified: int
    first_invalid_entry_id: int
    failure_description: str
    verification_time_ms: float


def verify(eng: FleetEngine) -> VerifyView:
    """Verify the whole chain, every Merkle root and every signed checkpoint."""
    full = fleet_pb2.VerifyChainRequest(start_entry_id=1, verify_merkle_roots=True)
    r = queries.verify_chain(eng, full)
    return VerifyView(
        valid=r.valid,
        entries_verified=r.entries_verified,
        batches_verified=r.batches_verified,
        first_invalid_entry_id=r.first_invalid_entry_id,
        failure_description=r.failure_description,
        verification_time_ms=r.verification_time_ms,
    )


# -- trust graph -------------------------------------------------------------------------


class TrustNode(BaseModel):
    uuid: str
    hostname: str
    label: str = Field(description="host#device, for drawing.")
    state: str
    x: float = Field(description="Layout position in [0, 1].")
    y: float


class TrustEdgeView(BaseModel):
    a: str
    b: str
    trust: float
    agreements: int
    disagreements: int


class TrustGraphView(BaseModel):
    nodes: list[TrustNode]
    edges: list[TrustEdgeView]
    coverage_pct: float = Field(description="Share of GPU pairs ever compared, in percent.")
    total_gpus: int
    compared_gpus: int
    min_trust: float
    mean_trust: float
    truncated: bool = Field(description="Whether only the least-trusted GPUs are drawn.")


def trust_graph(eng: FleetEngine) -> TrustGraphView:
    """GPUs that took part in TMR comparisons, laid out by host on a circle, with edges."""
    snap = queries.trust_graph(eng)
    edges = [
        TrustEdgeView(
            a=e.gpu_a.uuid,
            b=e.gpu_b.uuid,
            trust=e.trust_score,
            agreements=e.agreement_count,
            disagreements=e.disagreement_count,
        )
        for e in snap.edges
    ]
    worst: dict[str, float] = {}
    for e in edges:
        for u in (e.a, e.b):
            worst[u] = min(worst.get(u, 1.0), e.trust)
    # Draw the least-trusted GPUs first: they are what a person looks for.
    chosen = sorted(worst, key=lambda u: (worst[u], u))[:_TRUST_MAX_NODES]
    keep = set(chosen)
    with eng.state.lock:
        info = {u: eng.state.gpus.get(u) for u in chosen}
    hosts = {u: g.hostname if g else "" for u, g in info.items()}
    labels = {u: f"{g.hostname}#{g.device_index}" if g else u[:13] for u, g in info.items()}
    ordered = sorted(chosen, key=lambda u: (hosts[u], u))
    nodes = []
    for i, u in enumerate(ordered):
        angle = 2 * math.pi * i / max(len(ordered), 1)
        g = info[u]
        nodes.append(
            TrustNode(
                uuid=u,
                hostname=hosts[u],
                label=labels[u],
                state=GpuState(g.state).name if g else "UNKNOWN",
                x=0.5 + 0.45 * math.cos(angle),
                y=0.5 + 0.45 * math.sin(angle),
            )
        )
    return TrustGraphView(
        nodes=nodes,
        edges=[e for e in edges if e.a in keep and e.b in keep],
        coverage_pct=snap.coverage_pct,
        total_gpus=snap.total_gpus,
        compared_gpus=len(worst),
        min_trust=snap.min_trust_score,
        mean_trust=snap.mean_trust_score,
        truncated=len(worst) > len(chosen),
    )
