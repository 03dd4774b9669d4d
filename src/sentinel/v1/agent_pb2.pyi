from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sentinel.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GpuRegistration(_message.Message):
    __slots__ = ("gpu", "sm_count")
    GPU_FIELD_NUMBER: _ClassVar[int]
    SM_COUNT_FIELD_NUMBER: _ClassVar[int]
    gpu: _types_pb2.GpuIdentifier
    sm_count: int
    def __init__(self, gpu: _Optional[_Union[_types_pb2.GpuIdentifier, _Mapping]] = ..., sm_count: _Optional[int] = ...) -> None: ...

class RegisterAgentRequest(_message.Message):
    __slots__ = ("hostname", "agent_version", "gpus")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    agent_version: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuRegistration]
    def __init__(self, hostname: _Optional[str] = ..., agent_version: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuRegistration, _Mapping]]] = ...) -> None: ...

class AgentConfig(_message.Message):
    __slots__ = ("config_version", "probe_schedule", "overhead_budget_pct", "sampling_rates", "thresholds", "update_id")
    class SamplingRatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROBE_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    OVERHEAD_BUDGET_PCT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_RATES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    probe_schedule: _containers.RepeatedCompositeFieldContainer[_types_pb2.ProbeScheduleEntry]
    overhead_budget_pct: float
    sampling_rates: _containers.ScalarMap[str, float]
    thresholds: _containers.ScalarMap[str, float]
    update_id: str
    def __init__(self, config_version: _Optional[int] = ..., probe_schedule: _Optional[_Iterable[_Union[_types_pb2.ProbeScheduleEntry, _Mapping]]] = ..., overhead_budget_pct: _Optional[float] = ..., sampling_rates: _Optional[_Mapping[str, float]] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., update_id: _Optional[str] = ...) -> None: ...

class RegisterAgentResponse(_message.Message):
    __slots__ = ("agent_id", "config", "heartbeat_interval_seconds")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    config: AgentConfig
    heartbeat_interval_seconds: int
    def __init__(self, agent_id: _Optional[str] = ..., config: _Optional[_Union[AgentConfig, _Mapping]] = ..., heartbeat_interval_seconds: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent_id", "hostname", "config_version", "timestamp")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    config_version: int
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., config_version: _Optional[int] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("config_version",)
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    def __init__(self, config_version: _Optional[int] = ...) -> None: ...

class SmProbeOutcome(_message.Message):
    __slots__ = ("sm_id", "result", "detail")
    SM_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    sm_id: int
    result: _types_pb2.ProbeResult
    detail: str
    def __init__(self, sm_id: _Optional[int] = ..., result: _Optional[_Union[_types_pb2.ProbeResult, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ProbeReport(_message.Message):
    __slots__ = ("report_id", "gpu_uuid", "probe_type", "result", "timestamp", "duration_us", "sm_outcomes", "sm_details", "detail", "deep_test")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    PROBE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    SM_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    SM_DETAILS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DEEP_TEST_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    gpu_uuid: str
    probe_type: _types_pb2.ProbeType
    result: _types_pb2.ProbeResult
    timestamp: _timestamp_pb2.Timestamp
    duration_us: int
    sm_outcomes: bytes
    sm_details: _containers.RepeatedCompositeFieldContainer[SmProbeOutcome]
    detail: str
    deep_test: bool
    def __init__(self, report_id: _Optional[str] = ..., gpu_uuid: _Optional[str] = ..., probe_type: _Optional[_Union[_types_pb2.ProbeType, str]] = ..., result: _Optional[_Union[_types_pb2.ProbeResult, str]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., duration_us: _Optional[int] = ..., sm_outcomes: _Optional[bytes] = ..., sm_details: _Optional[_Iterable[_Union[SmProbeOutcome, _Mapping]]] = ..., detail: _Optional[str] = ..., deep_test: bool = ...) -> None: ...

class ProbeReportBatch(_message.Message):
    __slots__ = ("agent_id", "reports")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reports: _containers.RepeatedCompositeFieldContainer[ProbeReport]
    def __init__(self, agent_id: _Optional[str] = ..., reports: _Optional[_Iterable[_Union[ProbeReport, _Mapping]]] = ...) -> None: ...

class AnomalyReport(_message.Message):
    __slots__ = ("report_id", "gpu_uuid", "anomaly_type", "source", "severity", "score", "threshold", "timestamp", "has_sm", "sm_id", "detail")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    HAS_SM_FIELD_NUMBER: _ClassVar[int]
    SM_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    gpu_uuid: str
    anomaly_type: _types_pb2.AnomalyType
    source: _types_pb2.AnomalySource
    severity: _types_pb2.Severity
    score: float
    threshold: float
    timestamp: _timestamp_pb2.Timestamp
    has_sm: bool
    sm_id: int
    detail: str
    def __init__(self, report_id: _Optional[str] = ..., gpu_uuid: _Optional[str] = ..., anomaly_type: _Optional[_Union[_types_pb2.AnomalyType, str]] = ..., source: _Optional[_Union[_types_pb2.AnomalySource, str]] = ..., severity: _Optional[_Union[_types_pb2.Severity, str]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., has_sm: bool = ..., sm_id: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class AnomalyReportBatch(_message.Message):
    __slots__ = ("agent_id", "reports")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reports: _containers.RepeatedCompositeFieldContainer[AnomalyReport]
    def __init__(self, agent_id: _Optional[str] = ..., reports: _Optional[_Iterable[_Union[AnomalyReport, _Mapping]]] = ...) -> None: ...

class TmrReport(_message.Message):
    __slots__ = ("report_id", "canary_id", "gpu_uuid", "digest", "timestamp")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CANARY_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    canary_id: str
    gpu_uuid: str
    digest: bytes
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[str] = ..., canary_id: _Optional[str] = ..., gpu_uuid: _Optional[str] = ..., digest: _Optional[bytes] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TmrReportBatch(_message.Message):
    __slots__ = ("agent_id", "reports")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reports: _containers.RepeatedCompositeFieldContainer[TmrReport]
    def __init__(self, agent_id: _Optional[str] = ..., reports: _Optional[_Iterable[_Union[TmrReport, _Mapping]]] = ...) -> None: ...

class GpuTelemetry(_message.Message):
    __slots__ = ("gpu_uuid", "timestamp", "temperature_c", "power_w", "sm_clock_mhz", "mem_clock_mhz", "throttle_reasons", "ecc_single_bit", "ecc_double_bit", "retired_rows", "remapped_rows", "xid_events")
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    SM_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    MEM_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_REASONS_FIELD_NUMBER: _ClassVar[int]
    ECC_SINGLE_BIT_FIELD_NUMBER: _ClassVar[int]
    ECC_DOUBLE_BIT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_ROWS_FIELD_NUMBER: _ClassVar[int]
    REMAPPED_ROWS_FIELD_NUMBER: _ClassVar[int]
    XID_EVENTS_FIELD_NUMBER: _ClassVar[int]
    gpu_uuid: str
    timestamp: _timestamp_pb2.Timestamp
    temperature_c: float
    power_w: float
    sm_clock_mhz: int
    mem_clock_mhz: int
    throttle_reasons: int
    ecc_single_bit: int
    ecc_double_bit: int
    retired_rows: int
    remapped_rows: int
    xid_events: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, gpu_uuid: _Optional[str] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., temperature_c: _Optional[float] = ..., power_w: _Optional[float] = ..., sm_clock_mhz: _Optional[int] = ..., mem_clock_mhz: _Optional[int] = ..., throttle_reasons: _Optional[int] = ..., ecc_single_bit: _Optional[int] = ..., ecc_double_bit: _Optional[int] = ..., retired_rows: _Optional[int] = ..., remapped_rows: _Optional[int] = ..., xid_events: _Optional[_Iterable[int]] = ...) -> None: ...

class TelemetryBatch(_message.Message):
    __slots__ = ("agent_id", "samples")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    samples: _containers.RepeatedCompositeFieldContainer[GpuTelemetry]
    def __init__(self, agent_id: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[GpuTelemetry, _Mapping]]] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("agent_id", "hostname", "config_version")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    config_version: int
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., config_version: _Optional[int] = ...) -> None: ...

class TmrAssignment(_message.Message):
    __slots__ = ("canary_id", "workload_seed", "participants")
    CANARY_ID_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_SEED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    canary_id: str
    workload_seed: int
    participants: _containers.RepeatedCompositeFieldContainer[_types_pb2.GpuIdentifier]
    def __init__(self, canary_id: _Optional[str] = ..., workload_seed: _Optional[int] = ..., participants: _Optional[_Iterable[_Union[_types_pb2.GpuIdentifier, _Mapping]]] = ...) -> None: ...

class GpuStateChange(_message.Message):
    __slots__ = ("gpu", "state", "reason")
    GPU_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gpu: _types_pb2.GpuIdentifier
    state: _types_pb2.GpuHealthState
    reason: str
    def __init__(self, gpu: _Optional[_Union[_types_pb2.GpuIdentifier, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.GpuHealthState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentCommand(_message.Message):
    __slots__ = ("directive", "config", "tmr", "state")
    DIRECTIVE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TMR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    directive: _types_pb2.QuarantineDirective
    config: AgentConfig
    tmr: TmrAssignment
    state: GpuStateChange
    def __init__(self, directive: _Optional[_Union[_types_pb2.QuarantineDirective, _Mapping]] = ..., config: _Optional[_Union[AgentConfig, _Mapping]] = ..., tmr: _Optional[_Union[TmrAssignment, _Mapping]] = ..., state: _Optional[_Union[GpuStateChange, _Mapping]] = ...) -> None: ...

class AckConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
