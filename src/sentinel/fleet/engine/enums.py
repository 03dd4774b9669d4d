"""Integer enums of the fleet engine, numbered exactly as the wire protocol (``types.proto``).

Plain ``IntEnum`` so the engine can compare and store protobuf integers directly, without
importing the generated code into the domain logic.
"""

from __future__ import annotations

from enum import IntEnum


class GpuState(IntEnum):
    """Lifecycle state of a GPU (``GpuHealthState``)."""

    HEALTHY = 1
    SUSPECT = 2
    QUARANTINED = 3
    DEEP_TEST = 4
    CONDEMNED = 5


class Action(IntEnum):
    """Directive that asks for a lifecycle change (``QuarantineAction``)."""

    QUARANTINE = 1
    REINSTATE = 2
    CONDEMN = 3
    SCHEDULE_DEEP_TEST = 4


class Pattern(IntEnum):
    """Correlation pattern found over several signals (``PatternType``)."""

    MULTI_SIGNAL = 1
    SM_LOCALIZED = 2
    ENVIRONMENTAL = 3
    NODE_CORRELATED = 4
    FIRMWARE_CORRELATED = 5
    TMR_CONFIRMED = 6


class Severity(IntEnum):
    """Severity of an anomaly or a finding; ordered, so ``max`` picks the worst."""

    INFO = 1
    WARNING = 2
    HIGH = 3
    CRITICAL = 4


class ProbeOutcome(IntEnum):
    """Result of one probe execution (``ProbeResult``)."""

    PASS = 1
    FAIL = 2
    ERROR = 3
    TIMEOUT = 4


class ProbeKind(IntEnum):
    """Kind of silent-data-corruption probe (``ProbeType``)."""

    FMA = 1
    TENSOR_CORE = 2
    TRANSCENDENTAL = 3
    AES = 4
    MEMORY = 5
    REGISTER_FILE = 6
    SHARED_MEMORY = 7


class AnomalyKind(IntEnum):
    """Kind of anomaly reported by a monitor (``AnomalyType``)."""

    LOGIT_DRIFT = 1
    ENTROPY_ANOMALY = 2
    KL_DIVERGENCE = 3
    GRADIENT_NORM_SPIKE = 4
    LOSS_SPIKE = 5
    CROSS_RANK_DIVERGENCE = 6
    CHECKPOINT_DIVERGENCE = 7
    INVARIANT_VIOLATION = 8


class AnomalyOrigin(IntEnum):
    """Component that detected an anomaly (``AnomalySource``)."""

    INFERENCE_MONITOR = 1
    TRAINING_MONITOR = 2
    INVARIANT_CHECKER = 3
