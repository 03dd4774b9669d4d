"""Holt's linear exponential smoothing with a damped trend, every parameter fitted.

``alpha`` (level), ``beta`` (trend) and ``phi`` (damping; 1 is Holt's undamped method) are
chosen by minimising the one-step squared error over the recent history: a coarse grid run
as one vectorised pass, then a finer grid around the best point. The published package
fixed them instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentinel.forecast.models._univariate import UnivariateModel, errors_result
from sentinel.forecast.models.base import FloatArray, TrainingResult

FIT_WINDOW = 720
"""Most recent points the parameters are fitted on."""
RUN_WINDOW = 240
"""Most recent points the filter runs over to forecast (older ones weigh at most 0.98^240)."""
_ALPHAS = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99])
_BETAS = np.array([0.0, 0.01, 0.05, 0.1, 0.2, 0.4])
_PHIS = np.array([0.8, 0.9, 0.95, 0.98, 1.0])


def holt_filter(
    y: FloatArray, alpha: FloatArray, beta: FloatArray, phi: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Run damped Holt over ``y`` for arrays of parameters at once.

    Returns the sum of squared one-step errors, and the final level and trend, per
    parameter set.
    """
    k = min(len(y) - 1, 4)
    level = np.full(alpha.shape, float(y[0]))
    trend = np.full(alpha.shape, float(y[k] - y[0]) / max(k, 1))
    sse = np.zeros(alpha.shape)
    for value in y[1:]:
        predicted = level + phi * trend
        error = value - predicted
        sse += error * error
        new_level = predicted + alpha * error
        trend = phi * trend + alpha * beta * error
        level = new_level
    return sse, level, trend


def run_holt(
    y: FloatArray, alpha: float, beta: float, phi: float, fitted: FloatArray | None = None
) -> tuple[float, float]:
    """Final level and trend of damped Holt over ``y`` (plain floats: fast for one set);
    one-step forecasts go into ``fitted`` when given."""
    values = y.tolist()
    k = min(len(values) - 1, 4)
    level, trend = values[0], (values[k] - values[0]) / max(k, 1)
    ab = alpha * beta
    for i in range(1, len(values)):
        predicted = level + phi * trend
        if fitted is not None:
            fitted[i] = predicted
        error = values[i] - predicted
        level = predicted + alpha * error
        trend = phi * trend + ab * error
    return level, trend


def damped_steps(phi: float, steps: int) -> FloatArray:
    """``phi + phi^2 + ... + phi^h`` for h = 1..steps: how far the trend carries."""
    return np.cumsum(phi ** np.arange(1, steps + 1))


def fit_holt(y: FloatArray) -> tuple[float, float, float, float]:
    """Best ``(alpha, beta, phi)`` on ``y`` and its mean squared one-step error."""
    a, b, p = (g.ravel() for g in np.meshgrid(_ALPHAS, _BETAS, _PHIS, indexing="ij"))
    sse, _, _ = holt_filter(y, a, b, p)
    i = int(np.argmin(sse))
    fa = np.clip(a[i] * np.array([0.7, 0.85, 1.0, 1.15, 1.3]), 0.01, 1.0)
    fb = np.clip(b[i] + np.array([-0.02, -0.01, 0.0, 0.01, 0.02]), 0.0, 1.0)
    a2, b2, p2 = (g.ravel() for g in np.meshgrid(fa, fb, [p[i]], indexing="ij"))
    sse2, _, _ = holt_filter(y, a2, b2, p2)
    j = int(np.argmin(sse2))
    return float(a2[j]), float(b2[j]), float(p2[j]), float(sse2[j] / max(len(y) - 1, 1))


class ExponentialSmoothingModel(UnivariateModel):
    """Level and (damped) trend; no seasonality. Parameters fitted, not fixed."""

    alpha = 0.5
    beta = 0.1
    phi = 1.0

    @property
    def min_history(self) -> int:
        return 8

    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        y = values[-FIT_WINDOW:]
        self.alpha, self.beta, self.phi, _ = fit_holt(y)
        fitted = self._one_step(y)
        return errors_result(y, fitted, "finetune" if finetune else "full_retrain")

    def _one_step(self, y: FloatArray) -> FloatArray:
        fitted = np.full(len(y), np.nan)
        level, trend = run_holt(y, self.alpha, self.beta, self.phi, fitted)
        return fitted

    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        level, trend = run_holt(values[-RUN_WINDOW:], self.alpha, self.beta, self.phi)
        return level + trend * damped_steps(self.phi, self.horizon_steps)

    def _state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "phi": self.phi}

    def _restore(self, state: dict[str, Any]) -> None:
        self.alpha, self.beta, self.phi = (float(state[k]) for k in ("alpha", "beta", "phi"))
