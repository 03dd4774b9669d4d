"""The statistical tests, each a pure function of a window's figure and a baseline's history.

Every test returns a :class:`Finding` when it fires and ``None`` otherwise. They reuse
``sentinel.core.detectors`` (robust z-score, PSI, KL, CUSUM) and add the two the core does
not hold: Tukey's IQR fences and a binomial z-test for rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sentinel.core.detectors import Cusum, kl_divergence, psi, robust_zscore
from sentinel.llm.types import AnomalyType, DetectionMethod


@dataclass
class Finding:
    """A test that fired: what it means, how it was found, by how much."""

    type: AnomalyType
    method: DetectionMethod
    score: float
    threshold: float
    metric: str
    value: float
    expected: float
    evidence: dict[str, Any] = field(default_factory=dict)
    gpu: str = ""


def finite(values: ArrayLike) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def mad_high(x: float, history: np.ndarray, threshold: float) -> tuple[float, bool]:
    """Robust z of ``x`` against ``history`` (median and MAD); fires above ``threshold``.

    The spread is floored at 2% of the median: a figure that hardly varies in normal
    traffic must not alarm on a 1% wobble.
    """
    centre = float(np.median(history))
    z = robust_zscore(x, history)
    floor = 0.02 * abs(centre) / 1.4826
    if floor > 0:
        z = min(z, (x - centre) / floor) if z > 0 else max(z, (x - centre) / floor)
    return z, z >= threshold


def zscore(x: float, history: np.ndarray) -> float:
    """``(x - mean) / std`` with the deviation floored at 2% of the mean."""
    mean = float(history.mean())
    std = max(float(history.std(ddof=1)) if len(history) > 1 else 0.0, 0.02 * abs(mean), 1e-9)
    return (x - mean) / std


def iqr_fence(x: float, history: np.ndarray, k: float) -> tuple[float, float]:
    """Tukey's upper fence ``Q3 + k * IQR`` and ``x``'s distance past Q3 in IQRs."""
    q1, q3 = np.percentile(history, [25, 75])
    iqr = max(float(q3 - q1), 0.02 * abs(float(q3)), 1e-9)
    return float(q3 + k * iqr), (x - float(q3)) / iqr


def binomial_z(hits: int, n: int, base_rate: float) -> float:
    """z of ``hits`` successes in ``n`` trials against a rate of ``base_rate``."""
    if n <= 0:
        return 0.0
    p0 = min(max(base_rate, 0.5 / max(n, 1), 1e-4), 0.999)
    return (hits / n - p0) / math.sqrt(p0 * (1 - p0) / n)


def binomial_tail(hits: int, n: int, base_rate: float) -> float:
    """P(X >= hits) for X ~ Binomial(n, base_rate), exactly (summed in log space).

    A z-test on a rate of 1% over 60 events calls 5 hits a 5-sigma event; the exact tail
    says it happens once in a few thousand windows. The rate tests gate on this.
    """
    if hits <= 0:
        return 1.0
    p = min(max(base_rate, 1e-6), 1 - 1e-9)
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq
        for k in range(hits, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def cusum_step(
    x: float, history: np.ndarray, sums: list[float], k: float
) -> tuple[float, list[float]]:
    """One CUSUM step on ``x`` standardised by the history; returns the statistic and sums."""
    mean = float(history.mean())
    std = max(float(history.std(ddof=1)) if len(history) > 1 else 0.0, 0.02 * abs(mean), 1e-9)
    chart = Cusum(k, mean=mean, std=std)
    chart.upper, chart.lower = sums
    stat = chart.update(x)
    return stat, [chart.upper, chart.lower]


def edges_of(values: ArrayLike) -> list[float]:
    """Decile bin edges of a reference sample (duplicates merged for discrete data)."""
    a = finite(values)
    if not len(a):
        return []
    return [float(e) for e in np.unique(np.quantile(a, np.linspace(0.1, 0.9, 9)))]


def histogram(values: ArrayLike, edges: list[float]) -> list[int]:
    """Counts of ``values`` in the bins that ``edges`` delimit (``len(edges) + 1`` bins)."""
    a = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(np.asarray(edges), a, side="right")
    return [int(c) for c in np.bincount(idx, minlength=len(edges) + 1)]


def chi2_critical(df: int, z: float = 4.75) -> float:
    """The chi-square quantile with upper tail ``~1e-6`` (z = 4.75), Wilson-Hilferty."""
    a = 2 / (9 * max(df, 1))
    return max(df, 1) * (1 - a + z * math.sqrt(a)) ** 3


def divergence(
    reference: ArrayLike, recent: ArrayLike, psi_threshold: float, kl_threshold: float
) -> tuple[DetectionMethod, float, float, dict[str, float]]:
    """PSI and KL of ``recent`` against ``reference`` (bin counts); the stronger of the two
    relative to its threshold, with both in the evidence.

    Small samples diverge by chance: under no change, PSI and 2 KL are about
    ``chi2(bins - 1) * (1/n + 1/m)``. Each threshold is raised to that null's 1e-6 quantile,
    so a quiet service's few events cannot look like drift.
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(recent, dtype=np.float64)
    scale = 1 / max(cur.sum(), 1) + 1 / max(ref.sum(), 1)
    null = chi2_critical(int(np.count_nonzero(ref + cur)) - 1) * scale
    psi_threshold = max(psi_threshold, null)
    kl_threshold = max(kl_threshold, null / 2)
    p = psi(ref, cur)
    kl = float(kl_divergence(cur, ref, eps=1e-4))
    evidence = {"psi": round(p, 4), "kl_divergence": round(kl, 4)}
    if p / psi_threshold >= kl / kl_threshold:
        return DetectionMethod.PSI, p, psi_threshold, evidence
    return DetectionMethod.KL_DIVERGENCE, kl, kl_threshold, evidence
