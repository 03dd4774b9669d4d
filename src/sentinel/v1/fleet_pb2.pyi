from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sentinel.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryGpuHealthRequest(_message.Message):
    __slots__ = ("gpu_uuid",)
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    gpu_uuid: str
    def __init__(self, gpu_uuid: _Optional[str] = ...) -> None: ...

class QueryFleetHealthRequest(_message.Message):
    __slots__ = ("hostname_prefix", "model_filter", "state_filter")
    HOSTNAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    MODEL_FILTER_FIELD_NUMBER: _ClassVar[int]
    STATE_FILTER_FIELD_NUMBER: _ClassVar[int]
    hostname_prefix: str
    model_filter: str
    state_filter: _containers.RepeatedScalarFieldContainer[_types_pb2.GpuHealthState]
    def __init__(self, hostname_prefix: _Optional[str] = ..., model_filter: _Optional[str] = ..., state_filter: _Optional[_Iterable[_Union[_types_pb2.GpuHealthState, str]]] = ...) -> None: ...

class ListGpusRequest(_message.Message):
    __slots__ = ("hostname_prefix", "model_filter", "state_filter", "limit", "page_token")
    HOSTNAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    MODEL_FILTER_FIELD_NUMBER: _ClassVar[int]
    STATE_FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hostname_prefix: str
    model_filter: str
    state_filter: _containers.RepeatedScalarFieldContainer[_types_pb2.GpuHealthState]
    limit: int
    page_token: str
    def __init__(self, hostname_prefix: _Optional[str] = ..., model_filter: _Optional[str] = ..., state_filter: _Optional[_Iterable[_Union[_types_pb2.GpuHealthState, str]]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGpusResponse(_message.Message):
    __slots__ = ("gpus", "next_page_token", "total_count")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[_types_pb2.GpuHealth]
    next_page_token: str
    total_count: int
    def __init__(self, gpus: _Optional[_Iterable[_Union[_types_pb2.GpuHealth, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetGpuHistoryRequest(_message.Message):
    __slots__ = ("gpu_uuid", "start_time", "end_time", "limit", "page_token")
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    gpu_uuid: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    limit: int
    page_token: str
    def __init__(self, gpu_uuid: _Optional[str] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GpuHistoryResponse(_message.Message):
    __slots__ = ("state_transitions", "correlations", "reliability_history", "next_page_token")
    STATE_TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_HISTORY_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state_transitions: _containers.RepeatedCompositeFieldContainer[_types_pb2.StateTransition]
    correlations: _containers.RepeatedCompositeFieldContainer[_types_pb2.CorrelationEvent]
    reliability_history: _containers.RepeatedCompositeFieldContainer[_types_pb2.ReliabilitySample]
    next_page_token: str
    def __init__(self, state_transitions: _Optional[_Iterable[_Union[_types_pb2.StateTransition, _Mapping]]] = ..., correlations: _Optional[_Iterable[_Union[_types_pb2.CorrelationEvent, _Mapping]]] = ..., reliability_history: _Optional[_Iterable[_Union[_types_pb2.ReliabilitySample, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class IssueQuarantineRequest(_message.Message):
    __slots__ = ("gpu_uuid", "action", "reason", "initiated_by", "evidence", "requires_approval")
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    gpu_uuid: str
    action: _types_pb2.QuarantineAction
    reason: str
    initiated_by: str
    evidence: _containers.RepeatedScalarFieldContainer[str]
    requires_approval: bool
    def __init__(self, gpu_uuid: _Optional[str] = ..., action: _Optional[_Union[_types_pb2.QuarantineAction, str]] = ..., reason: _Optional[str] = ..., initiated_by: _Optional[str] = ..., evidence: _Optional[_Iterable[str]] = ..., requires_approval: bool = ...) -> None: ...

class ListDirectivesRequest(_message.Message):
    __slots__ = ("pending_only", "gpu_uuid", "limit")
    PENDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    GPU_UUID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    pending_only: bool
    gpu_uuid: str
    limit: int
    def __init__(self, pending_only: bool = ..., gpu_uuid: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDirectivesResponse(_message.Message):
    __slots__ = ("directives",)
    DIRECTIVES_FIELD_NUMBER: _ClassVar[int]
    directives: _containers.RepeatedCompositeFieldContainer[_types_pb2.QuarantineDirective]
    def __init__(self, directives: _Optional[_Iterable[_Union[_types_pb2.QuarantineDirective, _Mapping]]] = ...) -> None: ...

class ReviewDirectiveRequest(_message.Message):
    __slots__ = ("directive_id", "approve", "comment")
    DIRECTIVE_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    directive_id: str
    approve: bool
    comment: str
    def __init__(self, directive_id: _Optional[str] = ..., approve: bool = ..., comment: _Optional[str] = ...) -> None: ...

class AuditQueryFilters(_message.Message):
    __slots__ = ("gpu", "start_time", "end_time", "entry_type", "limit", "page_token", "descending")
    GPU_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    gpu: _types_pb2.GpuIdentifier
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    entry_type: _types_pb2.AuditEntryType
    limit: int
    page_token: str
    descending: bool
    def __init__(self, gpu: _Optional[_Union[_types_pb2.GpuIdentifier, _Mapping]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., entry_type: _Optional[_Union[_types_pb2.AuditEntryType, str]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., descending: bool = ...) -> None: ...

class AuditQueryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "total_count")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_types_pb2.AuditEntry]
    next_page_token: str
    total_count: int
    def __init__(self, entries: _Optional[_Iterable[_Union[_types_pb2.AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class VerifyChainRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "start_entry_id", "end_entry_id", "verify_merkle_roots")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    START_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    END_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFY_MERKLE_ROOTS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    start_entry_id: int
    end_entry_id: int
    verify_merkle_roots: bool
    def __init__(self, start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., start_entry_id: _Optional[int] = ..., end_entry_id: _Optional[int] = ..., verify_merkle_roots: bool = ...) -> None: ...

class ChainVerificationResult(_message.Message):
    __slots__ = ("valid", "first_invalid_entry_id", "failure_description", "entries_verified", "batches_verified", "verification_time_ms", "merkle_roots")
    VALID_FIELD_NUMBER: _ClassVar[int]
    FIRST_INVALID_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOTS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    first_invalid_entry_id: int
    failure_description: str
    entries_verified: int
    batches_verified: int
    verification_time_ms: int
    merkle_roots: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, valid: bool = ..., first_invalid_entry_id: _Optional[int] = ..., failure_description: _Optional[str] = ..., entries_verified: _Optional[int] = ..., batches_verified: _Optional[int] = ..., verification_time_ms: _Optional[int] = ..., merkle_roots: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetTrustGraphRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("hostname_filter", "action_filter")
    HOSTNAME_FILTER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FILTER_FIELD_NUMBER: _ClassVar[int]
    hostname_filter: str
    action_filter: _types_pb2.QuarantineAction
    def __init__(self, hostname_filter: _Optional[str] = ..., action_filter: _Optional[_Union[_types_pb2.QuarantineAction, str]] = ...) -> None: ...

class ListConfigAcksRequest(_message.Message):
    __slots__ = ("update_id",)
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    update_id: str
    def __init__(self, update_id: _Optional[str] = ...) -> None: ...

class ListConfigAcksResponse(_message.Message):
    __slots__ = ("update_id", "config_version", "acks")
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    update_id: str
    config_version: int
    acks: _containers.RepeatedCompositeFieldContainer[_types_pb2.ConfigAck]
    def __init__(self, update_id: _Optional[str] = ..., config_version: _Optional[int] = ..., acks: _Optional[_Iterable[_Union[_types_pb2.ConfigAck, _Mapping]]] = ...) -> None: ...
