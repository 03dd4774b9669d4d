"""Lifecycle: every directive, legal and illegal, and every policy rule."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from sentinel.fleet.engine.enums import Action, GpuState
from sentinel.fleet.engine.lifecycle import (
    ALLOWED_TRANSITIONS,
    IllegalTransition,
    PolicyInput,
    directive_target,
    policy_target,
)
from sentinel.fleet.engine.policy import EnginePolicy

H, S, Q, D, C = GpuState
POLICY = EnginePolicy()

LEGAL = {
    (H, Action.QUARANTINE): Q,
    (S, Action.QUARANTINE): Q,
    (S, Action.REINSTATE): H,
    (Q, Action.REINSTATE): H,
    (D, Action.REINSTATE): H,
    (H, Action.SCHEDULE_DEEP_TEST): D,
    (S, Action.SCHEDULE_DEEP_TEST): D,
    (Q, Action.SCHEDULE_DEEP_TEST): D,
    (H, Action.CONDEMN): C,
    (S, Action.CONDEMN): C,
    (Q, Action.CONDEMN): C,
    (D, Action.CONDEMN): C,
}
ILLEGAL = {
    (Q, Action.QUARANTINE): "GPU is already QUARANTINED",
    (D, Action.QUARANTINE): "QUARANTINE does not apply to a GPU in DEEP_TEST",
    (H, Action.REINSTATE): "GPU is already HEALTHY",
    (D, Action.SCHEDULE_DEEP_TEST): "GPU is already in DEEP_TEST",
    **{(C, a): "GPU is CONDEMNED; condemnation is final" for a in Action},
}


def test_directive_table_is_complete() -> None:
    assert set(LEGAL) | set(ILLEGAL) == set(itertools.product(GpuState, Action))


@pytest.mark.parametrize(("state", "action"), sorted(LEGAL))
def test_legal_directive(state: GpuState, action: Action) -> None:
    target = directive_target(state, action)
    assert target == LEGAL[state, action]
    assert (state, target) in ALLOWED_TRANSITIONS


@pytest.mark.parametrize(("state", "action"), sorted(ILLEGAL))
def test_illegal_directive(state: GpuState, action: Action) -> None:
    with pytest.raises(IllegalTransition) as info:
        directive_target(state, action)
    assert info.value.reason == ILLEGAL[state, action]
    assert str(info.value) == info.value.reason


def test_unknown_state_or_action() -> None:
    with pytest.raises(IllegalTransition, match="unknown action 0"):
        directive_target(H, 0)
    with pytest.raises(IllegalTransition, match="unknown GPU state 9"):
        directive_target(9, Action.QUARANTINE)


def test_condemned_has_no_way_out() -> None:
    assert not any(source == C for source, _ in ALLOWED_TRANSITIONS)


def _inp(state: int, **changes: object) -> PolicyInput:
    base = PolicyInput(
        state=state,
        score=0.99,
        failures_in_window=0,
        passes_since_deep_test=0,
        deep_test_failed=False,
        deep_test_complete=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _target(inp: PolicyInput, policy: EnginePolicy = POLICY) -> tuple[int, str] | None:
    result = policy_target(inp, policy)
    if result is not None:
        assert (inp.state, result[0]) in ALLOWED_TRANSITIONS
    return result


def test_healthy_stays_healthy() -> None:
    assert _target(_inp(H, score=0.95, failures_in_window=2)) is None


def test_healthy_to_suspect() -> None:
    assert _target(_inp(H, score=0.9412)) == (S, "reliability 0.9412 below 0.95")


@pytest.mark.parametrize("state", [H, S])
def test_quarantine_on_failure_count(state: GpuState) -> None:
    assert _target(_inp(state, failures_in_window=3)) == (
        Q,
        "3 probe failures within 3600 s (limit 3)",
    )


@pytest.mark.parametrize("state", [H, S])
def test_quarantine_on_low_score(state: GpuState) -> None:
    assert _target(_inp(state, score=0.79314)) == (Q, "reliability 0.7931 below 0.80")


def test_quarantine_names_every_reason() -> None:
    assert _target(_inp(S, score=0.5, failures_in_window=4)) == (
        Q,
        "4 probe failures within 3600 s (limit 3); reliability 0.5000 below 0.80",
    )


def test_suspect_recovers() -> None:
    result = _target(_inp(S, score=0.97))
    assert result is not None
    assert result[0] == H
    assert "0.9700 recovered to at least 0.97" in result[1]


@pytest.mark.parametrize("changes", [{"score": 0.969}, {"score": 0.99, "failures_in_window": 1}])
def test_suspect_stays_suspect(changes: dict[str, float]) -> None:
    assert _target(_inp(S, **changes)) is None


def test_quarantined_goes_to_deep_test_by_policy() -> None:
    assert _target(_inp(Q)) == (D, "automatic deep test of a quarantined GPU")
    manual = POLICY.with_overrides({"auto_deep_test": "false"})
    assert _target(_inp(Q), manual) is None


def test_deep_test_passes() -> None:
    inp = _inp(D, score=0.98, passes_since_deep_test=1000, deep_test_complete=True)
    result = _target(inp)
    assert result is not None
    assert result[0] == H
    assert result[1].startswith("deep test passed: 1000 passes (minimum 1000)")


@pytest.mark.parametrize(
    "changes",
    [
        {"deep_test_complete": False},
        {"score": 0.979},
        {"passes_since_deep_test": 999},
        {"deep_test_failed": True},
    ],
)
def test_deep_test_holds(changes: dict[str, object]) -> None:
    inp = _inp(D, score=0.99, passes_since_deep_test=5000, deep_test_complete=True)
    assert _target(dataclasses.replace(inp, **changes)) is None  # type: ignore[arg-type]


def test_condemned_never_moves() -> None:
    assert _target(_inp(C, score=0.0, failures_in_window=100)) is None
    assert _target(_inp(C, score=1.0, passes_since_deep_test=10**6)) is None


def test_reasons_show_unrounded_thresholds() -> None:
    policy = POLICY.with_overrides({"suspect_below": "0.955"})
    assert _target(_inp(H, score=0.95), policy) == (S, "reliability 0.9500 below 0.955")
