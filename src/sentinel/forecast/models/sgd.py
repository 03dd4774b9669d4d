"""A linear model on scaled lag features, trained by stochastic gradient descent.

Features are standardised with a scaler fixed at the first fit, so ``partial_fit`` continues
from the existing weights on the same scale. Multi-step forecasts feed each predicted value
back in as the newest lag.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sentinel.forecast.models._univariate import FORMAT, errors_result
from sentinel.forecast.models.base import (
    BaseModel,
    FloatArray,
    ModelError,
    PredictionResult,
    TrainingResult,
)
from sentinel.forecast.models.features import lag_matrix, prediction_input

FIT_WINDOW = 3000


class SGDRegressorModel(BaseModel):
    """Online learning: the most finetune-friendly model."""

    def __init__(
        self,
        granularity: str = "1m",
        horizon: str = "5m",
        lookback: str = "30m",
        epochs: int = 20,
        learning_rate: float = 0.01,
        l2: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(granularity, horizon, lookback)
        self.epochs, self.learning_rate, self.l2 = epochs, learning_rate, l2
        self._rng = np.random.default_rng(seed)
        self.mu, self.sigma = 0.0, 1.0
        self.weights = np.zeros(0)
        self.bias = 0.0

    def _scaled(self, X: FloatArray) -> FloatArray:
        Z = (np.asarray(X, dtype=float) - self.mu) / self.sigma
        Z[:, -1] = np.asarray(X, dtype=float)[:, -1] / self.sigma
        return Z

    def _train(self, X: FloatArray, y: FloatArray, epochs: int) -> None:
        Z, t = self._scaled(X), (np.asarray(y, dtype=float) - self.mu) / self.sigma
        batch = 32
        for epoch in range(epochs):
            lr = self.learning_rate / (1 + 0.2 * epoch)
            order = self._rng.permutation(len(Z))
            for start in range(0, len(Z), batch):
                idx = order[start : start + batch]
                err = Z[idx] @ self.weights + self.bias - t[idx]
                self.weights -= lr * (Z[idx].T @ err / len(idx) + self.l2 * self.weights)
                self.bias -= lr * float(err.mean())

    def _check(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        X, y = np.asarray(X, dtype=float)[-FIT_WINDOW:], np.asarray(y, dtype=float)[-FIT_WINDOW:]
        if X.ndim != 2 or len(X) != len(y) or not len(X):
            raise ModelError(f"expected X (n, features) and y (n,), got {X.shape} and {y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ModelError("SGDRegressorModel needs finite features and targets")
        return X, y

    def fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        X, y = self._check(X, y)
        self.mu = float(y.mean())
        self.sigma = float(y.std()) or 1.0
        # Start from persistence (the newest lag), which SGD then corrects.
        self.weights = np.zeros(X.shape[1])
        self.weights[self.n_lags - 1] = 1.0
        self.bias = 0.0
        self._train(X, y, self.epochs)
        self._is_fitted = True
        return errors_result(y, self._one_step(X), "full_retrain")

    def partial_fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        if not self._is_fitted:
            return self.fit(X, y)
        X, y = self._check(X, y)
        if X.shape[1] != len(self.weights):
            raise ModelError(f"expected {len(self.weights)} features, got {X.shape[1]}")
        self._train(X, y, max(1, self.epochs // 4))
        return errors_result(y, self._one_step(X), "finetune")

    def _one_step(self, X: FloatArray) -> FloatArray:
        return (self._scaled(X) @ self.weights + self.bias) * self.sigma + self.mu

    def predict(self, X: FloatArray) -> PredictionResult:
        if not self._is_fitted:
            raise ModelError("SGDRegressorModel is not fitted: call fit first")
        window = list(np.asarray(X, dtype=float).reshape(-1)[: self.n_lags])
        out = []
        for _ in range(self.horizon_steps):
            row = prediction_input(np.asarray(window), self.n_lags)
            value = float(self._one_step(row)[0])
            out.append(value)
            window = window[1:] + [value]
        values = np.asarray(out)
        return PredictionResult(values=values, timestamps=np.arange(len(values), dtype=float))

    def fit_series(self, values: FloatArray, offset: int = 0) -> TrainingResult:
        return self.fit(*lag_matrix(np.asarray(values)[-(FIT_WINDOW + self.n_lags) :], self.n_lags))

    def save(self, path: str) -> None:
        state = {
            "mu": self.mu,
            "sigma": self.sigma,
            "weights": self.weights.tolist(),
            "bias": self.bias,
        }
        doc = {"format": FORMAT, "model": type(self).__name__, "state": state}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)

    def load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc.get("format") != FORMAT or doc.get("model") != type(self).__name__:
                raise ModelError("not an artifact of this model")
            state: dict[str, Any] = doc["state"]
            weights = np.asarray(state["weights"], dtype=float)
            if weights.shape != (self.n_lags + 2,):
                raise ModelError(f"{len(weights)} weights for {self.n_lags + 2} features")
            self.mu, self.sigma, self.bias = (float(state[k]) for k in ("mu", "sigma", "bias"))
            self.weights = weights
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot load SGDRegressorModel from {path}: {exc}") from None
        self._is_fitted = True
