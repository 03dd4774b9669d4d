"""Statistical detectors shared by every domain (fleet monitors, forecast drift, LLM telemetry).

Streaming detectors are small classes whose ``update(x)`` folds one observation in and
returns a score the caller compares with its threshold; the distribution measures are
pure functions over NumPy arrays. Scores are one-sided or two-sided as documented, and
never NaN for finite input: degenerate spreads are floored, not divided by.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAD_TO_SIGMA",
    "Cusum",
    "Ewma",
    "RollingMad",
    "ZScore",
    "entropy",
    "kl_divergence",
    "log_softmax",
    "mad",
    "psi",
    "robust_zscore",
    "softmax",
]

MAD_TO_SIGMA = 1.4826
"""Scales a median absolute deviation to the standard deviation of a normal distribution."""

_TINY = 1e-12


def _floor(spread: float, centre: float) -> float:
    # A constant history has no spread; scoring against a relative floor keeps a
    # change from a constant level finite and large rather than inf or NaN.
    return max(spread, 1e-9 * abs(centre), _TINY)


def log_softmax(x: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    """Log-softmax by log-sum-exp, so large logits neither overflow nor lose precision.

    float32 input stays float32 (logits are large and this runs on every sampled
    batch); any other dtype is computed in float64.
    """
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    """Softmax, computed as ``exp(log_softmax(x))``."""
    return np.exp(log_softmax(x, axis=axis))


def entropy(p: ArrayLike, axis: int = -1) -> NDArray[np.floating] | float:
    """Shannon entropy in nats of the distributions along ``axis``, with ``0 log 0 = 0``."""
    a = np.asarray(p, dtype=np.float64)
    a = a / np.sum(a, axis=axis, keepdims=True)
    logs = np.log(np.where(a > 0, a, 1.0))
    result = -np.sum(a * logs, axis=axis)
    return float(result) if np.ndim(result) == 0 else result


def _normalise(p: ArrayLike, eps: float, axis: int) -> NDArray[np.floating]:
    a = np.asarray(p, dtype=np.float64) + eps
    return a / np.sum(a, axis=axis, keepdims=True)


def kl_divergence(
    p: ArrayLike, q: ArrayLike, *, eps: float = 1e-10, axis: int = -1
) -> NDArray[np.floating] | float:
    """KL(p || q) in nats along ``axis``.

    Both inputs are smoothed with ``eps`` and renormalised first, so a category that
    ``q`` never saw costs a large but finite amount instead of infinity; counts work
    as well as probabilities.
    """
    ps, qs = _normalise(p, eps, axis), _normalise(q, eps, axis)
    result = np.sum(ps * (np.log(ps) - np.log(qs)), axis=axis)
    result = np.maximum(result, 0.0)  # rounding can leave -1e-17 for identical inputs
    return float(result) if np.ndim(result) == 0 else result


def psi(expected: ArrayLike, actual: ArrayLike, *, eps: float = 1e-6) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` of two binned distributions.

    Args:
        expected: Bin counts or proportions of the reference population.
        actual: Bin counts or proportions of the population under test, same bins.
        eps: Added to every bin before normalising so empty bins stay finite.

    Returns:
        The PSI; by convention below 0.1 is stable and above 0.25 a major shift.
    """
    e, a = _normalise(expected, eps, -1), _normalise(actual, eps, -1)
    return float(np.sum((a - e) * np.log(a / e)))


def mad(x: ArrayLike) -> float:
    """Median absolute deviation from the median (unscaled)."""
    a = np.asarray(x, dtype=np.float64)
    return float(np.median(np.abs(a - np.median(a))))


def robust_zscore(x: float, history: ArrayLike) -> float:
    """Signed distance of ``x`` from the median of ``history`` in MAD-estimated sigmas.

    Unlike a mean/standard-deviation z-score, a few outliers in ``history`` barely
    move the median or the MAD, so they cannot mask the next outlier.
    """
    h = np.asarray(history, dtype=np.float64)
    centre = float(np.median(h))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(h - centre)))
    return (x - centre) / _floor(spread, centre)


class ZScore:
    """Running mean and variance (Welford); ``update`` scores ``x`` against what came before.

    Args:
        warmup: Observations to take in before scoring; until then ``update`` returns 0.
    """

    def __init__(self, *, warmup: int = 2) -> None:
        self.warmup = max(warmup, 2)
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation of the observations so far."""
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else 0.0

    def update(self, x: float) -> float:
        """Fold ``x`` in; returns its signed z-score against the earlier observations."""
        score = 0.0
        if self.count >= self.warmup:
            score = (x - self.mean) / _floor(self.std, self.mean)
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (x - self.mean)
        return score


class Ewma:
    """EWMA control chart (Roberts, 1959): flags small, persistent shifts of a level.

    The first ``warmup`` observations estimate the in-control mean and standard
    deviation; after that each observation moves the smoothed level
    ``s = alpha * x + (1 - alpha) * s``, and the score is the distance of ``s`` from
    the in-control mean in units of its own standard deviation
    ``sigma * sqrt(alpha / (2 - alpha))``. Averaging makes a drift of a fraction of
    sigma stand out that a per-observation z-score would miss.

    Args:
        alpha: Smoothing weight of the newest observation, in (0, 1].
        warmup: Observations used to estimate the in-control mean and deviation.
    """

    def __init__(self, alpha: float = 0.1, *, warmup: int = 20) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self._baseline = ZScore(warmup=max(warmup, 2))
        self.level = 0.0

    @property
    def ready(self) -> bool:
        """Whether the in-control baseline is estimated and ``update`` scores."""
        return self._baseline.count >= self._baseline.warmup

    def update(self, x: float) -> float:
        """Fold ``x`` in; returns the absolute standardised distance of the smoothed level."""
        base = self._baseline
        if not self.ready:
            base.update(x)
            self.level = base.mean
            return 0.0
        self.level = self.alpha * x + (1 - self.alpha) * self.level
        sigma = _floor(base.std, base.mean) * math.sqrt(self.alpha / (2 - self.alpha))
        return abs(self.level - base.mean) / sigma

    def reset(self) -> None:
        """Restart the smoothed level at the in-control mean, as after a signalled shift."""
        self.level = self._baseline.mean


class RollingMad:
    """Robust z-score of each observation against a sliding window of the previous ones.

    Args:
        window: How many recent observations form the reference.
        min_history: Observations needed before ``update`` scores; until then it returns 0.
    """

    def __init__(self, window: int = 100, *, min_history: int = 20) -> None:
        if not 3 <= min_history <= window:
            raise ValueError(f"need 3 <= min_history <= window, got {min_history} and {window}")
        self.min_history = min_history
        self._values: deque[float] = deque(maxlen=window)

    def __len__(self) -> int:
        return len(self._values)

    def score(self, x: float) -> float:
        """Signed robust z-score of ``x`` against the window, without folding it in."""
        if len(self._values) < self.min_history:
            return 0.0
        return robust_zscore(x, self._values)

    def update(self, x: float) -> float:
        """Score ``x`` against the window, then add it to the window."""
        result = self.score(x)
        self._values.append(x)
        return result


class Cusum:
    """Two-sided tabular CUSUM (Page, 1954) on standardised observations.

    ``S+ = max(0, S+ + z - k)`` and ``S- = max(0, S- - z - k)`` accumulate evidence of a
    mean shift of about ``2k`` sigmas while noise keeps resetting them to 0; an alarm
    is conventionally raised when either exceeds ``h`` (4 to 5). The in-control mean
    and deviation are given, or estimated from the first ``warmup`` observations.

    Args:
        k: Allowance in sigmas; half the shift the chart is tuned to find.
        mean: In-control mean; estimated during warmup when ``None``.
        std: In-control standard deviation; estimated during warmup when ``None``.
        warmup: Observations used to estimate whichever of ``mean`` and ``std`` is missing.
    """

    def __init__(
        self,
        k: float = 0.5,
        *,
        mean: float | None = None,
        std: float | None = None,
        warmup: int = 20,
    ) -> None:
        if std is not None and std <= 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.k = k
        self._mean, self._std = mean, std
        self._baseline = ZScore(warmup=warmup)
        self.upper = 0.0
        self.lower = 0.0

    def _estimating(self) -> bool:
        missing = self._mean is None or self._std is None
        return missing and self._baseline.count < self._baseline.warmup

    def update(self, x: float) -> float:
        """Fold ``x`` in; returns ``max(S+, S-)``, 0 while the baseline is estimated."""
        if self._estimating():
            self._baseline.update(x)
            return 0.0
        base = self._baseline
        mean = self._mean if self._mean is not None else base.mean
        std = self._std if self._std is not None else _floor(base.std, base.mean)
        z = (x - mean) / std
        self.upper = max(0.0, self.upper + z - self.k)
        self.lower = max(0.0, self.lower - z - self.k)
        return max(self.upper, self.lower)

    def reset(self) -> None:
        """Clear the accumulated sums, as after an alarm was handled."""
        self.upper = self.lower = 0.0
