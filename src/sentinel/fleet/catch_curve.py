"""What Sentinel can catch: the detection curve that ``bench/bench_fault_curve.py`` measures.

The bench injects each kind of subtle fault at each per-word error rate into simulated GPUs,
runs the default probe schedule and the engine's quarantine policy on them, and writes one
``CatchCurve`` as JSON. The fleet page and BENCHMARKS.md draw it; this module is the one
definition of that file, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CURVE_PATH = Path(__file__).with_name("data") / "catch_curve.json"
"""Where the bench writes the curve the dashboard shows."""


@dataclass(frozen=True)
class CurvePoint:
    """One fault kind at one per-word error rate, over ``trials`` faulty GPUs."""

    rate: float
    """Probability that one result word of the faulty unit is wrong."""
    trials: int
    within_goal: float
    """Share of faulty GPUs quarantined within ``CatchCurve.goal_periods`` probe periods."""
    within_horizon: float
    """Share quarantined before the trial ended (``CatchCurve.horizon_periods``)."""
    median_periods: float | None
    """Median time from the fault's onset (or from when it first wakes, for a fault bound to
    heat or phases) to quarantine, in probe periods; ``None`` when fewer than half of the GPUs
    were quarantined within the horizon."""
    p95_periods: float | None
    """95th percentile of the same; ``None`` when fewer than 95 % were quarantined."""
    right_sm: float
    """Share of quarantined GPUs whose failing probes blamed the faulty SM and no other."""
    probe_runs: float
    """Mean probe runs on the faulty GPU until quarantine (or the horizon)."""
    probe_gpu_ms: float
    """Mean device time those runs cost, at the per-probe device times measured on an H100."""
    before_within_goal: float | None = None
    """``within_goal`` with the probes and schedule as they were before issue 14."""
    diagnostic_within_day: float | None = None
    """Share a daily out-of-production diagnostic (DCGM r3-like) catches within 24 h."""
    diagnostic_median_h: float | None = None
    """Median hours from fault onset to the diagnostic catching it; ``None`` below half."""


@dataclass(frozen=True)
class FaultCurve:
    """One fault kind across the error rates."""

    kind: str
    """Short name, e.g. ``lane_flip``."""
    label: str
    """What the fault is, for people."""
    points: list[CurvePoint] = field(default_factory=list)


@dataclass(frozen=True)
class CatchCurve:
    """Every fault kind's curve, with the conditions it was measured under."""

    measured: str
    """Date of the bench run, ISO 8601."""
    command: str
    period_s: float
    """One probe period: the default schedule's FMA period, in seconds."""
    goal_periods: int
    horizon_periods: int
    overhead_pct: float
    """Share of GPU time the default schedule costs, at the H100-measured probe times."""
    healthy_runs: int
    false_failures: int
    curves: list[FaultCurve] = field(default_factory=list)

    def dumps(self) -> str:
        """The curve as indented JSON."""
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def loads(cls, text: str) -> CatchCurve:
        """Parse what :meth:`dumps` wrote.

        Raises:
            ValueError: The text is not a catch curve, with what was wrong.
        """
        try:
            raw = json.loads(text)
            curves = [
                _typed(
                    FaultCurve,
                    {**c, "points": [_typed(CurvePoint, p) for p in c.get("points", [])]},
                )
                for c in raw.pop("curves")
            ]
            return _typed(cls, {**raw, "curves": curves})
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a catch curve: {exc}") from exc


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "float | None": (int, float, type(None)),
}


def _typed(kind: Any, raw: dict[str, Any]) -> Any:
    """``kind(**raw)``, after checking that every scalar field holds its declared type."""
    for f in fields(kind):
        allowed = _JSON_TYPES.get(str(f.type))
        if allowed is None or (f.name not in raw and f.default is not MISSING):
            continue
        value = raw.get(f.name)
        if f.name not in raw or isinstance(value, bool) or not isinstance(value, allowed):
            raise TypeError(f"{kind.__name__}.{f.name} is {value!r}, not {f.type}")
    return kind(**raw)


def load(path: Path = CURVE_PATH) -> CatchCurve | None:
    """The recorded curve, or ``None`` when the bench has not written one."""
    if not path.exists():
        return None
    return CatchCurve.loads(path.read_text(encoding="utf-8"))
