"""What monitors report and the interfaces they report through."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sentinel.core.ids import uuid7

__all__ = ["Anomaly", "AnomalySink", "Configurable"]


@dataclass(frozen=True)
class Anomaly:
    """One workload-level anomaly, attributed to the GPU the work ran on."""

    gpu_uuid: str
    """UUID of the GPU (``GPU-...``, as NVML and the agent name it)."""
    anomaly_type: int
    """An ``AnomalyType`` value."""
    source: int
    """An ``AnomalySource`` value: which monitor saw it."""
    severity: int
    """A ``Severity`` value."""
    score: float
    """The detector's score; ``inf`` when a value was NaN or infinite."""
    threshold: float
    """The threshold the score crossed."""
    detail: str = ""
    """What was seen, for the audit trail and the operator."""
    sm_id: int | None = None
    """Streaming multiprocessor, when the anomaly can be pinned to one."""
    timestamp: float = field(default_factory=time.time)
    """When it was seen, in seconds since the epoch."""
    report_id: str = field(default_factory=uuid7)
    """Unique per anomaly, so the engine counts a resent report once."""


@runtime_checkable
class AnomalySink(Protocol):
    """Where monitors send anomalies; ``report`` must neither block nor raise."""

    def report(self, anomaly: Anomaly) -> None: ...


@runtime_checkable
class Configurable(Protocol):
    """A monitor whose sampling rate and thresholds the engine's config updates set."""

    component: str
    """``inference_monitor``, ``training_monitor`` or ``invariant_checker``."""

    def configure(
        self, *, sampling_rate: float | None = None, thresholds: Mapping[str, float] = {}
    ) -> None: ...
