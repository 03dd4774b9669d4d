"""Shared machinery of the built-in models: the seed's feature interface mapped onto the
series they really use, one-step errors, and JSON artifacts (never pickle)."""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any

import numpy as np

from sentinel.forecast.models.base import (
    BaseModel,
    FloatArray,
    ModelError,
    PredictionResult,
    TrainingResult,
)
from sentinel.forecast.models.features import series_from_features

FORMAT = "sentinel-forecast-model/1"


def errors_result(actual: FloatArray, fitted: FloatArray, policy: str) -> TrainingResult:
    """MAE and MAPE (%) of one-step fitted values."""
    a, f = np.asarray(actual, dtype=float), np.asarray(fitted, dtype=float)
    ok = np.isfinite(f)
    if not ok.any():
        return TrainingResult(mae=float("nan"), mape=float("nan"), n_samples=len(a))
    err = np.abs(a[ok] - f[ok])
    mape = float(np.mean(err / np.maximum(np.abs(a[ok]), 1e-8)) * 100)
    return TrainingResult(
        mae=float(err.mean()), mape=mape, n_samples=len(a), training_policy=policy
    )


class UnivariateModel(BaseModel):
    """A model of the series itself; the seed's ``X``/``y`` calls rebuild the series."""

    @abstractmethod
    def _fit(self, values: FloatArray, offset: int, finetune: bool) -> TrainingResult:
        """Fit on the series ``values`` whose first point is step ``offset``."""

    @abstractmethod
    def _forecast(self, values: FloatArray, offset: int) -> FloatArray:
        """The next ``horizon_steps`` values after ``values``."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The fitted parameters, JSON-safe, for the artifact."""

    @abstractmethod
    def _restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`_state` gave."""

    def _checked(self, values: FloatArray) -> FloatArray:
        v = np.asarray(values, dtype=float)
        if v.ndim != 1 or not np.isfinite(v).all():
            raise ModelError(f"{type(self).__name__} needs a 1-D series of finite values")
        return v

    def fit_series(self, values: FloatArray, offset: int = 0) -> TrainingResult:
        v = self._checked(values)
        if len(v) < self.min_history:
            raise ModelError(
                f"{type(self).__name__} needs at least {self.min_history} values, got {len(v)}"
            )
        result = self._fit(v, offset, finetune=False)
        self._is_fitted = True
        return result

    def partial_fit_series(self, values: FloatArray, offset: int = 0) -> TrainingResult:
        if not self._is_fitted:
            return self.fit_series(values, offset)
        v = self._checked(values)
        result = self._fit(v, offset, finetune=True)
        result.training_policy = "finetune"
        return result

    def forecast(self, values: FloatArray, offset: int = 0) -> FloatArray:
        if not self._is_fitted:
            raise ModelError(f"{type(self).__name__} is not fitted: call fit first")
        out = np.asarray(self._forecast(self._checked(values), offset), dtype=float)
        return out[: self.horizon_steps]

    def fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        return self.fit_series(series_from_features(X, y, self.n_lags))

    def partial_fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        return self.partial_fit_series(series_from_features(X, y, self.n_lags))

    def predict(self, X: FloatArray) -> PredictionResult:
        row = np.asarray(X, dtype=float).reshape(1, -1)
        values = self.forecast(row[0, : self.n_lags])
        return PredictionResult(values=values, timestamps=np.arange(len(values), dtype=float))

    def save(self, path: str) -> None:
        doc = {
            "format": FORMAT,
            "model": type(self).__name__,
            "granularity": self.granularity,
            "horizon": self.horizon,
            "lookback": self.lookback,
            "state": self._state(),
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)

    def load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc.get("format") != FORMAT or doc.get("model") != type(self).__name__:
                raise ModelError("not an artifact of this model")
            self._restore(doc["state"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot load {type(self).__name__} from {path}: {exc}") from None
        self._is_fitted = True
