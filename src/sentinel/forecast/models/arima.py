"""ARIMA(p, d, q) in NumPy: differencing, Hannan-Rissanen estimation, undifferencing.

The series is differenced ``d`` times; the ARMA(p, q) part is estimated by Hannan and
Rissanen's two regressions (a long autoregression gives residuals, then least squares on
lagged values and lagged residuals), with the AR part shrunk inside the unit circle when
needed. Forecasts are made on the differenced scale and integrated back from the last
value at each differencing level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentinel.forecast.models._univariate import UnivariateModel, errors_result
from sentinel.forecast.models.base import FloatArray, ModelError, TrainingResult

FIT_WINDOW = 2000
RUN_WINDOW = 200


def _lagged(z: FloatArray, lags: int, start: int) -> FloatArray:
    return np.column_stack([z[start - i : len(z) - i] for i in range(1, lags + 1)])


def _stable(phi: FloatArray) -> FloatArray:
    """``phi`` scaled so that the AR polynomial's roots lie outside the unit circle."""
    if not len(phi):
        return phi
    companion = np.zeros((len(phi), len(phi)))
    companion[0] = phi
    companion[1:, :-1] = np.eye(len(phi) - 1)
    radius = float(np.max(np.abs(np.linalg.eigvals(companion))))
    return phi * (0.98 / radius) if radius >= 0.98 else phi


class ARIMAModel(UnivariateModel):
    """ARIMA with a configurable ``order``; default (2, 1, 1)."""

    def __init__(
        self,
        granularity: str = "1m",
        horizon: str = "5m",
        lookback: str = "30m",
        order: tuple[int, int, int] = (2, 1, 1),
    ) -> None:
        super().__init__(granularity, horizon, lookback)
        p, d, q = order
        if min(order) < 0 or d > 2 or p + q > 10:
            raise ValueError(f"ARIMA order {order} is out of range: p, q >= 0, p + q <= 10, d <= 2")
        self.order = (int(p), int(d), int(q))
        self.const = 0.0
        self.phi = np.zeros(p)
        self.theta = np.zeros(q)

    @property
    def min_history(self) -> int:
        p, d, q = self.order
        return d + 3 * (p + q) + 20

    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        p, d, q = self.order
        z = np.diff(values[-FIT_WINDOW:], n=d)
        m = min(max(p + q, 1) * 3 + 2, len(z) // 4)
        resid = np.zeros(len(z))
        if q:
            if m < 1:
                raise ModelError("too little data for the MA part: lower q or wait for more data")
            A = np.column_stack([np.ones(len(z) - m), _lagged(z, m, m)])
            coef, *_ = np.linalg.lstsq(A, z[m:], rcond=None)
            resid[m:] = z[m:] - A @ coef
        start = max(p, q) + (m if q else 0)
        cols = [np.ones(len(z) - start)]
        if p:
            cols.append(_lagged(z, p, start))
        if q:
            cols.append(_lagged(resid, q, start))
        A = np.column_stack(cols)
        coef, *_ = np.linalg.lstsq(A, z[start:], rcond=None)
        self.const = float(coef[0])
        self.phi = _stable(coef[1 : 1 + p])
        self.theta = np.clip(coef[1 + p :], -0.98, 0.98)
        fitted = self._one_step(z)
        return errors_result(z, fitted, "finetune" if finetune else "full_retrain")

    def _residuals(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """One-step fitted values and residuals of the ARMA part over ``z``."""
        p, _, q = self.order
        zs, fitted = z.tolist(), np.full(len(z), np.nan)
        resid = [0.0] * len(zs)
        phi, theta = self.phi.tolist(), self.theta.tolist()
        for t in range(max(p, q), len(zs)):
            f = self.const
            for i in range(p):
                f += phi[i] * zs[t - 1 - i]
            for j in range(q):
                f += theta[j] * resid[t - 1 - j]
            fitted[t] = f
            resid[t] = zs[t] - f
        return fitted, np.asarray(resid)

    def _one_step(self, z: FloatArray) -> FloatArray:
        return self._residuals(z)[0]

    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        p, d, q = self.order
        y = values[-(RUN_WINDOW + d) :]
        levels = [y]
        for _ in range(d):
            levels.append(np.diff(levels[-1]))
        z = levels[-1]
        if len(z) < max(p, q) + 1:
            raise ModelError(f"ARIMA{self.order} needs at least {max(p, q) + 1 + d} values")
        _, resid = self._residuals(z)
        zs, es = list(z[-p:] if p else []), list(resid[-q:] if q else [])
        out = []
        for _ in range(self.horizon_steps):
            f = self.const
            f += sum(self.phi[i] * zs[-1 - i] for i in range(p))
            f += sum(self.theta[j] * es[-1 - j] for j in range(q))
            out.append(f)
            if p:
                zs.append(f)
            if q:
                es.append(0.0)
        forecast = np.asarray(out)
        for level in reversed(levels[:-1]):
            forecast = level[-1] + np.cumsum(forecast)
        return forecast

    def _state(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "const": self.const,
            "phi": self.phi.tolist(),
            "theta": self.theta.tolist(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        p, d, q = (int(x) for x in state["order"])
        self.order = (p, d, q)
        self.const = float(state["const"])
        self.phi = np.asarray(state["phi"], dtype=float).reshape(p)
        self.theta = np.asarray(state["theta"], dtype=float).reshape(q)
