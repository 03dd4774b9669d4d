"""What the detector service produces: anomalies, closed windows and GPU reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sentinel.llm.types import AnomalyType, DetectionMethod, Severity

_NAMESPACE = uuid.UUID("6f1c2f53-7f0e-4d55-9a55-2c8d6f3e4a11")


def anomaly_id(service: str, model: str, kind: AnomalyType, start: float, gpu: str) -> str:
    """A stable id: replaying the same events yields the same ids, so nothing is doubled."""
    return str(uuid.uuid5(_NAMESPACE, f"{service}\x1f{model}\x1f{kind.value}\x1f{start}\x1f{gpu}"))


def severity_for(ratio: float) -> Severity:
    """Severity from how far a score is past its threshold (``score / threshold``)."""
    if ratio >= 6:
        return Severity.CRITICAL
    if ratio >= 3:
        return Severity.HIGH
    if ratio >= 1.5:
        return Severity.MEDIUM
    return Severity.LOW


@dataclass
class Anomaly:
    """One anomaly of one (service, model): what, how found, how bad, when, and why."""

    anomaly_id: str
    service: str
    model: str
    type: AnomalyType
    method: DetectionMethod
    severity: Severity
    score: float
    threshold: float
    metric: str
    """The window metric it concerns (``latency_p95_ms``), charted around it."""
    value: float
    expected: float
    window_start: float
    """Event time (Unix seconds) of the first window it covers."""
    window_end: float
    detected_at: float
    """Event time of the event that made it detectable."""
    evidence: dict[str, Any] = field(default_factory=dict)
    gpu_uuid: str = ""
    windows: int = 1

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.window_start, tz=timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self.window_end, tz=timezone.utc)

    def to_json(self) -> dict[str, Any]:
        return {
            "anomaly_id": self.anomaly_id,
            "service": self.service,
            "model": self.model,
            "type": self.type.value,
            "method": self.method.value,
            "severity": self.severity.value,
            "score": self.score,
            "threshold": self.threshold,
            "metric": self.metric,
            "value": self.value,
            "expected": self.expected,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "detected_at": datetime.fromtimestamp(self.detected_at, tz=timezone.utc).isoformat(),
            "windows": self.windows,
            "gpu_uuid": self.gpu_uuid or None,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class WindowRecord:
    """The figures of one closed window of one (service, model), for charts."""

    service: str
    model: str
    start: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class GpuReport:
    """Output drift seen on one GPU alone: a silent-data-corruption signal for the fleet."""

    anomaly_id: str
    gpu_uuid: str
    service: str
    model: str
    severity: Severity
    score: float
    threshold: float
    timestamp: float
    """Event time (Unix seconds) of the window that showed it."""
    detail: str
