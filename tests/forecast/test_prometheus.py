"""Against a real Prometheus: ingest (gauges and counters), forecasts, ``/metrics`` scraped
back, remote-read at future timestamps, Grafana's API calls, and the failure modes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _forecast_stack import HISTORY, Stack, scrape_ready
from sentinel_testing import wait_for

from sentinel.forecast import Sentinel, SentinelConfig, WatchConfig
from sentinel.forecast._prometheus import PrometheusClient
from sentinel.forecast.exporter import openmetrics
from sentinel.forecast.models import LinearTrendModel
from sentinel.forecast.prometheus_process import PrometheusProcess, free_port

LATENCY = "demo_request_latency_seconds"
REQUESTS = "demo_http_requests_total"


def watches() -> list[WatchConfig]:
    fast = {"granularity": "15s", "horizon": "1m", "lookback": "5m", "history": "3h"}
    return [
        WatchConfig(metric=LATENCY, labels={"route": "/checkout"}, **fast),  # type: ignore[arg-type]
        WatchConfig(metric=REQUESTS, **fast),  # type: ignore[arg-type]
        WatchConfig(
            metric="test_temp_gauge",
            model_class=LinearTrendModel,
            granularity="1s",
            horizon="2s",
            lookback="4s",
            history="2m",
        ),
        WatchConfig(metric="no_such_metric_anywhere"),
    ]


@pytest.fixture(scope="module")
def sentinel(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sentinel]:
    """A standalone Sentinel on the port the Prometheus scrapes and remote-reads."""
    config = SentinelConfig(
        prometheus_url=stack.url,
        emitter_port=stack.sentinel_port,
        artifact_store=str(tmp_path_factory.mktemp("artifacts")),
        emit_confidence_bounds=True,
        watches=watches(),
    )
    s = Sentinel(config).start(block=False)
    try:
        s.cycle()
        assert s.wait_idle(60)
        s.cycle()
        yield s
    finally:
        s.stop()


def _key(s: Sentinel, metric: str) -> str:
    return next(k for k in s.status() if k.startswith(metric + "{"))


def test_gauge_and_counter_are_forecast_with_intervals(sentinel: Sentinel) -> None:
    status = sentinel.status()
    latency, requests = status[_key(sentinel, LATENCY)], status[_key(sentinel, REQUESTS)]
    for st in (latency, requests):
        assert st["ready"] and st["active_version"] == "v1" and st["buffer_fill"] == 1.0
        assert st["active_version_mae"] is not None and st["problems"] == []
    state = sentinel.get(_key(sentinel, REQUESTS))
    assert state is not None and state.counter  # from Prometheus's metadata: rate() is forecast
    assert state.forecast is not None
    # 40 + 25 sin(...) requests per second: the rate, not the ever-growing total.
    assert ((state.forecast.values > 5) & (state.forecast.values < 75)).all()
    f = sentinel.get(_key(sentinel, LATENCY)).forecast  # type: ignore[union-attr]
    assert f is not None and f.lower is not None and f.upper is not None
    assert (f.lower <= f.values).all() and (f.values <= f.upper).all()
    assert f.timestamps()[0] > time.time() - 15  # the first step is the next grid point


def test_a_missing_metric_has_a_clear_status(sentinel: Sentinel) -> None:
    st = sentinel.status()["no_such_metric_anywhere"]
    assert not st["ready"] and st["problems"] == [
        "no series match no_such_metric_anywhere in Prometheus"
    ]


def test_prometheus_scrapes_the_predictions(stack: Stack, sentinel: Sentinel) -> None:
    query = f'{LATENCY}_sentinel_predicted{{sentinel_step="1",route="/checkout"}}'
    (found,) = wait_for(lambda: scrape_ready(stack.url, query), "Prometheus to scrape Sentinel")
    labels = found["metric"]
    assert labels["sentinel_horizon"] == "1m" and labels["sentinel_version"] == "v1"
    assert labels["job"] == "svc"  # honor_labels keeps the series' own labels
    assert scrape_ready(stack.url, f'{LATENCY}_sentinel_predicted_upper{{sentinel_step="4"}}')


def test_remote_read_answers_future_timestamps_through_prometheus(
    stack: Stack, sentinel: Sentinel
) -> None:
    now = time.time()
    sentinel.cycle()
    r = httpx.get(
        f"{stack.url}/api/v1/query_range",
        params={
            "query": f'{LATENCY}_sentinel_predicted{{sentinel_step=""}}',
            "start": now - 600,
            "end": now + 120,
            "step": "15",
        },
        timeout=10,
    ).json()
    assert r["status"] == "success", r
    (series,) = r["data"]["result"]
    assert "sentinel_version" not in series["metric"]
    times = [float(t) for t, _ in series["values"]]
    assert max(times) > now + 30  # Prometheus's own engine, answering about the future
    expected = sentinel.get(_key(sentinel, LATENCY)).forecast  # type: ignore[union-attr]
    assert expected is not None
    # PromQL over remote-read data: an aggregation Sentinel never implements itself.
    agg = httpx.get(
        f"{stack.url}/api/v1/query",
        params={
            "query": f'max_over_time({LATENCY}_sentinel_predicted{{sentinel_step=""}}[10m])',
            "time": now + 60,
        },
        timeout=10,
    ).json()
    assert agg["data"]["result"], agg


GRAFANA_FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Grafana/11.3.0"}


def test_grafana_calls_are_handed_to_prometheus(stack: Stack, sentinel: Sentinel) -> None:
    base = sentinel.emitter_url + "/api/v1"
    now = int(time.time())
    build = httpx.get(f"{base}/status/buildinfo").json()
    assert build["status"] == "success" and build["data"]["version"].startswith("2.")
    r = httpx.post(
        f"{base}/query_range",
        data={"query": f"rate({REQUESTS}[1m])", "start": now - 300, "end": now, "step": 15},
        headers=GRAFANA_FORM,
    ).json()
    assert r["status"] == "success" and r["data"]["result"]  # PromQL evaluated by Prometheus

    def up_jobs() -> set[str]:
        form = {"query": "up", "time": str(time.time())}
        inst = httpx.post(f"{base}/query", data=form, headers=GRAFANA_FORM).json()
        return {x["metric"]["job"] for x in inst["data"]["result"]}

    wait_for(lambda: up_jobs() >= {"svc", "sentinel"}, "both scrape jobs in up")
    names = httpx.get(
        f"{base}/label/__name__/values", params={"start": now - 3600, "end": now}
    ).json()
    assert LATENCY in names["data"] and f"{LATENCY}_sentinel_predicted" in names["data"]
    labels = httpx.get(f"{base}/labels", params={"start": now - 3600, "end": now}).json()
    assert "sentinel_horizon" in labels["data"]
    series = httpx.get(
        f"{base}/series",
        params={"match[]": f"{LATENCY}_sentinel_predicted", "start": now - 3600, "end": now},
    ).json()
    assert series["status"] == "success" and series["data"], series
    meta = httpx.get(f"{base}/metadata").json()
    assert meta["data"][f"{LATENCY}_sentinel_predicted"][0]["type"] == "gauge"
    bad = httpx.post(f"{base}/query", data={"query": "sum(("}, headers=GRAFANA_FORM)
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"


def test_series_that_disappear_are_removed(stack: Stack, sentinel: Sentinel) -> None:
    key = 'test_temp_gauge{instance="%s",job="temp",shard="b"}'
    wait_for(
        lambda: (
            sentinel.cycle(),
            any(k.startswith("test_temp_gauge") and 'shard="b"' in k for k in sentinel.status()),
        )[1],
        "the temp series",
    )
    del stack.removable["b"]

    def gone() -> bool:
        sentinel.cycle()
        return not any('shard="b"' in k for k in sentinel.status())

    wait_for(gone, "the vanished series to be dropped", timeout=30)
    assert any('shard="a"' in k for k in sentinel.status())
    assert key  # the series key format is the seed's: metric{labels}


def test_prometheus_down_keeps_the_last_forecast(stack: Stack, tmp_path: Path) -> None:
    config = SentinelConfig(
        prometheus_url=stack.url,
        emitter_port=0,
        artifact_store=str(tmp_path),
        watches=watches()[:1],
    )
    later = [0.0]
    s = Sentinel(config, clock=lambda: time.time() + later[0])
    try:
        s.cycle()
        assert s.wait_idle(60)
        s.cycle()
        key = _key(s, LATENCY)
        before = s.get(key).forecast  # type: ignore[union-attr]
        assert before is not None
        s.prometheus = PrometheusClient(f"http://127.0.0.1:{free_port()}", 2)
        later[0] = 30.0  # the next cycles, with Prometheus gone
        s.cycle()
        st = s.status()[key]
        assert st["ready"] and any(
            "unreachable" in p and "last forecast" in p for p in st["problems"]
        )
        assert s.get(key).forecast is not None  # type: ignore[union-attr]
    finally:
        s.stop()


def test_restart_restores_and_survives_a_corrupt_artifact(stack: Stack, tmp_path: Path) -> None:
    config = SentinelConfig(
        prometheus_url=stack.url,
        emitter_port=0,
        artifact_store=str(tmp_path),
        watches=watches()[:1],
    )
    first = Sentinel(config)
    first.cycle()
    assert first.wait_idle(60)
    key = _key(first, LATENCY)
    state = first.get(key)
    assert state is not None and state.model is not None and state.versions.current is not None
    v1 = state.versions.current
    state.versions.add(state.model, dataclasses.replace(v1, reason="test"), serve=True)
    assert [v.version_id for v in state.versions.versions] == ["v1", "v2"]
    first.stop()
    prefix = tmp_path / state.versions.prefix
    (prefix / "v2.model").write_bytes(b"corrupt")

    second = Sentinel(config)
    try:
        second.cycle()
        st = second.status()[key]
        assert st["active_version"] == "v1" and st["ready"]  # the last good model serves
        assert any("v2 is corrupt" in p for p in st["problems"])
    finally:
        second.stop()

    (prefix / "v1.model").write_bytes(b"corrupt too")
    third = Sentinel(config)
    try:
        third.cycle()  # nothing loads: a cold start, with ids continuing after v2
        assert third.wait_idle(60)
        third.cycle()
        st = third.status()[key]
        assert st["ready"] and st["active_version"] == "v3"
    finally:
        third.stop()


@pytest.fixture(scope="module")
def plain(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    """A second Prometheus with the same history but no remote_read entry and no scrape of
    Sentinel: what most users start with."""
    prom = PrometheusProcess(
        tmp_path_factory.mktemp("plain"),
        scrape=[{"job_name": "svc", "static_configs": [{"targets": [stack.exporter_target]}]}],
        scrape_interval="1s",
    )
    now = time.time()
    prom.backfill(
        openmetrics(
            stack.signals,
            now - HISTORY,
            now - 30,
            15.0,
            {"job": "svc", "instance": stack.exporter_target},
        )
    )
    prom.start()
    yield prom
    prom.stop()


def test_plain_selectors_of_predictions_come_from_sentinel_without_remote_read(
    plain: PrometheusProcess, tmp_path: Path
) -> None:
    config = SentinelConfig(
        prometheus_url=plain.url,
        emitter_port=0,
        artifact_store=str(tmp_path),
        watches=watches()[:1],
    )
    s = Sentinel(config).start(block=False)
    try:
        s.cycle()
        assert s.wait_idle(60)
        s.cycle()
        base = s.emitter_url + "/api/v1"
        now = time.time()
        q = f'{LATENCY}_sentinel_predicted{{route="/checkout"}}'
        r = httpx.post(
            f"{base}/query_range",
            data={"query": q, "start": now - 60, "end": now + 60, "step": 15},
            headers=GRAFANA_FORM,
        ).json()
        (series,) = r["data"]["result"]
        assert max(float(t) for t, _ in series["values"]) > now + 15
        inst = httpx.post(
            f"{base}/query", data={"query": q, "time": now + 30}, headers=GRAFANA_FORM
        ).json()
        assert len(inst["data"]["result"]) == 1
        # Anything that is not a plain selector stays PromQL for Prometheus: no series there.
        agg = httpx.post(
            f"{base}/query", data={"query": f"sum({q})", "time": now}, headers=GRAFANA_FORM
        ).json()
        assert agg["data"]["result"] == []
    finally:
        s.stop()
