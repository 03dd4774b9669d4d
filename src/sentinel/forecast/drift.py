"""Drift: the rolling error of past predictions against what actually happened.

Each forecast is remembered per target time; when the actual value for that time arrives,
the errors of every prediction made for it go into a rolling window. The window's mean
absolute error is compared with the watch's thresholds, in the metric's unit (the seed's
``absolute`` mode) or as a share of the series' mean absolute value (``relative``).
"""

from __future__ import annotations

from collections import deque
from enum import Enum

import numpy as np

WINDOW = 60
"""Errors (one per target time) the rolling MAE is taken over."""
MIN_ERRORS = 5
"""Errors needed before drift is judged at all."""


class Severity(Enum):
    """What the drift calls for."""

    NONE = "none"
    LOW = "low"
    """Finetune on recent data."""
    HIGH = "high"
    """Retrain from scratch."""


class DriftMonitor:
    """Pending predictions and the rolling error of one series."""

    def __init__(self, finetune: float, retrain: float, relative: bool) -> None:
        self.finetune, self.retrain, self.relative = finetune, retrain, relative
        self.pending: dict[int, list[float]] = {}
        self.errors: deque[float] = deque(maxlen=WINDOW)

    def expect(self, first_index: int, predicted: np.ndarray) -> None:
        """Remember a forecast whose first step is grid index ``first_index``."""
        for i, value in enumerate(predicted.tolist()):
            self.pending.setdefault(first_index + i, []).append(value)

    def observe(self, index: int, actual: float) -> None:
        """Score the predictions made for ``index`` against ``actual``."""
        if not self.pending:
            return
        for stale in [i for i in self.pending if i < index]:
            del self.pending[stale]
        made = self.pending.pop(index, None)
        if made:
            self.errors.append(float(np.mean(np.abs(np.asarray(made) - actual))))

    def mae(self) -> float | None:
        return float(np.mean(self.errors)) if self.errors else None

    def score(self, scale: float) -> float | None:
        """The rolling MAE in threshold units (divided by ``scale`` in relative mode)."""
        mae = self.mae()
        if mae is None:
            return None
        return mae / max(scale, 1e-12) if self.relative else mae

    def severity(self, scale: float) -> Severity:
        score = self.score(scale)
        if score is None or len(self.errors) < MIN_ERRORS:
            return Severity.NONE
        if score >= self.retrain:
            return Severity.HIGH
        if score >= self.finetune:
            return Severity.LOW
        return Severity.NONE

    def reset(self) -> None:
        """Forget errors after a new model starts serving (they were the old model's)."""
        self.errors.clear()
        self.pending.clear()
