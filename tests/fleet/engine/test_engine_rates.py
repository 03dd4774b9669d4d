"""Sliding-window counter: window edges, late events, bounded memory."""

from __future__ import annotations

import pytest

from sentinel.fleet.engine.rates import WindowCounter


def test_counts_within_window_only() -> None:
    counter = WindowCounter(3600)
    counter.add(0.0)
    counter.add(10.5, 2.0)
    assert counter.count(10.5) == 3.0
    assert counter.count(3599.9) == 3.0
    assert counter.count(3600.0) == 2.0
    assert counter.count(3611.0) == 0.0


def test_rate_per_hour() -> None:
    counter = WindowCounter(600)
    for ts in range(6):
        counter.add(float(ts))
    assert counter.rate_per_hour(10.0) == pytest.approx(36.0)


def test_late_events_land_in_their_second() -> None:
    counter = WindowCounter(60)
    counter.add(30.0)
    counter.add(10.2)
    counter.add(30.9)
    counter.add(20.0, 0.5)
    assert counter.count(30.0) == 3.5
    assert counter.count(70.5) == 2.5
    assert counter.count(80.5) == 2.0
    assert counter.count(91.0) == 0.0


def test_memory_bounded_by_window() -> None:
    counter = WindowCounter(10)
    for i in range(10_000):
        counter.add(i / 100)
        counter.count(i / 100)
    assert len(counter._buckets) <= 11
    assert counter.count(99.99) == pytest.approx(1000.0)


def test_fractional_weights_leave_no_residue() -> None:
    counter = WindowCounter(5)
    for _ in range(10):
        counter.add(0.0, 0.1)
    assert counter.count(6.0) == 0.0


def test_rejects_empty_window() -> None:
    with pytest.raises(ValueError, match="window_seconds must be > 0"):
        WindowCounter(0)
