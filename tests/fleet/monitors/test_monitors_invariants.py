"""InvariantChecker: softmax, layer-norm, finiteness and user invariants."""

from __future__ import annotations

import numpy as np
import pytest

from sentinel.core.detectors import softmax
from sentinel.fleet.monitors import Anomaly, InvariantChecker
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

GPU = "GPU-00000000-0000-0000-0000-000000000003"


class Collect:
    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []

    def report(self, anomaly: Anomaly) -> None:
        self.anomalies.append(anomaly)


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)


def test_quiet_on_clean_tensors() -> None:
    sink = Collect()
    checker = InvariantChecker(GPU, sink)
    rng = np.random.default_rng(0)
    w, b = rng.normal(1, 0.2, 256), rng.normal(0, 0.1, 256)
    for _ in range(200):
        x = rng.normal(3, 2, (16, 256))
        assert checker.check_softmax(softmax(x * 5).astype(np.float32)) is None
        assert checker.check_layer_norm(layer_norm(x, w, b), w, b) is None
        assert checker.check_layer_norm(layer_norm(x, np.ones(256), np.zeros(256))) is None
        assert checker.check_finite(x) is None
    assert sink.anomalies == []


def test_detects_a_corrupted_softmax_row() -> None:
    sink = Collect()
    checker = InvariantChecker(GPU, sink)
    p = softmax(np.random.default_rng(1).normal(0, 1, (8, 100)))
    p[3, 10] += 0.01
    a = checker.check_softmax(p, name="attn.probs")
    assert a is not None and a.anomaly_type == AnomalyType.INVARIANT_VIOLATION
    assert a.source == AnomalySource.INVARIANT_CHECKER and a.detail.startswith("attn.probs")
    assert a.score == pytest.approx(0.01) and a.threshold == 1e-3
    negative = softmax(np.zeros((1, 4)))
    negative[0, :2] = [-0.25, 0.75]
    assert checker.check_softmax(negative) is not None


def test_detects_a_bit_flip_in_a_layer_norm_output() -> None:
    checker = InvariantChecker(GPU, Collect())
    rng = np.random.default_rng(2)
    w, b = rng.normal(1, 0.2, 64), rng.normal(0, 0.1, 64)
    y = layer_norm(rng.normal(0, 1, (4, 64)), w, b)
    y.view(np.uint32)[2, 5] ^= 1 << 27  # an exponent bit
    a = checker.check_layer_norm(y, w, b, name="block3.ln")
    assert a is not None and "layer_norm" in a.detail and a.severity == Severity.HIGH


def test_nonfinite_is_critical() -> None:
    checker = InvariantChecker(GPU, Collect())
    x = np.ones((3, 3))
    x[1, 1] = np.nan
    x[2, 2] = np.inf
    a = checker.check_finite(x, name="hidden")
    assert a is not None and a.severity == Severity.CRITICAL and a.score == 2
    assert checker.check_softmax(x) is not None
    assert checker.check_layer_norm(x) is not None


def test_user_invariants() -> None:
    checker = InvariantChecker(GPU, Collect())
    checker.register("positive", lambda v: bool(np.all(np.asarray(v) > 0)))
    assert checker.check("positive", [1, 2]) is None
    a = checker.check("positive", [1, -2])
    assert a is not None and "'positive'" in a.detail
    with pytest.raises(KeyError, match="registered"):
        checker.check("missing", 1)


def test_sampling_and_tolerance_updates() -> None:
    p = softmax(np.zeros((2, 10)))
    p[0, 0] += 0.005
    checker = InvariantChecker(GPU, Collect(), sampling_rate=0.0)
    assert all(checker.check_softmax(p) is None for _ in range(50))
    checker.configure(sampling_rate=1.0)
    assert checker.check_softmax(p) is not None
    checker.configure(thresholds={"softmax_tolerance": 0.01})
    assert checker.check_softmax(p) is None
    half = InvariantChecker(GPU, Collect(), sampling_rate=0.5, seed=4)
    checked = sum(half.check_finite([np.nan]) is not None for _ in range(1000))
    assert 450 <= checked <= 550
    with pytest.raises(ValueError, match="invariant_checker.layer_norm_tolerance"):
        checker.configure(thresholds={"tolerance": 1.0})
