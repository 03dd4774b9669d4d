"""The seed's configuration: every field and default, and clear errors for bad values."""

from __future__ import annotations

import dataclasses

import pytest

from sentinel.forecast import _durations
from sentinel.forecast.config import SentinelConfig, WatchConfig
from sentinel.forecast.models import ExponentialSmoothingModel
from sentinel.forecast.settings import parse_watches


def test_every_seed_field_and_default() -> None:
    c = SentinelConfig()
    assert (c.prometheus_url, c.emitter_port, c.artifact_store) == (
        "http://localhost:9090",
        8080,
        "./sentinel_artifacts",
    )
    assert (c.max_versions_per_metric, c.scrape_timeout, c.emit_confidence_bounds) == (5, 10, False)
    assert c.watches == []
    w = WatchConfig(metric="http_request_duration_seconds", model_class=ExponentialSmoothingModel)
    seed = {
        "labels": {},
        "granularity": "1m",
        "horizon": "5m",
        "lookback": "30m",
        "cron": "0 */6 * * *",
        "drift_finetune_threshold": 0.1,
        "drift_retrain_threshold": 0.3,
    }
    assert {k: getattr(w, k) for k in seed} == seed
    names = [f.name for f in dataclasses.fields(WatchConfig)]
    assert names[:3] == ["metric", "labels", "model_class"]
    assert (w.horizon_steps, w.lags, w.step_s) == (5, 30, 60.0)


def test_the_seed_quick_start_constructs() -> None:
    config = SentinelConfig(
        prometheus_url="http://localhost:9090",
        emitter_port=8080,
        artifact_store="./sentinel_artifacts",
        watches=[
            WatchConfig(
                metric="http_request_duration_seconds",
                labels={"job": "api"},
                model_class=ExponentialSmoothingModel,
                granularity="1m",
                horizon="5m",
                lookback="30m",
                cron="0 */6 * * *",
            )
        ],
    )
    assert config.watches[0].labels == {"job": "api"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"horizon": "90s"}, "whole number"),
        ({"granularity": "soon"}, "not a duration"),
        ({"cron": "every day"}, "not a cron expression"),
        ({"drift_finetune_threshold": 0.5, "drift_retrain_threshold": 0.3}, "drift thresholds"),
        ({"drift_threshold_mode": "percent"}, "drift_threshold_mode"),
        ({"metric": "bad name!"}, "not a Prometheus metric name"),
    ],
)
def test_bad_watch_fields_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WatchConfig(**{"metric": "x", **changes})  # type: ignore[arg-type]


def test_bad_sentinel_config_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        SentinelConfig(prometheus_url="localhost:9090")
    with pytest.raises(ValueError, match="max_versions_per_metric"):
        SentinelConfig(max_versions_per_metric=0)


def test_durations() -> None:
    assert _durations.seconds("1h30m") == 5400
    assert _durations.steps("30m", "1m") == 30
    with pytest.raises(ValueError, match="not a duration"):
        _durations.seconds("5 minutes")


def test_watches_from_json() -> None:
    (w,) = parse_watches('[{"metric": "up", "labels": {"job": "a"}, "model_class": "ARIMAModel"}]')
    assert w.model_class is not None and w.model_class.__name__ == "ARIMAModel"
    with pytest.raises(ValueError, match="not one of"):
        parse_watches('[{"metric": "up", "model_class": "Prophet"}]')
    with pytest.raises(ValueError, match="not JSON"):
        parse_watches("[{")
    with pytest.raises(ValueError, match="watch 0"):
        parse_watches('[{"metric": "up", "colour": "red"}]')
