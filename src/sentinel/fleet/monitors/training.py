"""TrainingMonitor: gradient-norm and loss spikes, cross-rank and checkpoint divergence."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from sentinel.core.detectors import RollingMad
from sentinel.fleet.monitors._base import Monitor
from sentinel.fleet.monitors._types import Anomaly, AnomalySink
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

__all__ = ["TrainingMonitor", "state_digest", "tensor_digest"]


def _feed(h: hashlib._Hash, array: ArrayLike) -> None:
    a = np.ascontiguousarray(array)
    # dtype and shape are hashed too: the same bytes read as another array are another state
    h.update(f"{a.dtype.str}{a.shape};".encode())
    h.update(a.data)


def tensor_digest(array: ArrayLike) -> bytes:
    """SHA-256 of an array's dtype, shape and bytes; equal only for bit-identical arrays."""
    h = hashlib.sha256()
    _feed(h, array)
    return h.digest()


def state_digest(items: Iterable[tuple[str, ArrayLike]]) -> bytes:
    """SHA-256 over named arrays in the given order (sort the names where order may differ).

    Takes an iterable so a caller can produce one array at a time, e.g. copying
    parameters off a GPU one by one instead of all at once.
    """
    h = hashlib.sha256()
    for name, array in items:
        h.update(name.encode() + b"\0")
        _feed(h, array)
    return h.digest()


class TrainingMonitor(Monitor):
    """Watches a training loop for the numerical symptoms of silent data corruption.

    Per checked step (``observe_step`` samples, ``check_step`` always checks):

    * gradient-norm spike: robust z-score of ``log(grad_norm)`` against the last
      ``window`` checked steps (``grad_norm_threshold``, 6), upward only. The log makes
      the score independent of the norm's scale; the median and MAD are not dragged up
      by the spike itself, so it cannot mask the next one.
    * loss spike: robust z-score of the loss against the last ``window`` checked steps
      (``loss_spike_threshold``, 6), upward only. A spike is *explained by the
      learning-rate schedule*, and not reported, when the learning rate rose within
      the last ``lr_grace_steps`` checked steps, this one included (warmup, a restart
      of a cyclic schedule): a larger step size legitimately raises the loss for a
      while. With a flat or decaying learning rate the loss should not jump, so the
      spike is reported.
    * a NaN or infinite loss or gradient norm is reported at once, as CRITICAL.

    On demand: ``compare_ranks`` (data-parallel replicas hold bit-identical parameters
    after every optimizer step, and identical gradients after the all-reduce) and
    ``check_checkpoint``; neither is sampled.

    Args:
        gpu_uuid: GPU this rank trains on.
        sink: Receives the anomalies.
        window: Checked steps the spike checks compare with.
        min_history: Checked steps needed before the spike checks score.
        lr_grace_steps: Checked steps after a learning-rate rise during which a loss
            spike is explained by the schedule.
        sampling_rate: Fraction of steps checked (``training_monitor`` rate).
        seed: Seeds the sampling.
    """

    component = "training_monitor"
    source = AnomalySource.TRAINING_MONITOR

    def __init__(
        self,
        gpu_uuid: str,
        sink: AnomalySink,
        *,
        window: int = 100,
        min_history: int = 20,
        lr_grace_steps: int = 10,
        sampling_rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            gpu_uuid,
            sink,
            {"grad_norm_threshold": 6.0, "loss_spike_threshold": 6.0},
            sampling_rate=sampling_rate,
            seed=seed,
        )
        self._grad = RollingMad(window, min_history=min_history)
        self._loss = RollingMad(window, min_history=min_history)
        self._lr_grace = lr_grace_steps
        self._last_lr: float | None = None
        self._since_lr_rise = lr_grace_steps

    def observe_step(
        self, *, loss: float | None = None, grad_norm: float | None = None, lr: float | None = None
    ) -> list[Anomaly]:
        """Check a step if it is sampled; returns the anomalies reported."""
        if not self.sample():
            return []
        return self.check_step(loss=loss, grad_norm=grad_norm, lr=lr)

    def check_step(
        self, *, loss: float | None = None, grad_norm: float | None = None, lr: float | None = None
    ) -> list[Anomaly]:
        """Check one step (no sampling: the caller has drawn already).

        Args:
            loss: The step's loss.
            grad_norm: Total gradient norm before clipping (clipping hides spikes).
            lr: Learning rate the step used; without it no spike is explained.
        """
        self._note_lr(lr)
        found = []
        if grad_norm is not None:
            found.append(self._grad_check(float(grad_norm)))
        if loss is not None:
            found.append(self._loss_check(float(loss)))
        return [a for a in found if a is not None]

    def _note_lr(self, lr: float | None) -> None:
        if lr is None:
            return
        rose = self._last_lr is not None and lr > self._last_lr
        self._since_lr_rise = 0 if rose else self._since_lr_rise + 1
        self._last_lr = lr

    def _grad_check(self, norm: float) -> Anomaly | None:
        threshold = self.thresholds["grad_norm_threshold"]
        if not math.isfinite(norm):
            return self._emit(
                AnomalyType.GRADIENT_NORM_SPIKE, math.inf, threshold, f"gradient norm is {norm}"
            )
        z = self._grad.update(math.log(max(norm, 1e-30)))
        if z <= threshold:
            return None
        return self._emit(
            AnomalyType.GRADIENT_NORM_SPIKE,
            z,
            threshold,
            f"gradient norm {norm:.4g} is {z:.1f} robust sigmas (log scale) above recent steps",
        )

    def _loss_check(self, loss: float) -> Anomaly | None:
        threshold = self.thresholds["loss_spike_threshold"]
        if not math.isfinite(loss):
            return self._emit(AnomalyType.LOSS_SPIKE, math.inf, threshold, f"loss is {loss}")
        z = self._loss.update(loss)
        if z <= threshold or self._since_lr_rise < self._lr_grace:
            return None
        return self._emit(
            AnomalyType.LOSS_SPIKE,
            z,
            threshold,
            f"loss {loss:.4g} is {z:.1f} robust sigmas above recent steps and the "
            "learning rate did not rise to explain it",
        )

    def compare_ranks(
        self, digests: Mapping[int, bytes], *, rank_gpus: Mapping[int, str] | None = None
    ) -> Anomaly | None:
        """Compare the parameter (or gradient) digests of data-parallel ranks.

        The ranks holding the most common digest are the majority; the others are
        named as diverging. With ``rank_gpus`` and a single diverging rank the anomaly
        is attributed to that rank's GPU, otherwise to this monitor's GPU.

        Args:
            digests: Digest per rank (``tensor_digest``/``state_digest``, same step).
            rank_gpus: GPU UUID per rank.

        Returns:
            The anomaly reported, or ``None`` when every rank agrees.
        """
        counts = Counter(digests.values())
        if len(counts) <= 1:
            return None
        (top, n_top), (_, n_next) = counts.most_common(2)
        diverging = sorted(r for r, d in digests.items() if d != top)
        fraction = len(diverging) / len(digests)
        if n_top == n_next:
            groups = sorted(sorted(r for r, d in digests.items() if d == g) for g in counts)
            return self._emit(
                AnomalyType.CROSS_RANK_DIVERGENCE,
                fraction,
                0.0,
                f"ranks disagree with no majority: groups {groups}",
                severity=Severity.WARNING,
            )
        gpu = None
        if rank_gpus is not None and len(diverging) == 1:
            gpu = rank_gpus.get(diverging[0])
        return self._emit(
            AnomalyType.CROSS_RANK_DIVERGENCE,
            fraction,
            0.0,
            f"rank(s) {diverging} diverge from the {n_top} of {len(digests)} ranks that agree",
            severity=Severity.HIGH,
            gpu_uuid=gpu,
        )

    def check_checkpoint(
        self, saved_digest: bytes, expected_digest: bytes, *, name: str = "checkpoint"
    ) -> Anomaly | None:
        """Compare a reloaded checkpoint's digest with the in-memory state's digest.

        Returns:
            The anomaly reported, or ``None`` when they match.
        """
        if saved_digest == expected_digest:
            return None
        return self._emit(
            AnomalyType.CHECKPOINT_DIVERGENCE,
            1.0,
            0.0,
            f"{name}: digest {saved_digest.hex()[:16]} differs from the in-memory state's "
            f"{expected_digest.hex()[:16]}",
            severity=Severity.HIGH,
        )
