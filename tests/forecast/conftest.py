"""Forecast fixtures: one real Prometheus per module (the Debian ``prometheus`` binary),
scraping a synthetic exporter and a standalone Sentinel, with backfilled history and a
``remote_read`` entry pointing at Sentinel."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _forecast_stack import HISTORY, PERIOD, Stack

from sentinel.forecast.exporter import openmetrics, serve_signals, service_signals
from sentinel.forecast.prometheus_process import PrometheusProcess, binaries, free_port


def _require_prometheus() -> None:
    try:
        binaries()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


class _Removable:
    def __init__(self, values: dict[str, float]) -> None:
        self.values = values

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        fam = GaugeMetricFamily("test_temp_gauge", "a series that can disappear", labels=["shard"])
        for shard, value in sorted(self.values.items()):
            fam.add_metric([shard], value)
        yield fam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Exporter + Prometheus (scrape every second), one hour of history backfilled at 15 s."""
    _require_prometheus()
    signals = service_signals(route="/checkout", period=PERIOD)
    exporter, port = serve_signals(signals, time.time)
    removable = {"a": 1.0, "b": 2.0}
    from prometheus_client import CollectorRegistry, start_http_server

    reg = CollectorRegistry()
    reg.register(_Removable(removable))  # type: ignore[arg-type]
    temp_server = start_http_server(0, addr="127.0.0.1", registry=reg)[0]
    temp_port = int(temp_server.server_address[1])
    target = f"127.0.0.1:{port}"
    sentinel_port = free_port()
    prom = PrometheusProcess(
        tmp_path_factory.mktemp("prometheus"),
        scrape=[
            {"job_name": "svc", "static_configs": [{"targets": [target]}]},
            {"job_name": "temp", "static_configs": [{"targets": [f"127.0.0.1:{temp_port}"]}]},
            {
                "job_name": "sentinel",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{sentinel_port}"]}],
            },
        ],
        remote_read=[{"url": f"http://127.0.0.1:{sentinel_port}/api/v1/read", "read_recent": True}],
        scrape_interval="1s",
    )
    now = time.time()
    prom.backfill(
        openmetrics(signals, now - HISTORY, now - 30, 15.0, {"job": "svc", "instance": target})
    )
    prom.start()
    try:
        yield Stack(prom, target, sentinel_port, signals, removable)
    finally:
        prom.stop()
        for server in (exporter, temp_server):
            server.shutdown()
            server.server_close()


@pytest.fixture
def artifacts(tmp_path: Path) -> str:
    return str(tmp_path / "artifacts")
