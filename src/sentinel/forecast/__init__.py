"""Forecasting between Prometheus and Grafana (seed 002): the seed's names, kept.

``Sentinel``, ``SentinelConfig`` and ``WatchConfig`` are also importable from ``sentinel``
itself (lazily); models live in :mod:`sentinel.forecast.models` (also
``sentinel.pipeline.models``).
"""

from sentinel.forecast.config import SentinelConfig, WatchConfig
from sentinel.forecast.engine import Sentinel
from sentinel.forecast.models import (
    ARIMAModel,
    BaseModel,
    ExponentialSmoothingModel,
    LinearTrendModel,
    PredictionResult,
    SeasonalModel,
    SeasonalNaiveModel,
    SGDRegressorModel,
    TrainingResult,
)

__all__ = [
    "ARIMAModel",
    "BaseModel",
    "ExponentialSmoothingModel",
    "LinearTrendModel",
    "PredictionResult",
    "SGDRegressorModel",
    "SeasonalModel",
    "SeasonalNaiveModel",
    "Sentinel",
    "SentinelConfig",
    "TrainingResult",
    "WatchConfig",
]
