"""InvariantChecker: properties every correct forward pass has, checked on its tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from sentinel.fleet.monitors._base import Monitor
from sentinel.fleet.monitors._types import Anomaly, AnomalySink
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

__all__ = ["InvariantChecker"]

Invariant = Literal["softmax", "layer_norm", "finite"]

_TOLERANCE = {"softmax": "softmax_tolerance", "layer_norm": "layer_norm_tolerance"}


def _rows(array: ArrayLike) -> np.ndarray:
    a = np.asarray(array, dtype=np.float64)
    return a.reshape(-1, a.shape[-1])


class InvariantChecker(Monitor):
    """Checks invariants of a forward pass that hold whatever the model and data.

    * softmax: every row is a distribution; the deviation is the largest of
      ``|row sum - 1|`` and any probability outside [0, 1] (``softmax_tolerance``, 1e-3).
    * layer norm: undoing the affine part of a LayerNorm output gives rows with mean 0
      and variance ``v / (v + eps) <= 1``; the deviation is the largest ``|row mean|``
      or variance above 1 (``layer_norm_tolerance``, 1e-2).
    * finite: no NaN or infinity (no tolerance; reported as CRITICAL).
    * user invariants: ``register(name, predicate)``, then ``check(name, value)``; a
      predicate that returns False is a violation. A predicate that raises is a bug in
      the caller's code and propagates.

    The ``check_*`` methods sample (``invariant_checker`` rate); ``evaluate`` does not,
    for adapters that compute the deviation on the device after drawing ``sample()``.

    Args:
        gpu_uuid: GPU the forward pass runs on.
        sink: Receives the anomalies.
        sampling_rate: Fraction of checks run.
        seed: Seeds the sampling.
    """

    component = "invariant_checker"
    source = AnomalySource.INVARIANT_CHECKER

    def __init__(
        self,
        gpu_uuid: str,
        sink: AnomalySink,
        *,
        sampling_rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            gpu_uuid,
            sink,
            {"softmax_tolerance": 1e-3, "layer_norm_tolerance": 1e-2},
            sampling_rate=sampling_rate,
            seed=seed,
        )
        self._user: dict[str, Callable[[Any], bool]] = {}

    def register(self, name: str, predicate: Callable[[Any], bool]) -> None:
        """Add a user invariant: ``predicate(value)`` is True when ``value`` is correct."""
        self._user[name] = predicate

    def check(self, name: str, value: Any) -> Anomaly | None:
        """Check ``value`` against the registered invariant ``name`` if sampled.

        Raises:
            KeyError: No invariant of that name was registered.
        """
        if name not in self._user:
            raise KeyError(f"no invariant {name!r}; registered: {sorted(self._user)}")
        if not self.sample() or self._user[name](value):
            return None
        return self._emit(
            AnomalyType.INVARIANT_VIOLATION,
            1.0,
            0.0,
            f"invariant {name!r} does not hold",
            severity=Severity.HIGH,
        )

    def check_softmax(self, probs: ArrayLike, *, name: str = "softmax") -> Anomaly | None:
        """Check that each row of ``probs`` (last axis) is a probability distribution."""
        if not self.sample():
            return None
        p = _rows(probs)
        if not np.isfinite(p).all():
            return self.evaluate("finite", float(np.size(p) - np.isfinite(p).sum()), name=name)
        deviation = max(
            float(np.abs(p.sum(axis=1) - 1.0).max()), -float(p.min()), float(p.max()) - 1.0
        )
        return self.evaluate("softmax", deviation, name=name)

    def check_layer_norm(
        self,
        output: ArrayLike,
        weight: ArrayLike | None = None,
        bias: ArrayLike | None = None,
        *,
        name: str = "layer_norm",
    ) -> Anomaly | None:
        """Check a LayerNorm output (normalised over the last axis) and its affine parameters."""
        if not self.sample():
            return None
        y = _rows(output)
        if not np.isfinite(y).all():
            return self.evaluate("finite", float(np.size(y) - np.isfinite(y).sum()), name=name)
        if bias is not None:
            y = y - np.asarray(bias, dtype=np.float64)
        if weight is not None:
            w = np.asarray(weight, dtype=np.float64)
            keep = np.abs(w) > 1e-12  # a zeroed feature carries no information to invert
            y = y[:, keep] / w[keep]
        deviation = max(float(np.abs(y.mean(axis=1)).max()), float(y.var(axis=1).max()) - 1.0)
        return self.evaluate("layer_norm", deviation, name=name)

    def check_finite(self, array: ArrayLike, *, name: str = "tensor") -> Anomaly | None:
        """Check that ``array`` holds no NaN or infinity."""
        if not self.sample():
            return None
        a = np.asarray(array)
        return self.evaluate("finite", float(a.size - np.isfinite(a).sum()), name=name)

    def evaluate(self, invariant: Invariant, deviation: float, *, name: str) -> Anomaly | None:
        """Report ``deviation`` if it breaks ``invariant`` (no sampling).

        Args:
            invariant: Which invariant was measured.
            deviation: For ``finite`` the count of non-finite values, otherwise the
                deviation defined in the class docstring.
            name: Names the tensor or module in the anomaly's detail.
        """
        if invariant == "finite":
            if deviation <= 0:
                return None
            return self._emit(
                AnomalyType.INVARIANT_VIOLATION,
                deviation,
                0.0,
                f"{name}: {deviation:.0f} NaN or infinite value(s)",
                severity=Severity.CRITICAL,
            )
        tolerance = self.thresholds[_TOLERANCE[invariant]]
        if deviation <= tolerance:  # NaN compares False: a NaN deviation is reported
            return None
        return self._emit(
            AnomalyType.INVARIANT_VIOLATION,
            deviation,
            tolerance,
            f"{name}: {invariant} invariant off by {deviation:.3g} (tolerance {tolerance:g})",
            severity=Severity.HIGH,
        )
