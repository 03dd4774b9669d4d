"""TrainingMonitor: spikes, the learning-rate rule, cross-rank and checkpoint divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sentinel.fleet.monitors import Anomaly, TrainingMonitor, state_digest, tensor_digest
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

GPU = "GPU-00000000-0000-0000-0000-000000000002"


class Collect:
    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []

    def report(self, anomaly: Anomaly) -> None:
        self.anomalies.append(anomaly)


def clean_steps(seed: int, n: int) -> list[tuple[float, float]]:
    """(loss, grad_norm) of a healthy run: decaying loss and norm with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    loss = 2.0 + 3.0 * np.exp(-t / 300) + rng.normal(0, 0.05, n)
    norm = (1.0 + np.exp(-t / 200)) * np.exp(rng.normal(0, 0.15, n))
    return list(zip(loss.tolist(), norm.tolist(), strict=True))


def warmed(sink: Collect, **kw: float) -> TrainingMonitor:
    mon = TrainingMonitor(GPU, sink, seed=0, **kw)  # type: ignore[arg-type]
    for loss, norm in clean_steps(0, 100):
        mon.observe_step(loss=loss, grad_norm=norm, lr=1e-3)
    return mon


def test_quiet_on_a_clean_run() -> None:
    sink = Collect()
    mon = TrainingMonitor(GPU, sink, seed=0)
    for step, (loss, norm) in enumerate(clean_steps(1, 2000)):
        lr = 1e-3 * min(1.0, (step + 1) / 100) * (0.5 if step > 1000 else 1.0)
        mon.observe_step(loss=loss, grad_norm=norm, lr=lr)
    assert sink.anomalies == []


def test_gradient_norm_spike() -> None:
    sink = Collect()
    mon = warmed(sink)
    (a,) = mon.observe_step(loss=2.5, grad_norm=40.0, lr=1e-3)
    assert a.anomaly_type == AnomalyType.GRADIENT_NORM_SPIKE
    assert a.source == AnomalySource.TRAINING_MONITOR and a.gpu_uuid == GPU
    assert a.score > 6 and a.severity == Severity.HIGH
    assert sink.anomalies == [a]


def test_loss_spike_with_flat_lr_is_reported() -> None:
    sink = Collect()
    mon = warmed(sink)
    (a,) = mon.observe_step(loss=9.0, lr=1e-3)
    assert a.anomaly_type == AnomalyType.LOSS_SPIKE and "did not rise" in a.detail


def test_loss_spike_right_after_lr_increase_is_explained() -> None:
    sink = Collect()
    mon = warmed(sink, lr_grace_steps=5)
    assert mon.observe_step(loss=9.0, lr=2e-3) == []  # the lr rose at this very step
    assert mon.observe_step(loss=9.0, lr=2e-3) == []  # still within the grace
    for loss, _ in clean_steps(2, 3):
        mon.observe_step(loss=loss, lr=2e-3)
    (a,) = mon.observe_step(loss=9.0, lr=2e-3)  # 5 steps after the rise: not explained
    assert a.anomaly_type == AnomalyType.LOSS_SPIKE


def test_decreasing_lr_explains_nothing() -> None:
    sink = Collect()
    mon = warmed(sink)
    (a,) = mon.observe_step(loss=9.0, lr=5e-4)
    assert a.anomaly_type == AnomalyType.LOSS_SPIKE


def test_nonfinite_values_are_critical() -> None:
    sink = Collect()
    mon = TrainingMonitor(GPU, sink)
    found = mon.observe_step(loss=math.nan, grad_norm=math.inf)
    assert {a.anomaly_type for a in found} == {
        AnomalyType.LOSS_SPIKE,
        AnomalyType.GRADIENT_NORM_SPIKE,
    }
    assert all(a.severity == Severity.CRITICAL and a.score == math.inf for a in found)


def test_sampling_rate_zero_checks_nothing_and_half_checks_about_half() -> None:
    sink = Collect()
    mon = TrainingMonitor(GPU, sink, sampling_rate=0.0)
    for _ in range(100):
        assert mon.observe_step(loss=math.nan, grad_norm=math.nan) == []
    half = TrainingMonitor(GPU, sink, sampling_rate=0.5, seed=3)
    checked = sum(len(half.observe_step(loss=math.nan)) for _ in range(1000))
    again = TrainingMonitor(GPU, sink, sampling_rate=0.5, seed=3)
    assert checked == sum(len(again.observe_step(loss=math.nan)) for _ in range(1000))
    assert 450 <= checked <= 550


def test_threshold_update_changes_behaviour() -> None:
    sink = Collect()
    mon = warmed(sink)
    mon.configure(thresholds={"grad_norm_threshold": 1000.0})
    assert mon.observe_step(grad_norm=40.0) == []
    mon.configure(thresholds={"grad_norm_threshold": 6.0})
    assert len(mon.observe_step(grad_norm=40.0)) == 1
    with pytest.raises(ValueError, match="training_monitor.loss_spike_threshold"):
        mon.configure(thresholds={"loss_threshold": 1.0})


def test_digests() -> None:
    a = np.arange(12, dtype=np.float32)
    assert tensor_digest(a) == tensor_digest(a.copy())
    assert len(tensor_digest(a)) == 32
    assert tensor_digest(a) != tensor_digest(a.reshape(3, 4))
    assert tensor_digest(a) != tensor_digest(a.astype(np.float64))
    flipped = a.copy()
    flipped.view(np.uint32)[5] ^= 1  # one bit
    assert tensor_digest(a) != tensor_digest(flipped)
    assert state_digest([("w", a), ("b", a[:2])]) != state_digest([("b", a), ("w", a[:2])])


def test_compare_ranks_names_the_minority() -> None:
    sink = Collect()
    mon = TrainingMonitor(GPU, sink)
    good, bad = tensor_digest(np.zeros(4)), tensor_digest(np.ones(4))
    assert mon.compare_ranks({0: good, 1: good, 2: good}) is None
    a = mon.compare_ranks({0: good, 1: good, 2: bad, 3: good}, rank_gpus={2: "GPU-rank2"})
    assert a is not None and a.anomaly_type == AnomalyType.CROSS_RANK_DIVERGENCE
    assert "[2]" in a.detail and a.gpu_uuid == "GPU-rank2" and a.severity == Severity.HIGH
    assert a.score == 0.25
    tie = mon.compare_ranks({0: good, 1: bad})
    assert tie is not None and tie.severity == Severity.WARNING and tie.gpu_uuid == GPU
    assert "no majority" in tie.detail
    assert sink.anomalies == [a, tie]


def test_check_checkpoint() -> None:
    sink = Collect()
    mon = TrainingMonitor(GPU, sink)
    state = [("w", np.arange(6.0))]
    assert mon.check_checkpoint(state_digest(state), state_digest(state)) is None
    corrupted = [("w", np.arange(6.0) + np.eye(1, 6, 3).ravel() * 1e-9)]
    a = mon.check_checkpoint(state_digest(corrupted), state_digest(state), name="step-100.pt")
    assert a is not None and a.anomaly_type == AnomalyType.CHECKPOINT_DIVERGENCE
    assert a.detail.startswith("step-100.pt")
