"""The seed's configuration: :class:`SentinelConfig` and one :class:`WatchConfig` per series.

Every field and default of the published ``sentinel-mlops`` is kept. Fields it did not have
come last with defaults, so its examples run unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinel.forecast import _durations

if TYPE_CHECKING:
    from sentinel.forecast.models.base import BaseModel

THRESHOLD_MODES = ("absolute", "relative")


@dataclass
class WatchConfig:
    """One watched metric (a selector that may match several series)."""

    metric: str
    """Prometheus metric name."""
    labels: dict[str, str] = field(default_factory=dict)
    """Label filters (equality matchers)."""
    model_class: type[BaseModel] | None = None
    """Model class; ``None`` chooses per series by rolling-origin backtest."""
    cron: str = "0 */6 * * *"
    """Scheduled retraining (croniter syntax), whatever the drift."""
    granularity: str = "1m"
    """Resolution of the data and of the predictions."""
    horizon: str = "5m"
    """How far ahead to predict."""
    lookback: str = "30m"
    """Feature window (lags) of the feature-based models."""
    drift_finetune_threshold: float = 0.1
    """Rolling error at or above this finetunes."""
    drift_retrain_threshold: float = 0.3
    """Rolling error at or above this retrains from scratch."""
    drift_threshold_mode: str = "absolute"
    """``absolute``: thresholds in the metric's unit (the seed's); ``relative``: as a share of
    the series' mean absolute value."""
    history: str = "2d"
    """How much data each series keeps for training (two days finds a daily season)."""
    counter: bool | None = None
    """Whether the metric is a counter forecast as ``rate()``; ``None`` asks Prometheus's
    metadata (and falls back to the ``_total`` suffix)."""

    def __post_init__(self) -> None:
        if not self.metric or not self.metric.replace("_", "a").replace(":", "a").isalnum():
            raise ValueError(f"metric {self.metric!r} is not a Prometheus metric name")
        for name in ("granularity", "horizon", "lookback", "history"):
            _durations.seconds(getattr(self, name))
        _durations.steps(self.horizon, self.granularity)
        _durations.steps(self.lookback, self.granularity)
        if self.drift_threshold_mode not in THRESHOLD_MODES:
            raise ValueError(
                f"drift_threshold_mode must be one of {', '.join(THRESHOLD_MODES)}, "
                f"got {self.drift_threshold_mode!r}"
            )
        if not 0 <= self.drift_finetune_threshold <= self.drift_retrain_threshold:
            raise ValueError(
                "drift thresholds must satisfy 0 <= drift_finetune_threshold <= "
                f"drift_retrain_threshold, got {self.drift_finetune_threshold} and "
                f"{self.drift_retrain_threshold}"
            )
        from croniter import croniter

        if not croniter.is_valid(self.cron):
            raise ValueError(f"cron {self.cron!r} is not a cron expression, e.g. '0 */6 * * *'")

    @property
    def horizon_steps(self) -> int:
        return _durations.steps(self.horizon, self.granularity)

    @property
    def lags(self) -> int:
        return _durations.steps(self.lookback, self.granularity)

    @property
    def step_s(self) -> float:
        return _durations.seconds(self.granularity)

    @property
    def history_steps(self) -> int:
        return max(int(_durations.seconds(self.history) // self.step_s), 4 * self.lags)


@dataclass
class SentinelConfig:
    """Where Prometheus is, where artifacts go, and what to watch."""

    prometheus_url: str = "http://localhost:9090"
    """URL of the Prometheus to read from (and to hand PromQL to)."""
    emitter_port: int = 8080
    """Port of the standalone emitter (``/metrics``, the query API, remote-read); 0 picks a
    free one. The server's domain serves them on the server's own port instead."""
    artifact_store: str = "./sentinel_artifacts"
    """Directory for model artifacts, or ``s3://bucket/prefix`` (boto3)."""
    max_versions_per_metric: int = 5
    """Versions kept per series; the active one is never removed."""
    watches: list[WatchConfig] = field(default_factory=list)
    """The watched metrics."""
    scrape_timeout: int = 10
    """HTTP timeout for Prometheus requests, in seconds."""
    emit_confidence_bounds: bool = False
    """Also emit ``_lower`` and ``_upper`` series (a 90 % interval from backtest residuals)."""
    emitter_host: str = "127.0.0.1"
    """Address the standalone emitter listens on."""
    s3_endpoint_url: str = ""
    """Endpoint of an S3-compatible store for ``s3://`` artifact stores; empty: AWS."""
    shard_database_url: str = ""
    """PostgreSQL URL shared by several workers watching the same metrics: each forecasts
    only the series of the shards it leases (see ``sentinel.forecast.sharding``); empty:
    this process watches every series."""
    shards: int = 64
    """Shards the series are spread over when ``shard_database_url`` is set."""

    def __post_init__(self) -> None:
        if self.max_versions_per_metric < 1:
            raise ValueError("max_versions_per_metric must be at least 1")
        if self.scrape_timeout <= 0:
            raise ValueError("scrape_timeout must be a positive number of seconds")
        if not self.prometheus_url.startswith(("http://", "https://")):
            raise ValueError(
                f"prometheus_url {self.prometheus_url!r} must start with http:// or https://"
            )
