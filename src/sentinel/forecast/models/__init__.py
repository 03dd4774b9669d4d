"""Forecasting models: the seed's four, a seasonal model and the seasonal naive baseline.

Also importable as ``sentinel.pipeline.models`` (the seed's path), which is this same module.
"""

from sentinel.forecast.models.arima import ARIMAModel
from sentinel.forecast.models.base import BaseModel, ModelError, PredictionResult, TrainingResult
from sentinel.forecast.models.linear import LinearTrendModel
from sentinel.forecast.models.seasonal import SeasonalModel, SeasonalNaiveModel
from sentinel.forecast.models.sgd import SGDRegressorModel
from sentinel.forecast.models.smoothing import ExponentialSmoothingModel

BUILTIN: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (
        SeasonalNaiveModel,
        LinearTrendModel,
        ExponentialSmoothingModel,
        ARIMAModel,
        SGDRegressorModel,
        SeasonalModel,
    )
}
"""The built-in models by class name (how artifacts name them)."""

__all__ = [
    "ARIMAModel",
    "BUILTIN",
    "BaseModel",
    "ExponentialSmoothingModel",
    "LinearTrendModel",
    "ModelError",
    "PredictionResult",
    "SGDRegressorModel",
    "SeasonalModel",
    "SeasonalNaiveModel",
    "TrainingResult",
]
