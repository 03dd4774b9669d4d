"""Seasonal models: the season is found in the data, not assumed.

Candidate periods are the calendar's (hour, day, week, year) expressed in steps of the
series' granularity; a candidate is kept when at least two full periods are available and
the detrended series' autocorrelation at that lag is clearly positive. The phase of a value
is its grid index modulo the period (``offset`` carries the index of the first value), so a
sliding buffer keeps the same phase for the same time of day.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentinel.forecast import _durations
from sentinel.forecast.models._univariate import UnivariateModel, errors_result
from sentinel.forecast.models.base import FloatArray, TrainingResult
from sentinel.forecast.models.smoothing import damped_steps, fit_holt, run_holt

CALENDAR_S = (3600.0, 86400.0, 7 * 86400.0, 365.25 * 86400.0)
MIN_ACF = 0.3
MAX_PERIOD = 20_000
FIT_WINDOW = 720
RUN_WINDOW = 240


def candidate_periods(granularity: str) -> list[int]:
    """Calendar periods that are (nearly) whole numbers of ``granularity`` steps."""
    step = _durations.seconds(granularity)
    out = []
    for span in CALENDAR_S:
        n = span / step
        if 2 <= round(n) <= MAX_PERIOD and abs(n - round(n)) / n < 0.03:
            out.append(round(n))
    return out


def detect_period(values: FloatArray, candidates: list[int]) -> int:
    """The candidate season of the detrended series, or 0 for none.

    A candidate needs autocorrelation above ``MIN_ACF`` at its lag, and the winner has the
    largest contrast between its lag and half its lag: a daily wave is as correlated at one
    hour as at one day, but only the true period is anti- or un-correlated at half of it.
    """
    v = np.asarray(values, dtype=float)
    t = np.arange(len(v), dtype=float)
    resid = v - np.polyval(np.polyfit(t, v, 1), t) if len(v) > 2 else v - v.mean()
    var = float(resid @ resid)
    if var <= 0:
        return 0

    def acf(lag: int) -> float:
        return float(resid[lag:] @ resid[:-lag]) / var * len(v) / (len(v) - lag)

    best, best_score = 0, 0.1
    for p in candidates:
        if len(v) < 2 * p:
            continue
        at_p = acf(p)
        score = at_p - acf(max(p // 2, 1))
        if at_p > MIN_ACF and score > best_score:
            best, best_score = p, score
    return best


def seasonal_profile(values: FloatArray, period: int, offset: int) -> FloatArray:
    """Mean deviation from a centred moving average by phase, lightly smoothed, summing to
    zero."""
    v = np.asarray(values, dtype=float)
    kernel = np.ones(period) / period
    trend = np.convolve(v, kernel, mode="same")
    half = period // 2
    valid = np.zeros(len(v), dtype=bool)
    valid[half : len(v) - half] = True
    phases = (np.arange(len(v)) + offset) % period
    sums = np.bincount(phases[valid], weights=(v - trend)[valid], minlength=period)
    counts = np.bincount(phases[valid], minlength=period)
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    width = max(1, period // 48)
    if width > 1:
        # Circular smoothing: one or two values per phase are noisy, the season is not.
        padded = np.concatenate([profile[-width:], profile, profile[:width]])
        profile = np.convolve(padded, np.ones(width) / width, mode="same")[width:-width]
    return profile - profile.mean()


class SeasonalModel(UnivariateModel):
    """Season profile (found from the data) plus damped Holt on the deseasonalised series;
    plain damped Holt where no season is found."""

    def __init__(
        self,
        granularity: str = "1m",
        horizon: str = "5m",
        lookback: str = "30m",
        periods: list[int] | None = None,
    ) -> None:
        super().__init__(granularity, horizon, lookback)
        self.periods = list(periods) if periods is not None else candidate_periods(granularity)
        self.period = 0
        self.profile = np.zeros(0)
        self.alpha, self.beta, self.phi = 0.5, 0.0, 1.0

    @property
    def min_history(self) -> int:
        return 8

    def _deseason(self, values: FloatArray, offset: int) -> FloatArray:
        if not self.period:
            return values
        phases = (np.arange(len(values)) + offset) % self.period
        return values - self.profile[phases]

    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        self.period = detect_period(values, self.periods)
        self.profile = seasonal_profile(values, self.period, offset) if self.period else np.zeros(0)
        start = max(0, len(values) - FIT_WINDOW)
        y = self._deseason(values, offset)[start:]
        self.alpha, self.beta, self.phi, _ = fit_holt(y)
        fitted = np.full(len(y), np.nan)
        run_holt(y, self.alpha, self.beta, self.phi, fitted)
        return errors_result(y, fitted, "finetune" if finetune else "full_retrain")

    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        start = max(0, len(values) - RUN_WINDOW)
        tail = values[start:]
        y = self._deseason(tail, offset + start)
        level, trend = run_holt(y, self.alpha, self.beta, self.phi)
        out = level + trend * damped_steps(self.phi, self.horizon_steps)
        if self.period:
            future = (offset + len(values) + np.arange(self.horizon_steps)) % self.period
            out = out + self.profile[future]
        return out

    def _state(self) -> dict[str, Any]:
        return {
            "periods": self.periods,
            "period": self.period,
            "profile": self.profile.tolist(),
            "alpha": self.alpha,
            "beta": self.beta,
            "phi": self.phi,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.periods = [int(p) for p in state["periods"]]
        self.period = int(state["period"])
        self.profile = np.asarray(state["profile"], dtype=float)
        if len(self.profile) != self.period:
            raise ValueError(f"a profile of {len(self.profile)} phases for period {self.period}")
        self.alpha, self.beta, self.phi = (float(state[k]) for k in ("alpha", "beta", "phi"))


class SeasonalNaiveModel(UnivariateModel):
    """The value one season ago (the last value where no season is found): the baseline
    every model has to beat."""

    def __init__(
        self,
        granularity: str = "1m",
        horizon: str = "5m",
        lookback: str = "30m",
        periods: list[int] | None = None,
    ) -> None:
        super().__init__(granularity, horizon, lookback)
        self.periods = list(periods) if periods is not None else candidate_periods(granularity)
        self.period = 0

    @property
    def min_history(self) -> int:
        return 2

    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        self.period = detect_period(values, self.periods)
        lag = self.period or 1
        fitted = np.full(len(values), np.nan)
        fitted[lag:] = values[:-lag]
        return errors_result(values, fitted, "finetune" if finetune else "full_retrain")

    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        h = np.arange(self.horizon_steps)
        if not self.period or len(values) < self.period:
            return np.full(self.horizon_steps, values[-1])
        return values[len(values) - self.period + h % self.period]

    def _state(self) -> dict[str, Any]:
        return {"periods": self.periods, "period": self.period}

    def _restore(self, state: dict[str, Any]) -> None:
        self.periods = [int(p) for p in state["periods"]]
        self.period = int(state["period"])
