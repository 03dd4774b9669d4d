"""Enums and Pydantic models of the fleet API; they mirror ``proto/sentinel/v1``.

Enum members carry the proto's integer values under the seed's bare names
(``GpuHealthState.HEALTHY == 1`` is ``GPU_HEALTH_STATE_HEALTHY``). Timestamps are
timezone-aware UTC datetimes; a naive datetime given to a model is taken as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import IntEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A datetime normalised to timezone-aware UTC; naive values are taken as UTC."""


class Severity(IntEnum):
    """Severity of an anomaly or a correlation finding."""

    UNSPECIFIED = 0
    INFO = 1
    WARNING = 2
    HIGH = 3
    CRITICAL = 4


class ProbeType(IntEnum):
    """Kind of SDC probe kernel."""

    UNSPECIFIED = 0
    FMA = 1
    TENSOR_CORE = 2
    TRANSCENDENTAL = 3
    AES = 4
    MEMORY = 5
    REGISTER_FILE = 6
    SHARED_MEMORY = 7


class ProbeResult(IntEnum):
    """Outcome of one probe execution."""

    UNSPECIFIED = 0
    PASS = 1
    FAIL = 2
    ERROR = 3
    TIMEOUT = 4


class GpuHealthState(IntEnum):
    """Lifecycle state of a GPU."""

    UNSPECIFIED = 0
    HEALTHY = 1
    SUSPECT = 2
    QUARANTINED = 3
    DEEP_TEST = 4
    CONDEMNED = 5


class QuarantineAction(IntEnum):
    """Action a quarantine directive asks for."""

    UNSPECIFIED = 0
    QUARANTINE = 1
    REINSTATE = 2
    CONDEMN = 3
    SCHEDULE_DEEP_TEST = 4


class AnomalyType(IntEnum):
    """Kind of workload-level anomaly."""

    UNSPECIFIED = 0
    LOGIT_DRIFT = 1
    ENTROPY_ANOMALY = 2
    KL_DIVERGENCE = 3
    GRADIENT_NORM_SPIKE = 4
    LOSS_SPIKE = 5
    CROSS_RANK_DIVERGENCE = 6
    CHECKPOINT_DIVERGENCE = 7
    INVARIANT_VIOLATION = 8


class AnomalySource(IntEnum):
    """Component that reported an anomaly."""

    UNSPECIFIED = 0
    INFERENCE_MONITOR = 1
    TRAINING_MONITOR = 2
    INVARIANT_CHECKER = 3


class PatternType(IntEnum):
    """Correlation pattern found by the engine."""

    UNSPECIFIED = 0
    MULTI_SIGNAL = 1
    SM_LOCALIZED = 2
    ENVIRONMENTAL = 3
    NODE_CORRELATED = 4
    FIRMWARE_CORRELATED = 5
    TMR_CONFIRMED = 6


class AuditEntryType(IntEnum):
    """Classification of an audit ledger entry."""

    UNSPECIFIED = 0
    PROBE_RESULT = 1
    ANOMALY_EVENT = 2
    QUARANTINE_ACTION = 3
    CONFIG_CHANGE = 4
    TMR_RESULT = 5
    SYSTEM_EVENT = 6


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GpuIdentifier(_Model):
    """Uniquely identifies a GPU within the fleet."""

    uuid: str = ""
    hostname: str = ""
    device_index: int = 0
    model: str = ""
    driver_version: str = ""
    firmware_version: str = ""


class SmIdentifier(_Model):
    """Identifies one Streaming Multiprocessor on a GPU."""

    gpu: GpuIdentifier | None = None
    sm_id: int = 0


class SmHealth(_Model):
    """Health and reliability of one SM."""

    sm: SmIdentifier | None = None
    reliability_score: float = 0.0
    probe_pass_count: int = 0
    probe_fail_count: int = 0
    disabled: bool = False
    disable_reason: str = ""


class GpuHealth(_Model):
    """Lifecycle state and Bayesian reliability of one GPU.

    ``alpha`` and ``beta`` are the Beta distribution's pseudo-counts, deliberately not the
    seed's plain "successes + prior" and "failures + prior": evidence fades toward the
    prior with a configurable half-life (a GPU that failed once a month ago is not judged
    by it forever, and one failing now is not hidden by a long clean history), and an
    attributed anomaly adds to ``beta`` a fraction weighted by its severity, so softer
    signals than a failed probe count too. ``reliability_score`` is still
    ``alpha / (alpha + beta)``; ``probe_pass_count`` and ``probe_fail_count`` are the
    undecayed lifetime counts.
    """

    gpu: GpuIdentifier | None = None
    state: GpuHealthState = GpuHealthState.UNSPECIFIED
    reliability_score: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0
    last_probe_time: UtcDatetime | None = None
    last_anomaly_time: UtcDatetime | None = None
    probe_pass_count: int = 0
    probe_fail_count: int = 0
    anomaly_count: int = 0
    state_changed_at: UtcDatetime | None = None
    state_change_reason: str = ""
    sm_health: list[SmHealth] = []
    anomaly_rate: float = 0.0
    probe_failure_rate: float = 0.0


class FleetHealthSummary(_Model):
    """Health summary of the whole fleet (or of the filtered part of it)."""

    total_gpus: int = 0
    healthy: int = 0
    suspect: int = 0
    quarantined: int = 0
    deep_test: int = 0
    condemned: int = 0
    overall_sdc_rate: float = 0.0
    average_reliability_score: float = 0.0
    snapshot_time: UtcDatetime | None = None
    active_agents: int = 0
    rate_window_seconds: int = 0


class ListGpusResult(_Model):
    """One page of per-GPU health records (without the per-SM breakdown)."""

    gpus: list[GpuHealth] = []
    next_page_token: str = ""
    total_count: int = 0


class StateTransition(_Model):
    """A recorded lifecycle transition of a GPU."""

    from_state: GpuHealthState = GpuHealthState.UNSPECIFIED
    to_state: GpuHealthState = GpuHealthState.UNSPECIFIED
    timestamp: UtcDatetime | None = None
    reason: str = ""
    initiated_by: str = ""


class ReliabilitySample(_Model):
    """A point-in-time reliability score sample (``alpha``/``beta`` as in ``GpuHealth``)."""

    timestamp: UtcDatetime | None = None
    reliability_score: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0


class CorrelationEvent(_Model):
    """A finding that links several raw events to a GPU or SM."""

    event_id: str = ""
    events_correlated: list[str] = []
    pattern_type: PatternType = PatternType.UNSPECIFIED
    confidence: float = 0.0
    attributed_gpu: GpuIdentifier | None = None
    attributed_sm: SmIdentifier | None = None
    description: str = ""
    timestamp: UtcDatetime | None = None
    severity: Severity = Severity.UNSPECIFIED
    recommended_action: str = ""


class GpuHistoryResponse(_Model):
    """One page of a GPU's history."""

    state_transitions: list[StateTransition] = []
    correlations: list[CorrelationEvent] = []
    reliability_history: list[ReliabilitySample] = []
    next_page_token: str = ""


class ApprovalStatus(_Model):
    """Review decision on a directive that required approval."""

    approved: bool = False
    reviewer: str = ""
    review_time: UtcDatetime | None = None
    comment: str = ""


class QuarantineDirective(_Model):
    """A directive to change a GPU's lifecycle state."""

    directive_id: str = ""
    gpu: GpuIdentifier | None = None
    action: QuarantineAction = QuarantineAction.UNSPECIFIED
    reason: str = ""
    initiated_by: str = ""
    evidence: list[str] = []
    timestamp: UtcDatetime | None = None
    priority: int = 0
    requires_approval: bool = False
    approval: ApprovalStatus | None = None


class DirectiveResponse(_Model):
    """The server's answer to an issued or reviewed directive."""

    directive_id: str = ""
    accepted: bool = False
    rejection_reason: str = ""
    resulting_state: str = ""


class AuditEntry(_Model):
    """One entry of the tamper-evident audit ledger."""

    entry_id: int = 0
    entry_type: AuditEntryType = AuditEntryType.UNSPECIFIED
    timestamp: UtcDatetime | None = None
    gpu: GpuIdentifier | None = None
    data: bytes = b""
    previous_hash: bytes = b""
    entry_hash: bytes = b""
    merkle_root: bytes = b""


class AuditQueryFilters(BaseModel):
    """Filters and paging for an audit trail query; mutable so pages can be walked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    gpu: GpuIdentifier | None = None
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None
    entry_type: AuditEntryType = AuditEntryType.UNSPECIFIED
    limit: int = 100
    page_token: str = ""
    descending: bool = False


class AuditQueryResponse(_Model):
    """One page of audit entries."""

    entries: list[AuditEntry] = []
    next_page_token: str = ""
    total_count: int = 0


class ChainVerificationResult(_Model):
    """Outcome of verifying the audit hash chain (and Merkle roots)."""

    valid: bool = False
    first_invalid_entry_id: int = 0
    failure_description: str = ""
    entries_verified: int = 0
    batches_verified: int = 0
    verification_time_ms: int = 0
    merkle_roots: list[bytes] = []


class TrustEdge(_Model):
    """Pairwise TMR comparison history between two GPUs."""

    gpu_a: GpuIdentifier | None = None
    gpu_b: GpuIdentifier | None = None
    agreement_count: int = 0
    disagreement_count: int = 0
    last_comparison: UtcDatetime | None = None
    trust_score: float = 0.0


class TrustGraphSnapshot(_Model):
    """Point-in-time snapshot of the GPU trust graph."""

    edges: list[TrustEdge] = []
    timestamp: UtcDatetime | None = None
    coverage_pct: float = 0.0
    total_gpus: int = 0
    min_trust_score: float = 0.0
    mean_trust_score: float = 0.0


class ProbeScheduleEntry(_Model):
    """Schedule of one probe type."""

    type: ProbeType = ProbeType.UNSPECIFIED
    period_seconds: int = 0
    sm_coverage: float = 0.0
    priority: int = 0
    enabled: bool = False
    timeout_ms: int = 0


class ProbeScheduleUpdate(_Model):
    """A new probe schedule; it replaces the whole schedule."""

    entries: list[ProbeScheduleEntry] = []


class OverheadBudgetUpdate(_Model):
    """A new GPU overhead budget."""

    budget_pct: float = 0.0
    """Maximum share of GPU time the probes may use, in percent, (0, 100]."""


class SamplingRateUpdate(_Model):
    """A new sampling rate for a component."""

    component: str = ""
    """Component whose sampling rate changes, e.g. ``"inference_monitor"``."""
    rate: float = 0.0
    """Fraction of items sampled, [0, 1]."""
    delete: bool = False
    """Remove the component's rate instead (``rate`` is then ignored)."""


class ThresholdUpdate(_Model):
    """A new value for a component's detection threshold."""

    component: str = ""
    """Up to 64 characters of ``[a-z0-9_.-]``."""
    parameter: str = ""
    """Up to 64 characters of ``[a-z0-9_.-]``."""
    value: float = 0.0
    delete: bool = False
    """Remove the ``component.parameter`` threshold instead (``value`` is then ignored)."""


class ConfigUpdate(_Model):
    """A dynamic configuration change carrying exactly one payload.

    The server, not the client, rejects an update without exactly one payload
    (``InvalidArgumentError``), so every client sees the same rule.
    """

    update_id: str = ""
    initiated_by: str = ""
    reason: str = ""
    probe_schedule: ProbeScheduleUpdate | None = None
    overhead_budget: OverheadBudgetUpdate | None = None
    sampling_rate: SamplingRateUpdate | None = None
    threshold: ThresholdUpdate | None = None


class ConfigAck(_Model):
    """Acknowledgement of a configuration update by one component.

    ``update_config`` returns the engine's (``component_id`` is the engine), which
    stored the update and sends it to the agents; ``list_config_acks`` returns each
    agent's (``component_id`` is its hostname, ``config_version`` the version it runs).
    """

    update_id: str = ""
    applied: bool = False
    component_id: str = ""
    error: str = ""
    config_version: int = 0


class ConfigAckList(_Model):
    """Every registered agent's acknowledgement of one configuration update.

    An agent has applied the update when it runs ``config_version`` or later; one that
    refused it has ``applied`` false and its ``error``; one with neither is pending.
    """

    update_id: str = ""
    config_version: int = 0
    acks: list[ConfigAck] = []
