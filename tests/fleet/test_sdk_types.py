"""The SDK's models and enums, and their conversion to and from the protobuf messages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any

import pytest
from google.protobuf.message import Message
from pydantic import BaseModel, ValidationError

from sentinel.fleet import types
from sentinel.fleet._convert import _is_repeated, from_message, to_message
from sentinel.fleet.types import (
    ApprovalStatus,
    AuditEntry,
    AuditEntryType,
    AuditQueryFilters,
    AuditQueryResponse,
    ChainVerificationResult,
    ConfigAck,
    ConfigAckList,
    ConfigUpdate,
    CorrelationEvent,
    DirectiveResponse,
    FleetHealthSummary,
    GpuHealth,
    GpuHealthState,
    GpuHistoryResponse,
    GpuIdentifier,
    ListGpusResult,
    OverheadBudgetUpdate,
    PatternType,
    ProbeScheduleEntry,
    ProbeScheduleUpdate,
    ProbeType,
    QuarantineAction,
    QuarantineDirective,
    ReliabilitySample,
    SamplingRateUpdate,
    Severity,
    SmHealth,
    SmIdentifier,
    StateTransition,
    ThresholdUpdate,
    TrustEdge,
    TrustGraphSnapshot,
)
from sentinel.v1 import fleet_pb2, types_pb2

WHEN = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=timezone.utc)

# The seed's enum tables: each name's position is its integer value.
SEED_ENUMS: dict[type[IntEnum], str] = {
    types.Severity: "UNSPECIFIED INFO WARNING HIGH CRITICAL",
    types.ProbeType: (
        "UNSPECIFIED FMA TENSOR_CORE TRANSCENDENTAL AES MEMORY REGISTER_FILE SHARED_MEMORY"
    ),
    types.ProbeResult: "UNSPECIFIED PASS FAIL ERROR TIMEOUT",
    types.GpuHealthState: "UNSPECIFIED HEALTHY SUSPECT QUARANTINED DEEP_TEST CONDEMNED",
    types.QuarantineAction: "UNSPECIFIED QUARANTINE REINSTATE CONDEMN SCHEDULE_DEEP_TEST",
    types.AnomalyType: (
        "UNSPECIFIED LOGIT_DRIFT ENTROPY_ANOMALY KL_DIVERGENCE GRADIENT_NORM_SPIKE LOSS_SPIKE "
        "CROSS_RANK_DIVERGENCE CHECKPOINT_DIVERGENCE INVARIANT_VIOLATION"
    ),
    types.AnomalySource: "UNSPECIFIED INFERENCE_MONITOR TRAINING_MONITOR INVARIANT_CHECKER",
    types.PatternType: (
        "UNSPECIFIED MULTI_SIGNAL SM_LOCALIZED ENVIRONMENTAL NODE_CORRELATED "
        "FIRMWARE_CORRELATED TMR_CONFIRMED"
    ),
    types.AuditEntryType: (
        "UNSPECIFIED PROBE_RESULT ANOMALY_EVENT QUARANTINE_ACTION CONFIG_CHANGE TMR_RESULT "
        "SYSTEM_EVENT"
    ),
}

GPU = GpuIdentifier(
    uuid="GPU-abcd1234-5678-9abc-def0-123456789abc",
    hostname="gpu-rack-01",
    device_index=3,
    model="NVIDIA H100 80GB HBM3",
    driver_version="535.129.03",
    firmware_version="96.00.5E.00.01",
)
SM = SmIdentifier(gpu=GPU, sm_id=42)
SM_HEALTH = SmHealth(
    sm=SM,
    reliability_score=0.5,
    probe_pass_count=10,
    probe_fail_count=2,
    disabled=True,
    disable_reason="masked",
)
GPU_HEALTH = GpuHealth(
    gpu=GPU,
    state=GpuHealthState.SUSPECT,
    reliability_score=0.75,
    alpha=3.0,
    beta=1.0,
    last_probe_time=WHEN,
    last_anomaly_time=WHEN - timedelta(hours=1),
    probe_pass_count=100,
    probe_fail_count=2,
    anomaly_count=1,
    state_changed_at=WHEN,
    state_change_reason="probe failures",
    sm_health=[SM_HEALTH],
    anomaly_rate=0.5,
    probe_failure_rate=0.25,
)
TRANSITION = StateTransition(
    from_state=GpuHealthState.HEALTHY,
    to_state=GpuHealthState.SUSPECT,
    timestamp=WHEN,
    reason="probe failures",
    initiated_by="engine",
)
SAMPLE = ReliabilitySample(timestamp=WHEN, reliability_score=0.9, alpha=9.0, beta=1.0)
CORRELATION = CorrelationEvent(
    event_id="evt-1",
    events_correlated=["a", "b"],
    pattern_type=PatternType.SM_LOCALIZED,
    confidence=0.8,
    attributed_gpu=GPU,
    attributed_sm=SM,
    description="probe and anomaly on SM 42",
    timestamp=WHEN,
    severity=Severity.HIGH,
    recommended_action="QUARANTINE",
)
APPROVAL = ApprovalStatus(approved=True, reviewer="bob", review_time=WHEN, comment="ok")
DIRECTIVE = QuarantineDirective(
    directive_id="d-1",
    gpu=GPU,
    action=QuarantineAction.SCHEDULE_DEEP_TEST,
    reason="confirmed",
    initiated_by="operator:jane",
    evidence=["probe-1"],
    timestamp=WHEN,
    priority=2,
    requires_approval=True,
    approval=APPROVAL,
)
ENTRY = AuditEntry(
    entry_id=7,
    entry_type=AuditEntryType.CONFIG_CHANGE,
    timestamp=WHEN,
    gpu=GPU,
    data=b"\x00\x01",
    previous_hash=b"\x02" * 32,
    entry_hash=b"\x03" * 32,
    merkle_root=b"\x04" * 32,
)
EDGE = TrustEdge(
    gpu_a=GPU,
    gpu_b=GPU.model_copy(update={"uuid": "GPU-b"}),
    agreement_count=9,
    disagreement_count=1,
    last_comparison=WHEN,
    trust_score=0.9,
)
SCHEDULE = ProbeScheduleUpdate(
    entries=[
        ProbeScheduleEntry(
            type=ProbeType.TENSOR_CORE,
            period_seconds=120,
            sm_coverage=0.25,
            priority=2,
            enabled=True,
            timeout_ms=10000,
        )
    ]
)
OVERHEAD = OverheadBudgetUpdate(budget_pct=1.5)
SAMPLING = SamplingRateUpdate(component="inference_monitor", rate=0.1, delete=True)
THRESHOLD = ThresholdUpdate(component="inference_monitor", parameter="kl", value=0.05, delete=True)

# One instance of every model with every field away from its default.
SAMPLES: list[BaseModel] = [
    GPU,
    SM,
    SM_HEALTH,
    GPU_HEALTH,
    FleetHealthSummary(
        total_gpus=8,
        healthy=3,
        suspect=1,
        quarantined=1,
        deep_test=1,
        condemned=2,
        overall_sdc_rate=1e-6,
        average_reliability_score=0.99,
        snapshot_time=WHEN,
        active_agents=2,
        rate_window_seconds=3600,
    ),
    ListGpusResult(gpus=[GPU_HEALTH], next_page_token="p2", total_count=9),
    TRANSITION,
    SAMPLE,
    CORRELATION,
    GpuHistoryResponse(
        state_transitions=[TRANSITION],
        correlations=[CORRELATION],
        reliability_history=[SAMPLE],
        next_page_token="p2",
    ),
    DIRECTIVE,
    APPROVAL,
    DirectiveResponse(
        directive_id="d-1", accepted=True, rejection_reason="-", resulting_state="QUARANTINED"
    ),
    ENTRY,
    AuditQueryFilters(
        gpu=GPU,
        start_time=WHEN,
        end_time=WHEN,
        entry_type=AuditEntryType.TMR_RESULT,
        limit=50,
        page_token="p1",
        descending=True,
    ),
    AuditQueryResponse(entries=[ENTRY], next_page_token="p2", total_count=1),
    ChainVerificationResult(
        valid=True,
        first_invalid_entry_id=5,
        failure_description="-",
        entries_verified=10,
        batches_verified=1,
        verification_time_ms=3,
        merkle_roots=[b"\x05" * 32],
    ),
    EDGE,
    TrustGraphSnapshot(
        edges=[EDGE],
        timestamp=WHEN,
        coverage_pct=50.0,
        total_gpus=2,
        min_trust_score=0.9,
        mean_trust_score=0.9,
    ),
    SCHEDULE.entries[0],
    SCHEDULE,
    OVERHEAD,
    SAMPLING,
    THRESHOLD,
    ConfigUpdate(
        update_id="cfg-1",
        initiated_by="operator:jane",
        reason="all four, to test conversion",
        probe_schedule=SCHEDULE,
        overhead_budget=OVERHEAD,
        sampling_rate=SAMPLING,
        threshold=THRESHOLD,
    ),
    ConfigAck(update_id="cfg-1", applied=True, component_id="h1", error="-", config_version=4),
    ConfigAckList(
        update_id="cfg-1",
        config_version=4,
        acks=[
            ConfigAck(update_id="c", applied=True, component_id="h", error="-", config_version=5)
        ],
    ),
]


def _proto_class(model: type[BaseModel]) -> type[Message]:
    name = {"ListGpusResult": "ListGpusResponse", "ConfigAckList": "ListConfigAcksResponse"}.get(
        model.__name__, model.__name__
    )
    return getattr(types_pb2, name, None) or getattr(fleet_pb2, name)  # type: ignore[no-any-return]


def _unset_fields(message: Message, path: str = "") -> list[str]:
    present = {field.name for field, _ in message.ListFields()}
    missing: list[str] = []
    for field in message.DESCRIPTOR.fields:
        if field.name not in present:
            missing.append(path + field.name)
        elif field.message_type is not None and field.message_type.name != "Timestamp":
            value = getattr(message, field.name)
            for item in value if _is_repeated(field) else [value]:
                missing += _unset_fields(item, f"{path}{field.name}.")
    return missing


def test_the_samples_cover_every_model() -> None:
    models = {
        value
        for name, value in vars(types).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == types.__name__
        and not name.startswith("_")
    }

    assert {type(sample) for sample in SAMPLES} == models


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: type(sample).__name__)
def test_every_model_round_trips_with_every_field_set(sample: BaseModel) -> None:
    message = to_message(_proto_class(type(sample)), sample)

    assert _unset_fields(message) == []
    assert from_message(message, type(sample)) == sample


@pytest.mark.parametrize("enum", list(SEED_ENUMS), ids=lambda enum: enum.__name__)
def test_enum_values_are_the_seeds_and_the_protos(enum: type[IntEnum]) -> None:
    proto_enum = getattr(types_pb2, enum.__name__)
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.__name__).upper()

    assert [member.name for member in enum] == SEED_ENUMS[enum].split()
    assert [member.value for member in enum] == list(range(len(enum)))
    assert {f"{prefix}_{m.name}": m.value for m in enum} == dict(proto_enum.items())


def test_unset_timestamps_and_messages_become_none() -> None:
    health = from_message(types_pb2.GpuHealth(reliability_score=1.0), GpuHealth)

    assert health.gpu is None
    assert health.last_probe_time is None
    assert health.sm_health == []
    assert health.state is GpuHealthState.UNSPECIFIED


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(2025, 3, 1, 12), datetime(2025, 3, 1, 12, tzinfo=timezone.utc)),
        (datetime(2025, 3, 1, 14, tzinfo=timezone(timedelta(hours=2))), datetime(2025, 3, 1, 12)),
    ],
)
def test_datetimes_are_normalised_to_utc(given: datetime, expected: datetime) -> None:
    filters = AuditQueryFilters(start_time=given)
    message = to_message(fleet_pb2.AuditQueryFilters, filters)

    assert filters.start_time == expected.replace(tzinfo=timezone.utc)
    assert filters.start_time is not None
    assert filters.start_time.tzinfo is timezone.utc
    assert message.start_time.ToDatetime() == expected.replace(tzinfo=None)


def test_audit_filters_are_mutable_and_validated() -> None:
    filters = AuditQueryFilters(limit=500)

    filters.page_token = "p2"
    filters.entry_type = 3  # type: ignore[assignment]

    assert (filters.page_token, filters.entry_type) == ("p2", AuditEntryType.QUARANTINE_ACTION)
    with pytest.raises(ValidationError):
        filters.limit = "many"  # type: ignore[assignment]


def test_responses_are_frozen_and_typos_are_refused() -> None:
    with pytest.raises(ValidationError):
        GPU.uuid = "GPU-other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ProbeScheduleEntry(probe_type=ProbeType.FMA)  # type: ignore[call-arg]


def test_requests_build_from_mappings() -> None:
    message: Any = to_message(
        fleet_pb2.QueryFleetHealthRequest,
        {"hostname_prefix": "gpu-rack", "state_filter": [GpuHealthState.CONDEMNED]},
    )

    assert message.hostname_prefix == "gpu-rack"
    assert list(message.state_filter) == [types_pb2.GPU_HEALTH_STATE_CONDEMNED]
