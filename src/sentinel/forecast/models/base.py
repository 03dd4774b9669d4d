"""The model interface of the seed, and the series interface the pipeline calls.

A model written for ``sentinel-mlops`` implements five methods over lag features
(:func:`~sentinel.forecast.models.features.lag_matrix`): ``fit``, ``partial_fit``, ``predict``,
``save`` and ``load``. The pipeline calls :meth:`BaseModel.fit_series` and
:meth:`BaseModel.forecast`, whose defaults build those features, so such a model works
unchanged; the built-in univariate models override them to see the whole history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentinel.forecast import _durations
from sentinel.forecast.models.features import lag_matrix, prediction_input

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class PredictionResult:
    """A forecast: one value per horizon step, and absolute timestamps once the pipeline sets
    them."""

    values: FloatArray
    timestamps: FloatArray = field(default_factory=lambda: np.zeros(0))
    lower_bound: FloatArray | None = None
    upper_bound: FloatArray | None = None
    model_version: str | None = None


@dataclass
class TrainingResult:
    """What a fit reports: in-sample one-step errors and the policy that produced it."""

    mae: float
    mape: float
    n_samples: int
    training_policy: str = "full_retrain"
    """``full_retrain`` or ``finetune``."""
    extra: dict[str, Any] = field(default_factory=dict)


class ModelError(ValueError):
    """A model cannot fit or forecast this data, or an artifact is not one of its own."""


class BaseModel(ABC):
    """A forecasting model for one series."""

    def __init__(self, granularity: str = "1m", horizon: str = "5m", lookback: str = "30m") -> None:
        self.granularity = granularity
        self.horizon = horizon
        self.lookback = lookback
        self.horizon_steps = _durations.steps(horizon, granularity)
        self.n_lags = _durations.steps(lookback, granularity)
        self._is_fitted = False

    @abstractmethod
    def fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        """Train from scratch on lag features ``X`` (n_samples, n_features) and targets ``y``."""

    @abstractmethod
    def partial_fit(self, X: FloatArray, y: FloatArray) -> TrainingResult:
        """Continue training from the current state (a finetune)."""

    @abstractmethod
    def predict(self, X: FloatArray) -> PredictionResult:
        """Forecast ``horizon_steps`` values from one feature row ``X`` (1, n_features)."""

    @abstractmethod
    def save(self, path: str) -> None:
        """Write the fitted state to the file ``path``."""

    @abstractmethod
    def load(self, path: str) -> None:
        """Read a state :meth:`save` wrote; raise on anything else."""

    @property
    def is_fitted(self) -> bool:
        return self._is_fitted

    @property
    def min_history(self) -> int:
        """Fewest values :meth:`fit_series` trains on."""
        return self.n_lags + 4

    def fit_series(self, values: FloatArray, offset: int = 0) -> TrainingResult:
        """Train on a whole series; ``offset`` is the grid index of ``values[0]`` (its phase)."""
        return self.fit(*lag_matrix(values, self.n_lags))

    def partial_fit_series(self, values: FloatArray, offset: int = 0) -> TrainingResult:
        """Finetune on recent values."""
        return self.partial_fit(*lag_matrix(values, self.n_lags))

    def forecast(self, values: FloatArray, offset: int = 0) -> FloatArray:
        """The next ``horizon_steps`` values after ``values`` (grid index of ``values[0]``:
        ``offset``)."""
        out = np.asarray(self.predict(prediction_input(values, self.n_lags)).values, dtype=float)
        if out.shape != (self.horizon_steps,):
            raise ModelError(
                f"{type(self).__name__}.predict returned {out.shape[0] if out.ndim else 0} "
                f"values; it must return horizon_steps={self.horizon_steps}"
            )
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(granularity={self.granularity}, horizon={self.horizon}, "
            f"lookback={self.lookback}, fitted={self._is_fitted})"
        )
