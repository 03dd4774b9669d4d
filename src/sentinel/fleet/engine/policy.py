"""Tunable thresholds of the fleet engine, validated once so the domain logic can trust them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sentinel.fleet.engine.enums import Severity

_DEFAULT_SEVERITY_WEIGHTS: Mapping[int, float] = MappingProxyType(
    {Severity.INFO: 0.25, Severity.WARNING: 0.5, Severity.HIGH: 1.0, Severity.CRITICAL: 2.0}
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class EnginePolicy:
    """Every threshold the engine applies; build variants with :meth:`with_overrides`."""

    prior_alpha: float = 100.0
    """Prior pseudo-passes of every GPU's Beta reliability: a new GPU is trusted, not unknown."""
    prior_beta: float = 1.0
    """Prior pseudo-failures; keeps a new GPU's score just below 1 (100/101 by default)."""
    anomaly_weight: float = 0.3
    """How much of a probe failure one attributed anomaly counts, before its severity weight."""
    severity_weights: Mapping[int, float] = field(default_factory=lambda: _DEFAULT_SEVERITY_WEIGHTS)
    """Multiplier of ``anomaly_weight`` per anomaly severity, so a CRITICAL anomaly weighs more."""
    half_life_hours: float = 168.0
    """Half-life of evidence above the prior: old failures stop haunting a GPU after weeks."""
    suspect_below: float = 0.95
    """A HEALTHY GPU whose reliability drops below this becomes SUSPECT."""
    quarantine_below: float = 0.80
    """A HEALTHY or SUSPECT GPU whose reliability drops below this is QUARANTINED."""
    fail_quarantine_count: int = 3
    """Probe failures within ``rate_window_seconds`` that quarantine at once, whatever the score."""
    reinstate_min_score: float = 0.98
    """Reliability a GPU in DEEP_TEST needs before it returns to HEALTHY."""
    reinstate_min_passes: int = 1000
    """Probe passes since entering DEEP_TEST needed before it returns to HEALTHY."""
    rate_window_seconds: float = 3600.0
    """Sliding window over which probe failures are counted."""
    correlation_window_seconds: float = 3600.0
    """Sliding window within which signals are correlated into patterns."""
    correlation_cooldown_seconds: float = 600.0
    """Minimum time between two findings of the same pattern on the same key, to avoid floods."""
    tmr_period_seconds: float = 600.0
    """Period of triple-modular-redundancy comparisons across GPUs."""
    tmr_quorum: int = 2
    """Identical results out of three that make the majority of a TMR vote."""
    overhead_budget_pct: float = 2.0
    """Share of GPU time that probes may take, in percent."""
    auto_deep_test: bool = True
    """Whether a QUARANTINED GPU moves to DEEP_TEST by policy, without an operator."""
    deep_test_delay_seconds: float = 300.0
    """Time a GPU stays QUARANTINED before the automatic deep test, so schedulers can drain it."""
    condemn_requires_approval: bool = True
    """Whether condemning a GPU that failed its deep test waits for an operator's approval."""
    suspect_recover_score: float = 0.97
    """A SUSPECT GPU returns to HEALTHY above this score with no failures in the rate window;
    kept above ``suspect_below`` so a GPU does not flap between the two states."""
    temperature_limit_c: float = 85.0
    """GPU temperature above which telemetry counts as an environmental excursion."""
    active_agent_timeout_seconds: float = 90.0
    """Time since an agent's last heartbeat after which it is no longer counted as active."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name == "severity_weights":
                _check_weights(self.severity_weights)
                continue
            kind, accepts, expected = _RULES[f.name]
            value = getattr(self, f.name)
            if not _is_kind(value, kind) or not accepts(value):
                raise ValueError(f"{f.name}: expected {expected}, got {value!r}")
        if self.quarantine_below > self.suspect_below:
            raise ValueError(
                f"quarantine_below ({self.quarantine_below}) must not exceed "
                f"suspect_below ({self.suspect_below})"
            )
        if self.suspect_recover_score < self.suspect_below:
            raise ValueError(
                f"suspect_recover_score ({self.suspect_recover_score}) must be at least "
                f"suspect_below ({self.suspect_below}), or GPUs flap between HEALTHY and SUSPECT"
            )

    def severity_weight(self, severity: int) -> float:
        """Weight of an anomaly of ``severity``; raises ValueError for an unknown severity."""
        try:
            return self.severity_weights[severity]
        except KeyError:
            names = ", ".join(f"{s.name}={s.value}" for s in Severity)
            raise ValueError(f"unknown severity {severity!r}; expected one of {names}") from None

    def with_overrides(self, values: Mapping[str, str | float]) -> EnginePolicy:
        """Return a copy with ``values`` applied, parsed from strings where needed.

        Keys are field names, case-insensitive (``SENTINEL_ENGINE_HALF_LIFE_HOURS`` maps to
        ``half_life_hours`` once the prefix is stripped). ``severity_weights`` takes
        ``"CRITICAL=3,HIGH=1.5"`` and keeps the severities it does not name.

        Raises:
            ValueError: naming the key and what it expects, for an unknown key or a bad value.
        """
        changes: dict[str, object] = {}
        for raw_key, raw in values.items():
            key = raw_key.strip().lower()
            if key == "severity_weights":
                changes[key] = _parse_weights(raw, self.severity_weights)
            elif key in _RULES:
                changes[key] = _parse(key, raw)
            else:
                known = ", ".join(sorted([*_RULES, "severity_weights"]))
                raise ValueError(f"unknown engine parameter {raw_key!r}; known: {known}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _is_kind(value: object, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, int if kind is int else int | float)


def _unit(v: float) -> bool:
    return 0.0 <= v <= 1.0


def _positive(v: float) -> bool:
    return v > 0 and math.isfinite(v)


def _non_negative(v: float) -> bool:
    return v >= 0 and math.isfinite(v)


_RULES: dict[str, tuple[type, Callable[[float], bool], str]] = {
    "prior_alpha": (float, _positive, "a number > 0"),
    "prior_beta": (float, _positive, "a number > 0"),
    "anomaly_weight": (float, _non_negative, "a number >= 0"),
    "half_life_hours": (float, _positive, "a number > 0"),
    "suspect_below": (float, _unit, "a number in [0, 1]"),
    "quarantine_below": (float, _unit, "a number in [0, 1]"),
    "fail_quarantine_count": (int, lambda v: v >= 1, "an integer >= 1"),
    "reinstate_min_score": (float, _unit, "a number in [0, 1]"),
    "reinstate_min_passes": (int, lambda v: v >= 0, "an integer >= 0"),
    "rate_window_seconds": (float, _positive, "a number of seconds > 0"),
    "correlation_window_seconds": (float, _positive, "a number of seconds > 0"),
    "correlation_cooldown_seconds": (float, _non_negative, "a number of seconds >= 0"),
    "tmr_period_seconds": (float, _positive, "a number of seconds > 0"),
    "tmr_quorum": (int, lambda v: 2 <= v <= 3, "an integer in [2, 3]"),
    "overhead_budget_pct": (float, lambda v: 0 < v <= 100, "a percentage in (0, 100]"),
    "auto_deep_test": (bool, lambda v: True, "a boolean (true/false)"),
    "deep_test_delay_seconds": (float, _non_negative, "a number of seconds >= 0"),
    "condemn_requires_approval": (bool, lambda v: True, "a boolean (true/false)"),
    "suspect_recover_score": (float, _unit, "a number in [0, 1]"),
    "temperature_limit_c": (float, _positive, "degrees Celsius > 0"),
    "active_agent_timeout_seconds": (float, _positive, "a number of seconds > 0"),
}


def _parse(key: str, raw: str | float) -> float | int | bool:
    kind, _, expected = _RULES[key]
    bad = ValueError(f"{key}: expected {expected}, got {raw!r}")
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise bad
    if isinstance(raw, bool):
        raise bad
    try:
        number = float(raw)
    except ValueError:
        raise bad from None
    if kind is int:
        if not number.is_integer():
            raise bad
        return int(number)
    return number


def _parse_weights(raw: str | float, current: Mapping[int, float]) -> Mapping[int, float]:
    expected = "comma-separated SEVERITY=weight pairs, e.g. 'CRITICAL=3,HIGH=1.5'"
    bad = ValueError(f"severity_weights: expected {expected}, got {raw!r}")
    if not isinstance(raw, str):
        raise bad
    weights = dict(current)
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, number = item.partition("=")
        if not sep or name.strip().upper() not in Severity.__members__:
            raise bad
        try:
            weights[Severity[name.strip().upper()]] = float(number)
        except ValueError:
            raise bad from None
    return MappingProxyType(weights)


def _check_weights(weights: Mapping[int, float]) -> None:
    missing = [s.name for s in Severity if s not in weights]
    if missing:
        raise ValueError(f"severity_weights: missing a weight for {', '.join(missing)}")
    for severity, weight in weights.items():
        if not (isinstance(weight, int | float) and _non_negative(weight)):
            raise ValueError(f"severity_weights: expected weights >= 0, got {severity}={weight!r}")
