"""GPU lifecycle rules: which directives are legal, and where policy moves a GPU on its own.

HEALTHY → SUSPECT → QUARANTINED → DEEP_TEST → (HEALTHY | CONDEMNED). Both functions are pure:
the engine applies the returned state, records the reason and the initiator, and audits it.
The engine alone also moves DEEP_TEST back to QUARANTINED, when a deep test failed while the
GPU's surroundings were out of limits (see ``_directives.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.fleet.engine.enums import Action, GpuState
from sentinel.fleet.engine.policy import EnginePolicy

_H, _S, _Q, _D, _C = (
    GpuState.HEALTHY,
    GpuState.SUSPECT,
    GpuState.QUARANTINED,
    GpuState.DEEP_TEST,
    GpuState.CONDEMNED,
)

ALLOWED_TRANSITIONS: frozenset[tuple[int, int]] = frozenset(
    {
        (_H, _S),
        (_S, _H),
        (_H, _Q),
        (_S, _Q),
        (_Q, _H),
        (_H, _D),
        (_S, _D),
        (_Q, _D),
        (_D, _H),
        (_D, _Q),
        (_H, _C),
        (_S, _C),
        (_Q, _C),
        (_D, _C),
    }
)
"""Every (from_state, to_state) pair a directive or the policy may produce."""

_STATES = frozenset(GpuState)
_DIRECTIVES: dict[int, tuple[frozenset[int], int]] = {
    Action.QUARANTINE: (frozenset({_H, _S}), _Q),
    Action.REINSTATE: (frozenset({_S, _Q, _D}), _H),
    Action.SCHEDULE_DEEP_TEST: (frozenset({_H, _S, _Q}), _D),
    Action.CONDEMN: (frozenset({_H, _S, _Q, _D}), _C),
}


class IllegalTransition(Exception):
    """A directive that does not apply to the GPU's current state; nothing was changed.

    Attributes:
        reason: Why, in words fit for the directive's rejection message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def directive_target(state: int, action: int) -> int:
    """State a GPU in ``state`` moves to under the directive ``action``.

    Raises:
        IllegalTransition: when the action does not apply, with a readable reason.
    """
    if state == _C:
        raise IllegalTransition("GPU is CONDEMNED; condemnation is final")
    if state not in _STATES:
        raise IllegalTransition(f"unknown GPU state {state}")
    if action not in _DIRECTIVES:
        names = ", ".join(f"{a.name}={a.value}" for a in Action)
        raise IllegalTransition(f"unknown action {action}; expected one of {names}")
    sources, target = _DIRECTIVES[action]
    if state in sources:
        return target
    if state == target:
        where = "in DEEP_TEST" if state == _D else GpuState(state).name
        raise IllegalTransition(f"GPU is already {where}")
    raise IllegalTransition(
        f"{Action(action).name} does not apply to a GPU in {GpuState(state).name}"
    )


@dataclass(frozen=True)
class PolicyInput:
    """What the policy needs to know about one GPU to decide its next state."""

    state: int
    """Current lifecycle state."""
    score: float
    """Current reliability score, after decay."""
    failures_in_window: float
    """Probe failures within the policy's rate window."""
    passes_since_deep_test: int
    """Probe passes since the GPU entered DEEP_TEST (0 outside DEEP_TEST)."""
    deep_test_failed: bool
    """Whether any probe of the current deep test failed."""
    deep_test_complete: bool
    """Whether the current deep test has run every probe it was scheduled to run."""


def policy_target(inp: PolicyInput, policy: EnginePolicy) -> tuple[int, str] | None:
    """The state policy moves a GPU to on its own, with the reason; None to stay put.

    A GPU whose deep test failed stays in DEEP_TEST here: condemnation is final, so the engine
    issues a CONDEMN directive instead, which waits for an operator when
    ``policy.condemn_requires_approval`` is set. CONDEMNED never moves.
    """
    state = inp.state
    if state in (_H, _S):
        reasons = []
        if inp.failures_in_window >= policy.fail_quarantine_count:
            reasons.append(
                f"{inp.failures_in_window:g} probe failures within "
                f"{policy.rate_window_seconds:g} s (limit {policy.fail_quarantine_count})"
            )
        if inp.score < policy.quarantine_below:
            reasons.append(f"reliability {inp.score:.4f} below {_fmt(policy.quarantine_below)}")
        if reasons:
            return _Q, "; ".join(reasons)
        if state == _H and inp.score < policy.suspect_below:
            return _S, f"reliability {inp.score:.4f} below {_fmt(policy.suspect_below)}"
        if (
            state == _S
            and inp.score >= policy.suspect_recover_score
            and inp.failures_in_window == 0
        ):
            return _H, (
                f"reliability {inp.score:.4f} recovered to at least "
                f"{_fmt(policy.suspect_recover_score)} with no probe failures within "
                f"{policy.rate_window_seconds:g} s"
            )
        return None
    if state == _Q:
        return (_D, "automatic deep test of a quarantined GPU") if policy.auto_deep_test else None
    if (
        state == _D
        and inp.deep_test_complete
        and not inp.deep_test_failed
        and inp.score >= policy.reinstate_min_score
        and inp.passes_since_deep_test >= policy.reinstate_min_passes
    ):
        return _H, (
            f"deep test passed: {inp.passes_since_deep_test} passes "
            f"(minimum {policy.reinstate_min_passes}), reliability {inp.score:.4f} "
            f"at least {_fmt(policy.reinstate_min_score)}"
        )
    return None


def _fmt(threshold: float) -> str:
    """Threshold with two decimals when exact (``0.80``), else in full (``0.955``)."""
    return f"{threshold:.2f}" if round(threshold, 2) == threshold else f"{threshold:g}"
