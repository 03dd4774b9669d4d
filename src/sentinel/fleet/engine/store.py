"""Tables of the fleet engine. The in-memory state is rebuilt from these at start."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base


class GpuRow(Base):
    """One GPU: identity, lifecycle state, Bayesian reliability and lifetime counters."""

    __tablename__ = "fleet_gpus"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    device_index: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(128), index=True)
    driver_version: Mapped[str] = mapped_column(String(64))
    firmware_version: Mapped[str] = mapped_column(String(64))
    sm_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(SmallInteger)
    state_changed_us: Mapped[int] = mapped_column(BigInteger)
    state_change_reason: Mapped[str] = mapped_column(Text)
    alpha: Mapped[float] = mapped_column(Float)
    beta: Mapped[float] = mapped_column(Float)
    reliability_updated: Mapped[float] = mapped_column(Float)
    probe_pass_count: Mapped[int] = mapped_column(BigInteger)
    probe_fail_count: Mapped[int] = mapped_column(BigInteger)
    anomaly_count: Mapped[int] = mapped_column(BigInteger)
    last_probe_us: Mapped[int] = mapped_column(BigInteger)
    last_anomaly_us: Mapped[int] = mapped_column(BigInteger)
    passes_since_deep_test: Mapped[int] = mapped_column(BigInteger)
    deep_test_types: Mapped[int] = mapped_column(Integer)
    deep_test_failed: Mapped[bool] = mapped_column(Boolean)
    agent_id: Mapped[str] = mapped_column(String(64))
    registered_us: Mapped[int] = mapped_column(BigInteger)
    # Per-SM reliability, packed: float64 alpha, beta and uint64 pass, fail per SM id.
    sm_blob: Mapped[bytes] = mapped_column(LargeBinary)
    sm_disabled: Mapped[str] = mapped_column(Text)


class TransitionRow(Base):
    """A lifecycle transition of one GPU."""

    __tablename__ = "fleet_transitions"
    __table_args__ = (Index("ix_fleet_transitions_gpu_ts", "gpu_uuid", "ts_us", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[int] = mapped_column(SmallInteger)
    to_state: Mapped[int] = mapped_column(SmallInteger)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    initiated_by: Mapped[str] = mapped_column(String(255))


class ReliabilitySampleRow(Base):
    """A sampled point of a GPU's reliability series."""

    __tablename__ = "fleet_reliability_samples"
    __table_args__ = (Index("ix_fleet_reliability_gpu_ts", "gpu_uuid", "ts_us", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(64))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float)
    beta: Mapped[float] = mapped_column(Float)


class CorrelationRow(Base):
    """A correlation finding."""

    __tablename__ = "fleet_correlations"
    __table_args__ = (Index("ix_fleet_correlations_gpu_ts", "gpu_uuid", "ts_us"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gpu_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sm_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pattern: Mapped[int] = mapped_column(SmallInteger)
    confidence: Mapped[float] = mapped_column(Float)
    severity: Mapped[int] = mapped_column(SmallInteger)
    description: Mapped[str] = mapped_column(Text)
    recommended_action: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text)
    ts_us: Mapped[int] = mapped_column(BigInteger)


class DirectiveRow(Base):
    """A quarantine directive and its review."""

    __tablename__ = "fleet_directives"
    __table_args__ = (Index("ix_fleet_directives_gpu_ts", "gpu_uuid", "ts_us"),)

    directive_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(64))
    action: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(Text)
    initiated_by: Mapped[str] = mapped_column(String(255))
    evidence: Mapped[str] = mapped_column(Text)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer)
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reviewer: Mapped[str] = mapped_column(String(255))
    review_us: Mapped[int] = mapped_column(BigInteger)
    comment: Mapped[str] = mapped_column(Text)


class AgentRow(Base):
    """A probe agent (one per GPU host)."""

    __tablename__ = "fleet_agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    agent_version: Mapped[str] = mapped_column(String(64))
    registered_us: Mapped[int] = mapped_column(BigInteger)
    last_heartbeat_us: Mapped[int] = mapped_column(BigInteger)
    config_version: Mapped[int] = mapped_column(BigInteger)
    config_error: Mapped[str] = mapped_column(Text)


class TrustEdgeRow(Base):
    """Agreement counts of one GPU pair from TMR canaries (gpu_a < gpu_b)."""

    __tablename__ = "fleet_trust_edges"

    gpu_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    gpu_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreement_count: Mapped[int] = mapped_column(BigInteger)
    disagreement_count: Mapped[int] = mapped_column(BigInteger)
    last_us: Mapped[int] = mapped_column(BigInteger)


class TelemetryRow(Base):
    """One environmental sample of one GPU."""

    __tablename__ = "fleet_telemetry"
    __table_args__ = (Index("ix_fleet_telemetry_gpu_ts", "gpu_uuid", "ts_us"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(64))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    temperature_c: Mapped[float] = mapped_column(Float)
    power_w: Mapped[float] = mapped_column(Float)
    sm_clock_mhz: Mapped[int] = mapped_column(Integer)
    mem_clock_mhz: Mapped[int] = mapped_column(Integer)
    throttle_reasons: Mapped[int] = mapped_column(BigInteger)
    ecc_single_bit: Mapped[int] = mapped_column(BigInteger)
    ecc_double_bit: Mapped[int] = mapped_column(BigInteger)
    retired_rows: Mapped[int] = mapped_column(Integer)
    remapped_rows: Mapped[int] = mapped_column(Integer)
    xid_events: Mapped[str] = mapped_column(Text)


class ConfigRow(Base):
    """One version of the fleet configuration pushed to agents (the newest is current)."""

    __tablename__ = "fleet_config"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[str] = mapped_column(String(64))
    initiated_by: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    # Serialized sentinel.v1.AgentConfig of this version.
    config: Mapped[bytes] = mapped_column(LargeBinary)


class TmrCanaryRow(Base):
    """A TMR canary: three GPUs run one fixed-seed workload; digests are voted on."""

    __tablename__ = "fleet_tmr_canaries"

    canary_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workload_seed: Mapped[int] = mapped_column(BigInteger)
    participants: Mapped[str] = mapped_column(Text)
    created_us: Mapped[int] = mapped_column(BigInteger)
    digests: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))


class ReportIdRow(Base):
    """The id of every report the engine acknowledged, written with the report's own batch.

    The primary key makes duplicate detection exact across restarts: a report id is either
    here (committed, so a replay is a duplicate) or its batch never committed.
    """

    __tablename__ = "fleet_report_ids"

    report_id: Mapped[str] = mapped_column(String, primary_key=True)
