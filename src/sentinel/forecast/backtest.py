"""Rolling-origin backtests: how a model would have done, which model to use, and the
prediction intervals its errors imply."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sentinel.forecast.models.base import BaseModel, FloatArray, ModelError

MAX_ORIGINS = 24
COVERAGE = 0.9
"""Nominal coverage of the emitted interval."""


@dataclass(frozen=True)
class Backtest:
    """Forecast errors (actual minus predicted) of one model, origins by steps."""

    errors: FloatArray

    @property
    def mae(self) -> float:
        return float(np.mean(np.abs(self.errors))) if self.errors.size else float("inf")

    def interval(self) -> tuple[FloatArray, FloatArray]:
        """Offsets added to the forecast for the lower and upper bound, per step.

        Split-conformal: the ``ceil((n + 1) * COVERAGE)``-th smallest absolute error of
        ``n`` origins, which covers at least ``COVERAGE`` of future errors that behave
        like the backtest's (plain 5th/95th percentiles of a dozen errors cover far less).
        """
        n = len(self.errors)
        if not n:
            return np.zeros(0), np.zeros(0)
        k = min(n, math.ceil((n + 1) * COVERAGE))
        q = np.sort(np.abs(self.errors), axis=0)[k - 1]
        return -q, q


def origins(n: int, min_train: int, horizon: int, count: int = MAX_ORIGINS) -> list[int]:
    """Forecast origins (number of values known) over the last part of ``n`` values."""
    last = n - horizon
    out = [last - i * horizon for i in range(count)]
    return sorted(o for o in out if o >= min_train)


def evaluate(model: BaseModel, values: FloatArray, offset: int, at: Sequence[int]) -> Backtest:
    """Errors of an already-fitted ``model`` forecasting from each origin in ``at``."""
    h = model.horizon_steps
    rows = []
    for o in at:
        rows.append(values[o : o + h] - model.forecast(values[:o], offset))
    return Backtest(np.asarray(rows, dtype=float).reshape(len(rows), h))


@dataclass
class Choice:
    """The model a training run chose, with its backtest and what the others scored."""

    model: BaseModel
    backtest: Backtest
    scores: dict[str, float]


def choose(factories: Sequence[Callable[[], BaseModel]], values: FloatArray, offset: int) -> Choice:
    """Fit every candidate on the data before the backtest window, score it on rolling
    origins, and refit the best one on everything.

    Raises:
        ModelError: no candidate can be fitted on this data.
    """
    best: tuple[float, Callable[[], BaseModel], Backtest] | None = None
    scores: dict[str, float] = {}
    problems = []
    for make in factories:
        model = make()
        h = model.horizon_steps
        at = origins(len(values), max(model.min_history, model.n_lags), h)
        try:
            if at:
                model.fit_series(values[: at[0]], offset)
                result = evaluate(model, values, offset, at)
            else:
                result = Backtest(np.zeros((0, h)))
        except (ModelError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            problems.append(f"{type(model).__name__}: {exc}")
            continue
        score = result.mae if np.isfinite(result.mae) else float("inf")
        scores[type(model).__name__] = score
        if best is None or score < best[0]:
            best = (score, make, result)
    if best is None:
        raise ModelError("no model could be fitted: " + "; ".join(problems))
    model = best[1]()
    try:
        model.fit_series(values, offset)
    except (ModelError, ValueError, np.linalg.LinAlgError) as exc:
        raise ModelError(f"{type(model).__name__}: {exc}") from None
    return Choice(model=model, backtest=best[2], scores=scores)
