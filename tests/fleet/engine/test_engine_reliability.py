"""Beta reliability: known values, half-life decay, monotonicity."""

from __future__ import annotations

import pytest

from sentinel.fleet.engine.enums import Severity
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.engine.reliability import BetaReliability

POLICY = EnginePolicy()
HALF_LIFE_S = POLICY.half_life_hours * 3600


def test_prior_score() -> None:
    assert BetaReliability.prior(POLICY, 0.0).score == pytest.approx(100 / 101)


def test_one_failure() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    rel.observe(0, 1, 0.0, POLICY)
    assert rel.score == pytest.approx(100 / 102)


def test_anomaly_counts_weighted_fraction_of_a_failure() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    rel.add_anomaly(Severity.CRITICAL, 0.0, POLICY)
    assert rel.beta == pytest.approx(1.0 + 0.3 * 2.0)
    rel.add_anomaly(Severity.INFO, 0.0, POLICY)
    assert rel.beta == pytest.approx(1.0 + 0.3 * 2.0 + 0.3 * 0.25)


def test_unknown_severity_is_rejected() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    with pytest.raises(ValueError, match="unknown severity 0"):
        rel.add_anomaly(0, 0.0, POLICY)
    assert rel.beta == 1.0


def test_decay_halves_evidence_after_one_half_life() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    rel.observe(400, 10, 0.0, POLICY)
    rel.decay(HALF_LIFE_S, POLICY)
    assert rel.alpha == pytest.approx(100 + 200)
    assert rel.beta == pytest.approx(1 + 5)
    assert rel.updated_at == HALF_LIFE_S


def test_decay_tends_to_prior_and_ignores_the_past() -> None:
    rel = BetaReliability.prior(POLICY, 100.0)
    rel.observe(0, 50, 100.0, POLICY)
    before = (rel.alpha, rel.beta)
    rel.decay(50.0, POLICY)
    assert (rel.alpha, rel.beta, rel.updated_at) == (*before, 100.0)
    rel.decay(100.0 + 100 * HALF_LIFE_S, POLICY)
    assert rel.score == pytest.approx(100 / 101)


def test_observe_decays_before_adding() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    rel.observe(0, 2, 0.0, POLICY)
    rel.observe(0, 1, HALF_LIFE_S, POLICY)
    assert rel.beta == pytest.approx(1 + 1 + 1)


def test_monotonic() -> None:
    rel = BetaReliability.prior(POLICY, 0.0)
    scores = [rel.score]
    for t in range(1, 6):
        rel.observe(0, 1, float(t), POLICY)
        scores.append(rel.score)
    assert scores == sorted(scores, reverse=True)
    for t in range(6, 11):
        rel.observe(100, 0, float(t), POLICY)
        scores.append(rel.score)
    assert scores[5:] == sorted(scores[5:])
    failed = rel.score
    rel.decay(10 + HALF_LIFE_S, POLICY)
    assert rel.score > failed or rel.score == pytest.approx(failed)


def test_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="counts must be >= 0"):
        BetaReliability.prior(POLICY, 0.0).observe(-1, 0, 0.0, POLICY)
