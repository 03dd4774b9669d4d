"""One watched series: its buffer on the time grid, model, versions, drift and forecast."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentinel.forecast.config import WatchConfig
from sentinel.forecast.drift import DriftMonitor
from sentinel.forecast.models.base import BaseModel
from sentinel.forecast.versions import VersionStore

MAX_GAP = 10
"""Missing steps filled by interpolation without calling it a gap in the status."""
PAST = 1440
"""Past predictions each series keeps (for charts and remote-read)."""


def series_key(metric: str, labels: dict[str, str]) -> str:
    """``metric{a="1",b="2"}``, labels sorted: the seed's key format."""
    if not labels:
        return metric
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


@dataclass
class Forecast:
    """The latest forecast: values for grid indices ``first_index`` onward."""

    first_index: int
    step_s: float
    values: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    version: str
    made_at: float

    def timestamps(self) -> np.ndarray:
        return (self.first_index + np.arange(len(self.values))) * self.step_s


@dataclass
class SeriesState:
    """Everything Sentinel holds about one series."""

    watch: WatchConfig
    metric: str
    labels: dict[str, str]
    counter: bool
    versions: VersionStore
    drift: DriftMonitor
    start_index: int = 0
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: BaseModel | None = None
    forecast: Forecast | None = None
    past: deque[tuple[int, float, float, float]] = field(default_factory=lambda: deque(maxlen=PAST))
    """``(grid index, predicted, lower, upper)`` at the horizon, for times now past."""
    drift_history: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=PAST))
    training: bool = False
    last_trained: float = 0.0
    next_cron: float = 0.0
    problems: list[str] = field(default_factory=list)
    """Current problems, one sentence each (gaps, NaN, artifacts, Prometheus)."""
    events: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=50))
    """Recent training, rollback and error events, newest last."""

    @property
    def key(self) -> str:
        return series_key(self.metric, self.labels)

    @property
    def last_index(self) -> int:
        return self.start_index + len(self.values) - 1

    @property
    def ready_at(self) -> int:
        """Values needed before the first training (the cold start)."""
        return self.watch.lags + 3 * self.watch.horizon_steps

    @property
    def scale(self) -> float:
        """Mean absolute value: the unit of relative drift thresholds."""
        return float(np.mean(np.abs(self.values))) if len(self.values) else 1.0

    def append(self, first: int, new: np.ndarray) -> list[tuple[int, float]]:
        """Add values for grid indices ``first``.. (NaN where missing); returns the
        ``(index, value)`` pairs that are new, gaps filled."""
        if not len(self.values):
            self.start_index = first
        elif first != self.last_index + 1:
            missing = first - self.last_index - 1
            if missing < 0:
                new, first = new[-missing:], self.last_index + 1
            else:
                new = np.concatenate([np.full(missing, np.nan), new])
                first = self.last_index + 1
        if not len(new):
            return []
        joined = np.concatenate([self.values, new])
        holes = ~np.isfinite(joined)
        self.problems = [p for p in self.problems if not p.startswith(("gap", "NaN"))]
        if holes.any():
            known = np.flatnonzero(~holes)
            if not len(known):
                return []
            run = _longest_run(holes[len(self.values) :])
            if run > MAX_GAP:
                self.problems.append(f"gap of {run} steps in the data, filled by interpolation")
            elif run:
                self.problems.append(
                    f"NaN or missing values at {int(holes.sum())} steps, interpolated"
                )
            joined[holes] = np.interp(np.flatnonzero(holes), known, joined[known])
        trim = max(0, len(joined) - self.watch.history_steps)
        self.values = joined[trim:]
        self.start_index += trim
        fresh = self.values[len(self.values) - len(new) :]
        return [(first + i, float(v)) for i, v in enumerate(fresh)]

    def snapshot(self) -> tuple[np.ndarray, int]:
        return self.values.copy(), self.start_index

    def event(self, when: float, text: str) -> None:
        self.events.append((when, text))

    def describe(self) -> dict[str, Any]:
        current = self.versions.current
        return {
            "metric": self.metric,
            "labels": dict(self.labels),
            "counter": self.counter,
            "model": current.model_class if current else None,
            "active_version": current.version_id if current else None,
        }


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for hole in mask.tolist():
        run = run + 1 if hole else 0
        best = max(best, run)
    return best
