"""Known values and behaviour of the shared statistical detectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sentinel.core.detectors import (
    Cusum,
    Ewma,
    RollingMad,
    ZScore,
    entropy,
    kl_divergence,
    log_softmax,
    mad,
    psi,
    robust_zscore,
    softmax,
)


def test_zscore_known_values() -> None:
    z = ZScore(warmup=3)
    assert [z.update(x) for x in (1.0, 2.0, 3.0)] == [0.0, 0.0, 0.0]
    assert z.mean == pytest.approx(2.0) and z.std == pytest.approx(1.0)
    assert z.update(5.0) == pytest.approx(3.0)  # (5 - 2) / 1, scored before folding in


def test_ewma_chart_known_values() -> None:
    chart = Ewma(alpha=0.5, warmup=3)
    for x in (1.0, 2.0, 3.0):
        assert chart.update(x) == 0.0
    # baseline mean 2, std 1; level 0.5 * 4 + 0.5 * 2 = 3; sigma_level = sqrt(0.5 / 1.5)
    assert chart.level == 2.0
    assert chart.update(4.0) == pytest.approx(1.0 / math.sqrt(1 / 3))
    assert chart.level == pytest.approx(3.0)
    chart.reset()
    assert chart.level == pytest.approx(2.0)


def test_ewma_finds_small_persistent_drift_but_not_noise() -> None:
    rng = np.random.default_rng(0)
    chart = Ewma(alpha=0.1, warmup=50)
    clean = [chart.update(x) for x in rng.normal(0, 1, 2000)]
    assert max(clean) < 5
    drifted = [chart.update(x) for x in rng.normal(1.0, 1, 200)]  # a 1-sigma shift
    assert max(drifted) > 5


def test_mad_is_robust_to_outliers() -> None:
    assert mad([1, 2, 3, 4, 100]) == 1.0
    history = [10.0, 11.0, 9.0, 10.5, 9.5, 1e6]  # one wild value in the history
    assert robust_zscore(10.0, history) == pytest.approx(-0.25 / (1.4826 * 0.75))  # median 10.25
    assert robust_zscore(20.0, history) > 8
    assert np.std(history) > 1e5  # a plain z-score would call 20 perfectly normal


def test_robust_zscore_of_constant_history_is_finite() -> None:
    assert math.isfinite(robust_zscore(2.0, [1.0] * 10))
    assert robust_zscore(1.0, [1.0] * 10) == 0.0


def test_rolling_mad_waits_for_history_then_scores() -> None:
    r = RollingMad(window=10, min_history=3)
    assert [r.update(x) for x in (1.0, 2.0, 3.0)] == [0.0, 0.0, 0.0]
    assert r.score(2.0) == 0.0
    assert r.score(100.0) > 50
    assert len(r) == 3
    with pytest.raises(ValueError, match="min_history"):
        RollingMad(window=5, min_history=10)


def test_cusum_detects_mean_shift_not_noise() -> None:
    rng = np.random.default_rng(1)
    c = Cusum(k=0.5, mean=0.0, std=1.0)
    assert max(c.update(x) for x in rng.normal(0, 1, 2000)) < 12
    c.reset()
    noise_peak = max(c.update(x) for x in rng.normal(0, 1, 200))
    c.reset()
    shift = [c.update(x) for x in rng.normal(1.5, 1, 50)]
    assert noise_peak < 5 < max(shift)
    assert c.upper > 5 and c.lower == 0.0  # an upward shift


def test_cusum_estimates_its_baseline() -> None:
    c = Cusum(k=0.5, warmup=4)
    assert [c.update(x) for x in (1.0, 3.0, 1.0, 3.0)] == [0.0] * 4
    assert c.update(2.0) == 0.0  # at the estimated mean: less than k
    assert c.update(2.0 + 3 * 2 / math.sqrt(3)) == pytest.approx(2.5)  # z = 3, minus k


def test_kl_of_identical_distributions_is_zero() -> None:
    p = np.array([0.1, 0.2, 0.7])
    assert kl_divergence(p, p) == 0.0
    assert kl_divergence([1, 0, 0], [1, 0, 0]) == 0.0


def test_kl_known_value_and_smoothing() -> None:
    known = 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(known, rel=1e-6)
    assert kl_divergence([1, 1], [1, 3]) == pytest.approx(known, rel=1e-6)  # counts work too
    unseen = kl_divergence([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(unseen) and unseen > 5
    rows = kl_divergence(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.25, 0.75]))
    assert rows == pytest.approx([known, known], rel=1e-6)


def test_psi_known_value() -> None:
    known = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)  # 0.2747
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(known, rel=1e-4)
    assert psi([10, 20, 30], [10, 20, 30]) == pytest.approx(0.0, abs=1e-12)


def test_softmax_is_stable_for_huge_logits() -> None:
    p = softmax([1e30, 0.0, -1e30])
    assert p.tolist() == [1.0, 0.0, 0.0]
    lp = log_softmax(np.array([[1000.0, 1000.0]], dtype=np.float32))
    assert lp.dtype == np.float32
    assert lp == pytest.approx(np.log([[0.5, 0.5]]))


def test_entropy_known_values() -> None:
    assert entropy([0.5, 0.5]) == pytest.approx(math.log(2))
    assert entropy([1.0, 0.0]) == 0.0
    assert entropy(np.full((2, 4), 0.25)) == pytest.approx([math.log(4)] * 2)
