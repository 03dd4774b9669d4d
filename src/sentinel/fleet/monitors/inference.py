"""InferenceMonitor: logit drift, entropy anomalies and KL divergence from a reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sentinel.core.detectors import Ewma, RollingMad, kl_divergence, log_softmax
from sentinel.fleet.monitors._base import Monitor
from sentinel.fleet.monitors._types import Anomaly, AnomalySink
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

__all__ = ["InferenceMonitor", "LogitSummary", "summarize_logits"]


@dataclass(frozen=True)
class LogitSummary:
    """What the monitor needs from one batch of logits; adapters compute it on the device."""

    rows: int
    """Predictions in the batch."""
    mean_logit: float
    """Mean of all logits."""
    std_logit: float
    """Standard deviation of all logits."""
    mean_entropy: float
    """Mean entropy of the rows' predicted distributions, in nats."""
    marginal: NDArray[np.floating]
    """Mean predicted distribution over the rows (length: the number of classes)."""
    finite: bool = True
    """False when any logit was NaN or infinite; the other fields are then meaningless."""


def summarize_logits(logits: ArrayLike) -> LogitSummary:
    """Summarise a ``(..., classes)`` array of logits; leading axes are rows."""
    a = np.asarray(logits)
    a = a.reshape(-1, a.shape[-1])
    if not np.isfinite(a).all():
        return LogitSummary(a.shape[0], np.nan, np.nan, np.nan, np.empty(0), finite=False)
    logp = log_softmax(a)
    p = np.exp(logp)
    return LogitSummary(
        rows=a.shape[0],
        mean_logit=float(a.mean(dtype=np.float64)),
        std_logit=float(a.std(dtype=np.float64)),
        mean_entropy=float(-(p * logp).sum(axis=1, dtype=np.float64).mean()),
        marginal=p.mean(axis=0, dtype=np.float64),
    )


class InferenceMonitor(Monitor):
    """Watches the logits a model serves for signs that the GPU computes them wrong.

    Three checks run on every sampled batch:

    * logit drift: EWMA control charts on the batch mean and standard deviation of the
      logits; score in sigmas of the smoothed level (``logit_drift_threshold``, 6).
    * entropy anomaly: robust z-score of the batch's mean prediction entropy against
      the last ``window`` batches (``entropy_threshold``, 6; both directions).
    * KL divergence: KL(batch mean distribution || reference) in nats
      (``kl_divergence_threshold``, 1.0). The reference is given, or the mean
      distribution of the first ``warmup`` checked batches. A clean batch's KL grows
      as predictions get more peaked and batches smaller, so calibrate the threshold
      on clean traffic of the batch size you serve (a few times its largest KL).

    Thresholds are set with ``configure(thresholds={"kl_divergence_threshold": ...})``
    or, from the engine, as ``inference_monitor.<parameter>``.

    Args:
        gpu_uuid: GPU the model runs on.
        sink: Receives the anomalies.
        reference: Reference distribution over the classes (probabilities or counts).
        warmup: Checked batches that set the drift baseline (and the reference).
        window: Batches the entropy check compares with.
        ewma_alpha: Weight of the newest batch in the drift charts.
        sampling_rate: Fraction of batches checked (``inference_monitor`` rate).
        seed: Seeds the sampling.
    """

    component = "inference_monitor"
    source = AnomalySource.INFERENCE_MONITOR

    def __init__(
        self,
        gpu_uuid: str,
        sink: AnomalySink,
        *,
        reference: ArrayLike | None = None,
        warmup: int = 50,
        window: int = 100,
        ewma_alpha: float = 0.1,
        sampling_rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            gpu_uuid,
            sink,
            {
                "logit_drift_threshold": 6.0,
                "entropy_threshold": 6.0,
                "kl_divergence_threshold": 1.0,
            },
            sampling_rate=sampling_rate,
            seed=seed,
        )
        self._warmup = warmup
        self._mean = Ewma(ewma_alpha, warmup=warmup)
        self._std = Ewma(ewma_alpha, warmup=warmup)
        self._entropy = RollingMad(window, min_history=min(warmup, window))
        self._reference = None if reference is None else np.asarray(reference, np.float64)
        self._warmup_marginals: list[NDArray[np.floating]] = []

    def observe(self, logits: ArrayLike) -> list[Anomaly]:
        """Check a batch of logits if it is sampled; returns the anomalies reported."""
        if not self.sample():
            return []
        return self.check_summary(summarize_logits(logits))

    def check_summary(self, summary: LogitSummary) -> list[Anomaly]:
        """Check one batch's summary (no sampling: the caller has drawn already)."""
        if not summary.finite:
            return [
                self._emit(
                    AnomalyType.LOGIT_DRIFT,
                    float("inf"),
                    self.thresholds["logit_drift_threshold"],
                    f"logits of a {summary.rows}-row batch contain NaN or Inf",
                    severity=Severity.CRITICAL,
                )
            ]
        found = [self._drift(summary), self._entropy_check(summary), self._kl(summary)]
        return [a for a in found if a is not None]

    def _drift(self, s: LogitSummary) -> Anomaly | None:
        score = max(self._mean.update(s.mean_logit), self._std.update(s.std_logit))
        threshold = self.thresholds["logit_drift_threshold"]
        if score <= threshold:
            return None
        self._mean.reset()
        self._std.reset()  # one report per shift, not one per batch until it decays
        return self._emit(
            AnomalyType.LOGIT_DRIFT,
            score,
            threshold,
            f"smoothed logit level drifted {score:.1f} sigmas "
            f"(batch mean {s.mean_logit:.4g}, std {s.std_logit:.4g})",
        )

    def _entropy_check(self, s: LogitSummary) -> Anomaly | None:
        z = self._entropy.update(s.mean_entropy)
        threshold = self.thresholds["entropy_threshold"]
        if abs(z) <= threshold:
            return None
        return self._emit(
            AnomalyType.ENTROPY_ANOMALY,
            abs(z),
            threshold,
            f"mean prediction entropy {s.mean_entropy:.4g} nats is {z:+.1f} robust sigmas "
            "from recent batches",
        )

    def _kl(self, s: LogitSummary) -> Anomaly | None:
        if self._reference is None:
            self._warmup_marginals.append(s.marginal)
            if len(self._warmup_marginals) >= self._warmup:
                self._reference = np.mean(self._warmup_marginals, axis=0)
                self._warmup_marginals = []
            return None
        if self._reference.shape != s.marginal.shape:
            raise ValueError(
                f"logits have {s.marginal.shape[0]} classes but the reference has "
                f"{self._reference.shape[0]}; pass a reference over the model's classes"
            )
        kl = float(kl_divergence(s.marginal, self._reference))
        threshold = self.thresholds["kl_divergence_threshold"]
        if kl <= threshold:
            return None
        return self._emit(
            AnomalyType.KL_DIVERGENCE,
            kl,
            threshold,
            f"KL(batch || reference) = {kl:.4g} nats over {s.rows} predictions",
        )
