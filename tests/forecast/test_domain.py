"""The forecast domain on a real Sentinel server: pages, API, operator-only rollback,
``/metrics``, Grafana's endpoint and remote-read on the server's port; SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from _forecast_stack import Stack
from markupsafe import escape
from sentinel_testing import OPERATOR_TOKEN, start_server, wait_for

from sentinel.forecast.config import WatchConfig
from sentinel.forecast.prompb import remote_pb2
from sentinel.forecast.settings import ForecastSettings
from sentinel.forecast.versions import series_id

LATENCY = "demo_request_latency_seconds"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def server(stack: Stack, tmp_path: Path, db_url: str) -> Iterator[Any]:
    settings = ForecastSettings(
        prometheus_url=stack.url,
        watches=(
            WatchConfig(
                metric=LATENCY,
                labels={"route": "/checkout"},
                granularity="15s",
                horizon="1m",
                lookback="5m",
                history="3h",
            ),
        ),
        artifact_store=str(tmp_path / "artifacts"),
    )
    srv = start_server(
        tmp_path, db_url, domains=("forecast",), domain_settings={"forecast": settings}
    )
    try:
        yield srv
    finally:
        srv.stop()


def _ready(url: str) -> str | None:
    status = httpx.get(f"{url}/api/v1/forecast/status").json()
    return next((k for k, s in status.items() if s["ready"]), None)


def test_forecasts_on_the_server(server: Any) -> None:
    url = server.http_url
    key = wait_for(lambda: _ready(url), "a forecast on the server", timeout=60)
    page = httpx.get(f"{url}/forecast")
    assert page.status_code == 200 and str(escape(key)) in page.text
    one = httpx.get(f"{url}/forecast/series/{series_id(key)}")
    assert one.status_code == 200 and "<svg" in one.text and "v1" in one.text
    assert httpx.get(f"{url}/forecast/series/nope").status_code == 404
    metrics = httpx.get(f"{url}/metrics").text
    assert f"{LATENCY}_sentinel_predicted{{instance=" in metrics
    assert f"{LATENCY}_sentinel_predicted_lower" in metrics
    assert httpx.get(f"{url}/forecast/static/forecast.js").status_code == 200


def test_rollback_is_for_operators_and_recorded(server: Any) -> None:
    url = server.http_url
    key = wait_for(lambda: _ready(url), "a forecast on the server", timeout=60)
    body = {"metric": LATENCY, "labels": {"route": "/checkout"}}
    anonymous = httpx.post(f"{url}/api/v1/forecast/rollback", json=body)
    assert anonymous.status_code in (401, 403) and "error" in anonymous.json()
    only_one = httpx.post(f"{url}/api/v1/forecast/rollback", json=body, headers=OPERATOR)
    assert only_one.status_code == 409 and "no older version" in only_one.json()["error"]
    state = server.forecaster.get(key)
    current = state.versions.current
    state.versions.add(state.model, dataclasses.replace(current, reason="test"), serve=True)
    assert server.forecaster.status()[key]["active_version"] == "v2"
    done = httpx.post(f"{url}/api/v1/forecast/rollback", json=body, headers=OPERATOR)
    assert done.status_code == 200 and done.json() == {"rolled_back": {key: "v1"}}
    assert server.forecaster.status()[key]["active_version"] == "v1"
    unknown = httpx.post(
        f"{url}/api/v1/forecast/rollback", json={"metric": "nope"}, headers=OPERATOR
    )
    assert unknown.status_code == 404
    page = httpx.get(f"{url}/forecast").text
    assert "alice" in page and "rollback" in page
    retrain = httpx.post(f"{url}/api/v1/forecast/retrain", json={"series": key})
    assert retrain.status_code in (401, 403)


def test_grafana_and_remote_read_on_the_server_port(server: Any) -> None:
    url = server.http_url
    wait_for(lambda: _ready(url), "a forecast on the server", timeout=60)
    base = f"{url}/forecast/prometheus/api/v1"
    assert httpx.get(f"{base}/status/buildinfo").json()["status"] == "success"
    now = time.time()
    r = httpx.post(
        f"{base}/query_range",
        data={"query": f"avg_over_time({LATENCY}[5m])", "start": now - 600, "end": now, "step": 60},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert r["status"] == "success" and r["data"]["result"]
    request = remote_pb2.ReadRequest()
    q = request.queries.add(
        start_timestamp_ms=int(now * 1000), end_timestamp_ms=int((now + 300) * 1000)
    )
    q.matchers.add(
        type=remote_pb2.LabelMatcher.EQ, name="__name__", value=f"{LATENCY}_sentinel_predicted"
    )
    q.matchers.add(type=remote_pb2.LabelMatcher.RE, name="route", value="/check.*")
    answer = httpx.post(
        f"{base}/read",
        content=bytes(cramjam.snappy.compress_raw(request.SerializeToString())),
        headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
        },
    )
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "snappy"
    response = remote_pb2.ReadResponse()
    response.ParseFromString(bytes(cramjam.snappy.decompress_raw(answer.content)))
    (series,) = response.results[0].timeseries
    assert {lab.name: lab.value for lab in series.labels}["sentinel_horizon"] == "1m"
    assert len(series.samples) == 4 and series.samples[0].timestamp > now * 1000 - 15_000
    garbage = httpx.post(
        f"{base}/read", content=b"not snappy", headers={"Content-Encoding": "snappy"}
    )
    assert garbage.status_code == 400 and "snappy" in garbage.text
