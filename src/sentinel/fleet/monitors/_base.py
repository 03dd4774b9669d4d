"""Sampling, thresholds and reporting shared by the monitors."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

from sentinel.fleet.monitors._types import Anomaly, AnomalySink
from sentinel.fleet.types import AnomalyType, Severity

_EMPTY: Mapping[str, float] = {}


def severity_for(score: float, threshold: float) -> Severity:
    """CRITICAL for non-finite values, HIGH at twice the threshold, WARNING below."""
    if score == float("inf"):
        return Severity.CRITICAL
    return Severity.HIGH if abs(score) >= 2 * abs(threshold) else Severity.WARNING


class Monitor:
    """Holds a monitor's GPU, sink, sampling rate and named thresholds.

    Args:
        gpu_uuid: GPU the monitored work runs on; every anomaly is attributed to it.
        sink: Receives each anomaly (an ``EngineReporter``, or any ``AnomalySink``).
        defaults: Each threshold parameter and its default value.
        sampling_rate: Fraction of observations checked, in [0, 1].
        seed: Seeds the sampling draws, for reproducible runs and tests.
    """

    component: str
    source: int

    def __init__(
        self,
        gpu_uuid: str,
        sink: AnomalySink,
        defaults: Mapping[str, float],
        *,
        sampling_rate: float,
        seed: int | None,
    ) -> None:
        if not gpu_uuid:
            raise ValueError(
                f"{type(self).__name__} needs the gpu_uuid of the GPU it runs on "
                "(e.g. 'GPU-8f2c...', as `nvidia-smi -L` prints it)"
            )
        self.gpu_uuid = gpu_uuid
        self.sink = sink
        self.thresholds = dict(defaults)
        self.sampling_rate = _rate(sampling_rate)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def configure(
        self, *, sampling_rate: float | None = None, thresholds: Mapping[str, float] = _EMPTY
    ) -> None:
        """Apply a config update; all of it or, when any part is invalid, none of it.

        Raises:
            ValueError: ``sampling_rate`` is outside [0, 1] or a parameter is unknown.
        """
        unknown = sorted(set(thresholds) - set(self.thresholds))
        if unknown:
            known = ", ".join(f"{self.component}.{name}" for name in sorted(self.thresholds))
            raise ValueError(
                f"unknown {self.component} parameter(s) {', '.join(unknown)}; known: {known}"
            )
        rate = self.sampling_rate if sampling_rate is None else _rate(sampling_rate)
        with self._lock:
            self.sampling_rate = rate
            self.thresholds.update({k: float(v) for k, v in thresholds.items()})

    def sample(self) -> bool:
        """Draw whether the next observation is checked; adapters call it before costly work."""
        with self._lock:
            return self._rng.random() < self.sampling_rate

    def _emit(
        self,
        anomaly_type: AnomalyType,
        score: float,
        threshold: float,
        detail: str,
        *,
        severity: Severity | None = None,
        gpu_uuid: str | None = None,
    ) -> Anomaly:
        anomaly = Anomaly(
            gpu_uuid=gpu_uuid or self.gpu_uuid,
            anomaly_type=anomaly_type,
            source=self.source,
            severity=severity or severity_for(score, threshold),
            score=score,
            threshold=threshold,
            detail=detail,
        )
        self.sink.report(anomaly)
        return anomaly


def _rate(rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sampling_rate must be in [0, 1], got {rate}")
    return float(rate)
