"""Engine thresholds that let the demo's story play out in minutes instead of hours."""

from __future__ import annotations

from sentinel.fleet.demo._spec import DemoSpec
from sentinel.fleet.engine.policy import EnginePolicy

__all__ = ["demo_policy"]

_SCALED = (
    "rate_window_seconds",
    "correlation_window_seconds",
    "correlation_cooldown_seconds",
    "tmr_period_seconds",
    "deep_test_delay_seconds",
)
_SUSPECT_RECOVER_SCORE = 0.96


def demo_policy(spec: DemoSpec | None = None) -> dict[str, str]:
    """``EnginePolicy`` overrides for a demo fleet (``EnginePolicy().with_overrides(...)``).

    The demo runs the probe schedule at ``spec.effective_scale`` (0.1 by default: ten times
    real time), so every window and wait of the engine shrinks by the same factor: failures
    are counted and signals correlated over 6 minutes instead of an hour, a quarantined GPU
    is drained for 30 s before its deep test, a TMR round starts every minute. And
    ``suspect_recover_score`` sits just above ``suspect_below``, so the false alarm's GPU
    earns its way back to HEALTHY in about three minutes of passes rather than six.
    Everything else keeps the engine's defaults.

    Args:
        spec: The demo fleet; ``None`` for the default one.
    """
    scale = (spec or DemoSpec()).effective_scale
    defaults = EnginePolicy()
    overrides = {name: f"{getattr(defaults, name) * scale:g}" for name in _SCALED}
    overrides["suspect_recover_score"] = f"{_SUSPECT_RECOVER_SCORE:g}"
    return overrides
