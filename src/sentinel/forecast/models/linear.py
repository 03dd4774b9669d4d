"""Least-squares trend over the lookback window, extrapolated (``predict_linear``'s idea)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentinel.forecast.models._univariate import UnivariateModel, errors_result
from sentinel.forecast.models.base import FloatArray, TrainingResult


def _line(window: FloatArray) -> tuple[float, float]:
    """Slope and the fitted value at the window's last point."""
    n = len(window)
    t = np.arange(n, dtype=float) - (n - 1)
    slope, intercept = np.polyfit(t, window, 1) if n > 1 else (0.0, float(window[-1]))
    return float(slope), float(intercept)


_SCORED = 200
"""Most recent points whose one-step errors a fit reports."""


class LinearTrendModel(UnivariateModel):
    """The fastest baseline: a straight line through the last ``lookback`` of data."""

    @property
    def min_history(self) -> int:
        return 2

    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        n = min(self.n_lags, len(values) - 1)
        fitted = np.full(len(values), np.nan)
        for i in range(max(n, 2, len(values) - _SCORED), len(values)):
            slope, level = _line(values[i - n : i])
            fitted[i] = level + slope
        return errors_result(values, fitted, "finetune" if finetune else "full_retrain")

    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        slope, level = _line(values[-self.n_lags :])
        return level + slope * np.arange(1, self.horizon_steps + 1, dtype=np.float64)

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: dict[str, Any]) -> None:
        return None
