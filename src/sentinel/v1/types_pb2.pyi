from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class ProbeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_TYPE_UNSPECIFIED: _ClassVar[ProbeType]
    PROBE_TYPE_FMA: _ClassVar[ProbeType]
    PROBE_TYPE_TENSOR_CORE: _ClassVar[ProbeType]
    PROBE_TYPE_TRANSCENDENTAL: _ClassVar[ProbeType]
    PROBE_TYPE_AES: _ClassVar[ProbeType]
    PROBE_TYPE_MEMORY: _ClassVar[ProbeType]
    PROBE_TYPE_REGISTER_FILE: _ClassVar[ProbeType]
    PROBE_TYPE_SHARED_MEMORY: _ClassVar[ProbeType]

class ProbeResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_RESULT_UNSPECIFIED: _ClassVar[ProbeResult]
    PROBE_RESULT_PASS: _ClassVar[ProbeResult]
    PROBE_RESULT_FAIL: _ClassVar[ProbeResult]
    PROBE_RESULT_ERROR: _ClassVar[ProbeResult]
    PROBE_RESULT_TIMEOUT: _ClassVar[ProbeResult]

class GpuHealthState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GPU_HEALTH_STATE_UNSPECIFIED: _ClassVar[GpuHealthState]
    GPU_HEALTH_STATE_HEALTHY: _ClassVar[GpuHealthState]
    GPU_HEALTH_STATE_SUSPECT: _ClassVar[GpuHealthState]
    GPU_HEALTH_STATE_QUARANTINED: _ClassVar[GpuHealthState]
    GPU_HEALTH_STATE_DEEP_TEST: _ClassVar[GpuHealthState]
    GPU_HEALTH_STATE_CONDEMNED: _ClassVar[GpuHealthState]

class QuarantineAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUARANTINE_ACTION_UNSPECIFIED: _ClassVar[QuarantineAction]
    QUARANTINE_ACTION_QUARANTINE: _ClassVar[QuarantineAction]
    QUARANTINE_ACTION_REINSTATE: _ClassVar[QuarantineAction]
    QUARANTINE_ACTION_CONDEMN: _ClassVar[QuarantineAction]
    QUARANTINE_ACTION_SCHEDULE_DEEP_TEST: _ClassVar[QuarantineAction]

class AnomalyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANOMALY_TYPE_UNSPECIFIED: _ClassVar[AnomalyType]
    ANOMALY_TYPE_LOGIT_DRIFT: _ClassVar[AnomalyType]
    ANOMALY_TYPE_ENTROPY_ANOMALY: _ClassVar[AnomalyType]
    ANOMALY_TYPE_KL_DIVERGENCE: _ClassVar[AnomalyType]
    ANOMALY_TYPE_GRADIENT_NORM_SPIKE: _ClassVar[AnomalyType]
    ANOMALY_TYPE_LOSS_SPIKE: _ClassVar[AnomalyType]
    ANOMALY_TYPE_CROSS_RANK_DIVERGENCE: _ClassVar[AnomalyType]
    ANOMALY_TYPE_CHECKPOINT_DIVERGENCE: _ClassVar[AnomalyType]
    ANOMALY_TYPE_INVARIANT_VIOLATION: _ClassVar[AnomalyType]

class AnomalySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANOMALY_SOURCE_UNSPECIFIED: _ClassVar[AnomalySource]
    ANOMALY_SOURCE_INFERENCE_MONITOR: _ClassVar[AnomalySource]
    ANOMALY_SOURCE_TRAINING_MONITOR: _ClassVar[AnomalySource]
    ANOMALY_SOURCE_INVARIANT_CHECKER: _ClassVar[AnomalySource]

class PatternType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATTERN_TYPE_UNSPECIFIED: _ClassVar[PatternType]
    PATTERN_TYPE_MULTI_SIGNAL: _ClassVar[PatternType]
    PATTERN_TYPE_SM_LOCALIZED: _ClassVar[PatternType]
    PATTERN_TYPE_ENVIRONMENTAL: _ClassVar[PatternType]
    PATTERN_TYPE_NODE_CORRELATED: _ClassVar[PatternType]
    PATTERN_TYPE_FIRMWARE_CORRELATED: _ClassVar[PatternType]
    PATTERN_TYPE_TMR_CONFIRMED: _ClassVar[PatternType]

class AuditEntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_ENTRY_TYPE_UNSPECIFIED: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_PROBE_RESULT: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_ANOMALY_EVENT: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_QUARANTINE_ACTION: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_CONFIG_CHANGE: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_TMR_RESULT: _ClassVar[AuditEntryType]
    AUDIT_ENTRY_TYPE_SYSTEM_EVENT: _ClassVar[AuditEntryType]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_HIGH: Severity
SEVERITY_CRITICAL: Severity
PROBE_TYPE_UNSPECIFIED: ProbeType
PROBE_TYPE_FMA: ProbeType
PROBE_TYPE_TENSOR_CORE: ProbeType
PROBE_TYPE_TRANSCENDENTAL: ProbeType
PROBE_TYPE_AES: ProbeType
PROBE_TYPE_MEMORY: ProbeType
PROBE_TYPE_REGISTER_FILE: ProbeType
PROBE_TYPE_SHARED_MEMORY: ProbeType
PROBE_RESULT_UNSPECIFIED: ProbeResult
PROBE_RESULT_PASS: ProbeResult
PROBE_RESULT_FAIL: ProbeResult
PROBE_RESULT_ERROR: ProbeResult
PROBE_RESULT_TIMEOUT: ProbeResult
GPU_HEALTH_STATE_UNSPECIFIED: GpuHealthState
GPU_HEALTH_STATE_HEALTHY: GpuHealthState
GPU_HEALTH_STATE_SUSPECT: GpuHealthState
GPU_HEALTH_STATE_QUARANTINED: GpuHealthState
GPU_HEALTH_STATE_DEEP_TEST: GpuHealthState
GPU_HEALTH_STATE_CONDEMNED: GpuHealthState
QUARANTINE_ACTION_UNSPECIFIED: QuarantineAction
QUARANTINE_ACTION_QUARANTINE: QuarantineAction
QUARANTINE_ACTION_REINSTATE: QuarantineAction
QUARANTINE_ACTION_CONDEMN: QuarantineAction
QUARANTINE_ACTION_SCHEDULE_DEEP_TEST: QuarantineAction
ANOMALY_TYPE_UNSPECIFIED: AnomalyType
ANOMALY_TYPE_LOGIT_DRIFT: AnomalyType
ANOMALY_TYPE_ENTROPY_ANOMALY: AnomalyType
ANOMALY_TYPE_KL_DIVERGENCE: AnomalyType
ANOMALY_TYPE_GRADIENT_NORM_SPIKE: AnomalyType
ANOMALY_TYPE_LOSS_SPIKE: AnomalyType
ANOMALY_TYPE_CROSS_RANK_DIVERGENCE: AnomalyType
ANOMALY_TYPE_CHECKPOINT_DIVERGENCE: AnomalyType
ANOMALY_TYPE_INVARIANT_VIOLATION: AnomalyType
ANOMALY_SOURCE_UNSPECIFIED: AnomalySource
ANOMALY_SOURCE_INFERENCE_MONITOR: AnomalySource
ANOMALY_SOURCE_TRAINING_MONITOR: AnomalySource
ANOMALY_SOURCE_INVARIANT_CHECKER: AnomalySource
PATTERN_TYPE_UNSPECIFIED: PatternType
PATTERN_TYPE_MULTI_SIGNAL: PatternType
PATTERN_TYPE_SM_LOCALIZED: PatternType
PATTERN_TYPE_ENVIRONMENTAL: PatternType
PATTERN_TYPE_NODE_CORRELATED: PatternType
PATTERN_TYPE_FIRMWARE_CORRELATED: PatternType
PATTERN_TYPE_TMR_CONFIRMED: PatternType
AUDIT_ENTRY_TYPE_UNSPECIFIED: AuditEntryType
AUDIT_ENTRY_TYPE_PROBE_RESULT: AuditEntryType
AUDIT_ENTRY_TYPE_ANOMALY_EVENT: AuditEntryType
AUDIT_ENTRY_TYPE_QUARANTINE_ACTION: AuditEntryType
AUDIT_ENTRY_TYPE_CONFIG_CHANGE: AuditEntryType
AUDIT_ENTRY_TYPE_TMR_RESULT: AuditEntryType
AUDIT_ENTRY_TYPE_SYSTEM_EVENT: AuditEntryType

class GpuIdentifier(_message.Message):
    __slots__ = ("uuid", "hostname", "device_index", "model", "driver_version", "firmware_version")
    UUID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_INDEX_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DRIVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    hostname: str
    device_index: int
    model: str
    driver_version: str
    firmware_version: str
    def __init__(self, uuid: _Optional[str] = ..., hostname: _Optional[str] = ..., device_index: _Optional[int] = ..., model: _Optional[str] = ..., driver_version: _Optional[str] = ..., firmware_version: _Optional[str] = ...) -> None: ...

class SmIdentifier(_message.Message):
    __slots__ = ("gpu", "sm_id")
    GPU_FIELD_NUMBER: _ClassVar[int]
    SM_ID_FIELD_NUMBER: _ClassVar[int]
    gpu: GpuIdentifier
    sm_id: int
    def __init__(self, gpu: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., sm_id: _Optional[int] = ...) -> None: ...

class SmHealth(_message.Message):
    __slots__ = ("sm", "reliability_score", "probe_pass_count", "probe_fail_count", "disabled", "disable_reason")
    SM_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBE_PASS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBE_FAIL_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    sm: SmIdentifier
    reliability_score: float
    probe_pass_count: int
    probe_fail_count: int
    disabled: bool
    disable_reason: str
    def __init__(self, sm: _Optional[_Union[SmIdentifier, _Mapping]] = ..., reliability_score: _Optional[float] = ..., probe_pass_count: _Optional[int] = ..., probe_fail_count: _Optional[int] = ..., disabled: bool = ..., disable_reason: _Optional[str] = ...) -> None: ...

class GpuHealth(_message.Message):
    __slots__ = ("gpu", "state", "reliability_score", "alpha", "beta", "last_probe_time", "last_anomaly_time", "probe_pass_count", "probe_fail_count", "anomaly_count", "state_changed_at", "state_change_reason", "sm_health", "anomaly_rate", "probe_failure_rate")
    GPU_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    LAST_PROBE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ANOMALY_TIME_FIELD_NUMBER: _ClassVar[int]
    PROBE_PASS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBE_FAIL_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGE_REASON_FIELD_NUMBER: _ClassVar[int]
    SM_HEALTH_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_FIELD_NUMBER: _ClassVar[int]
    PROBE_FAILURE_RATE_FIELD_NUMBER: _ClassVar[int]
    gpu: GpuIdentifier
    state: GpuHealthState
    reliability_score: float
    alpha: float
    beta: float
    last_probe_time: _timestamp_pb2.Timestamp
    last_anomaly_time: _timestamp_pb2.Timestamp
    probe_pass_count: int
    probe_fail_count: int
    anomaly_count: int
    state_changed_at: _timestamp_pb2.Timestamp
    state_change_reason: str
    sm_health: _containers.RepeatedCompositeFieldContainer[SmHealth]
    anomaly_rate: float
    probe_failure_rate: float
    def __init__(self, gpu: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., state: _Optional[_Union[GpuHealthState, str]] = ..., reliability_score: _Optional[float] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., last_probe_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_anomaly_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., probe_pass_count: _Optional[int] = ..., probe_fail_count: _Optional[int] = ..., anomaly_count: _Optional[int] = ..., state_changed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., state_change_reason: _Optional[str] = ..., sm_health: _Optional[_Iterable[_Union[SmHealth, _Mapping]]] = ..., anomaly_rate: _Optional[float] = ..., probe_failure_rate: _Optional[float] = ...) -> None: ...

class FleetHealthSummary(_message.Message):
    __slots__ = ("total_gpus", "healthy", "suspect", "quarantined", "deep_test", "condemned", "overall_sdc_rate", "average_reliability_score", "snapshot_time", "active_agents", "rate_window_seconds")
    TOTAL_GPUS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    SUSPECT_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    DEEP_TEST_FIELD_NUMBER: _ClassVar[int]
    CONDEMNED_FIELD_NUMBER: _ClassVar[int]
    OVERALL_SDC_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RELIABILITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    RATE_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    total_gpus: int
    healthy: int
    suspect: int
    quarantined: int
    deep_test: int
    condemned: int
    overall_sdc_rate: float
    average_reliability_score: float
    snapshot_time: _timestamp_pb2.Timestamp
    active_agents: int
    rate_window_seconds: int
    def __init__(self, total_gpus: _Optional[int] = ..., healthy: _Optional[int] = ..., suspect: _Optional[int] = ..., quarantined: _Optional[int] = ..., deep_test: _Optional[int] = ..., condemned: _Optional[int] = ..., overall_sdc_rate: _Optional[float] = ..., average_reliability_score: _Optional[float] = ..., snapshot_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., active_agents: _Optional[int] = ..., rate_window_seconds: _Optional[int] = ...) -> None: ...

class StateTransition(_message.Message):
    __slots__ = ("from_state", "to_state", "timestamp", "reason", "initiated_by")
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    from_state: GpuHealthState
    to_state: GpuHealthState
    timestamp: _timestamp_pb2.Timestamp
    reason: str
    initiated_by: str
    def __init__(self, from_state: _Optional[_Union[GpuHealthState, str]] = ..., to_state: _Optional[_Union[GpuHealthState, str]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., initiated_by: _Optional[str] = ...) -> None: ...

class ReliabilitySample(_message.Message):
    __slots__ = ("timestamp", "reliability_score", "alpha", "beta")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    reliability_score: float
    alpha: float
    beta: float
    def __init__(self, timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., reliability_score: _Optional[float] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ...) -> None: ...

class CorrelationEvent(_message.Message):
    __slots__ = ("event_id", "events_correlated", "pattern_type", "confidence", "attributed_gpu", "attributed_sm", "description", "timestamp", "severity", "recommended_action")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CORRELATED_FIELD_NUMBER: _ClassVar[int]
    PATTERN_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTED_GPU_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTED_SM_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    events_correlated: _containers.RepeatedScalarFieldContainer[str]
    pattern_type: PatternType
    confidence: float
    attributed_gpu: GpuIdentifier
    attributed_sm: SmIdentifier
    description: str
    timestamp: _timestamp_pb2.Timestamp
    severity: Severity
    recommended_action: str
    def __init__(self, event_id: _Optional[str] = ..., events_correlated: _Optional[_Iterable[str]] = ..., pattern_type: _Optional[_Union[PatternType, str]] = ..., confidence: _Optional[float] = ..., attributed_gpu: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., attributed_sm: _Optional[_Union[SmIdentifier, _Mapping]] = ..., description: _Optional[str] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., severity: _Optional[_Union[Severity, str]] = ..., recommended_action: _Optional[str] = ...) -> None: ...

class ApprovalStatus(_message.Message):
    __slots__ = ("approved", "reviewer", "review_time", "comment")
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    approved: bool
    reviewer: str
    review_time: _timestamp_pb2.Timestamp
    comment: str
    def __init__(self, approved: bool = ..., reviewer: _Optional[str] = ..., review_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., comment: _Optional[str] = ...) -> None: ...

class QuarantineDirective(_message.Message):
    __slots__ = ("directive_id", "gpu", "action", "reason", "initiated_by", "evidence", "timestamp", "priority", "requires_approval", "approval")
    DIRECTIVE_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    directive_id: str
    gpu: GpuIdentifier
    action: QuarantineAction
    reason: str
    initiated_by: str
    evidence: _containers.RepeatedScalarFieldContainer[str]
    timestamp: _timestamp_pb2.Timestamp
    priority: int
    requires_approval: bool
    approval: ApprovalStatus
    def __init__(self, directive_id: _Optional[str] = ..., gpu: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., action: _Optional[_Union[QuarantineAction, str]] = ..., reason: _Optional[str] = ..., initiated_by: _Optional[str] = ..., evidence: _Optional[_Iterable[str]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[int] = ..., requires_approval: bool = ..., approval: _Optional[_Union[ApprovalStatus, _Mapping]] = ...) -> None: ...

class DirectiveResponse(_message.Message):
    __slots__ = ("directive_id", "accepted", "rejection_reason", "resulting_state")
    DIRECTIVE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    RESULTING_STATE_FIELD_NUMBER: _ClassVar[int]
    directive_id: str
    accepted: bool
    rejection_reason: str
    resulting_state: str
    def __init__(self, directive_id: _Optional[str] = ..., accepted: bool = ..., rejection_reason: _Optional[str] = ..., resulting_state: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("entry_id", "entry_type", "timestamp", "gpu", "data", "previous_hash", "entry_hash", "merkle_root")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    entry_type: AuditEntryType
    timestamp: _timestamp_pb2.Timestamp
    gpu: GpuIdentifier
    data: bytes
    previous_hash: bytes
    entry_hash: bytes
    merkle_root: bytes
    def __init__(self, entry_id: _Optional[int] = ..., entry_type: _Optional[_Union[AuditEntryType, str]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., gpu: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., data: _Optional[bytes] = ..., previous_hash: _Optional[bytes] = ..., entry_hash: _Optional[bytes] = ..., merkle_root: _Optional[bytes] = ...) -> None: ...

class TrustEdge(_message.Message):
    __slots__ = ("gpu_a", "gpu_b", "agreement_count", "disagreement_count", "last_comparison", "trust_score")
    GPU_A_FIELD_NUMBER: _ClassVar[int]
    GPU_B_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISAGREEMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_COMPARISON_FIELD_NUMBER: _ClassVar[int]
    TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    gpu_a: GpuIdentifier
    gpu_b: GpuIdentifier
    agreement_count: int
    disagreement_count: int
    last_comparison: _timestamp_pb2.Timestamp
    trust_score: float
    def __init__(self, gpu_a: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., gpu_b: _Optional[_Union[GpuIdentifier, _Mapping]] = ..., agreement_count: _Optional[int] = ..., disagreement_count: _Optional[int] = ..., last_comparison: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., trust_score: _Optional[float] = ...) -> None: ...

class TrustGraphSnapshot(_message.Message):
    __slots__ = ("edges", "timestamp", "coverage_pct", "total_gpus", "min_trust_score", "mean_trust_score")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_PCT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_GPUS_FIELD_NUMBER: _ClassVar[int]
    MIN_TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    MEAN_TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    edges: _containers.RepeatedCompositeFieldContainer[TrustEdge]
    timestamp: _timestamp_pb2.Timestamp
    coverage_pct: float
    total_gpus: int
    min_trust_score: float
    mean_trust_score: float
    def __init__(self, edges: _Optional[_Iterable[_Union[TrustEdge, _Mapping]]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., coverage_pct: _Optional[float] = ..., total_gpus: _Optional[int] = ..., min_trust_score: _Optional[float] = ..., mean_trust_score: _Optional[float] = ...) -> None: ...

class ProbeScheduleEntry(_message.Message):
    __slots__ = ("type", "period_seconds", "sm_coverage", "priority", "enabled", "timeout_ms")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SM_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    type: ProbeType
    period_seconds: int
    sm_coverage: float
    priority: int
    enabled: bool
    timeout_ms: int
    def __init__(self, type: _Optional[_Union[ProbeType, str]] = ..., period_seconds: _Optional[int] = ..., sm_coverage: _Optional[float] = ..., priority: _Optional[int] = ..., enabled: bool = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ProbeScheduleUpdate(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ProbeScheduleEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[ProbeScheduleEntry, _Mapping]]] = ...) -> None: ...

class OverheadBudgetUpdate(_message.Message):
    __slots__ = ("budget_pct",)
    BUDGET_PCT_FIELD_NUMBER: _ClassVar[int]
    budget_pct: float
    def __init__(self, budget_pct: _Optional[float] = ...) -> None: ...

class SamplingRateUpdate(_message.Message):
    __slots__ = ("component", "rate", "delete")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    component: str
    rate: float
    delete: bool
    def __init__(self, component: _Optional[str] = ..., rate: _Optional[float] = ..., delete: bool = ...) -> None: ...

class ThresholdUpdate(_message.Message):
    __slots__ = ("component", "parameter", "value", "delete")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    component: str
    parameter: str
    value: float
    delete: bool
    def __init__(self, component: _Optional[str] = ..., parameter: _Optional[str] = ..., value: _Optional[float] = ..., delete: bool = ...) -> None: ...

class ConfigUpdate(_message.Message):
    __slots__ = ("update_id", "initiated_by", "reason", "probe_schedule", "overhead_budget", "sampling_rate", "threshold")
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROBE_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    OVERHEAD_BUDGET_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_RATE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    update_id: str
    initiated_by: str
    reason: str
    probe_schedule: ProbeScheduleUpdate
    overhead_budget: OverheadBudgetUpdate
    sampling_rate: SamplingRateUpdate
    threshold: ThresholdUpdate
    def __init__(self, update_id: _Optional[str] = ..., initiated_by: _Optional[str] = ..., reason: _Optional[str] = ..., probe_schedule: _Optional[_Union[ProbeScheduleUpdate, _Mapping]] = ..., overhead_budget: _Optional[_Union[OverheadBudgetUpdate, _Mapping]] = ..., sampling_rate: _Optional[_Union[SamplingRateUpdate, _Mapping]] = ..., threshold: _Optional[_Union[ThresholdUpdate, _Mapping]] = ...) -> None: ...

class ConfigAck(_message.Message):
    __slots__ = ("update_id", "applied", "component_id", "error", "config_version")
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    update_id: str
    applied: bool
    component_id: str
    error: str
    config_version: int
    def __init__(self, update_id: _Optional[str] = ..., applied: bool = ..., component_id: _Optional[str] = ..., error: _Optional[str] = ..., config_version: _Optional[int] = ...) -> None: ...

class SystemEvent(_message.Message):
    __slots__ = ("kind", "detail", "timestamp", "initiated_by")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    timestamp: _timestamp_pb2.Timestamp
    initiated_by: str
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., initiated_by: _Optional[str] = ...) -> None: ...

class QuarantineRecord(_message.Message):
    __slots__ = ("directive", "status", "from_state", "to_state")
    DIRECTIVE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    directive: QuarantineDirective
    status: str
    from_state: GpuHealthState
    to_state: GpuHealthState
    def __init__(self, directive: _Optional[_Union[QuarantineDirective, _Mapping]] = ..., status: _Optional[str] = ..., from_state: _Optional[_Union[GpuHealthState, str]] = ..., to_state: _Optional[_Union[GpuHealthState, str]] = ...) -> None: ...

class TmrRecord(_message.Message):
    __slots__ = ("canary_id", "gpu_uuid", "digest", "verdict", "majority_digest")
    CANARY_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MAJORITY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    canary_id: str
    gpu_uuid: str
    digest: bytes
    verdict: str
    majority_digest: bytes
    def __init__(self, canary_id: _Optional[str] = ..., gpu_uuid: _Optional[str] = ..., digest: _Optional[bytes] = ..., verdict: _Optional[str] = ..., majority_digest: _Optional[bytes] = ...) -> None: ...
