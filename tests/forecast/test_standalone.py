"""The standalone ``Sentinel.start()``: blocks like the published one, serves while it runs,
and says clearly when Prometheus is down."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from sentinel_testing import wait_for

from sentinel.forecast import Sentinel, SentinelConfig, WatchConfig
from sentinel.forecast.prometheus_process import free_port


def test_start_blocks_until_stop_and_serves_meanwhile(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = SentinelConfig(
        prometheus_url=dead,
        emitter_port=free_port(),
        artifact_store=str(tmp_path),
        watches=[WatchConfig(metric="up")],
    )
    s = Sentinel(config)
    runner = threading.Thread(target=s.start)
    runner.start()
    url = f"http://127.0.0.1:{config.emitter_port}"

    def served() -> bool:
        try:
            return httpx.get(f"{url}/metrics").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(served, "the emitter")
    assert runner.is_alive()  # still blocking, as the published start() does
    wait_for(lambda: s.status()["up"]["problems"] != ["waiting for data"], "a first cycle")
    assert "unreachable" in s.status()["up"]["problems"][0]
    down = httpx.post(f"{url}/api/v1/query", data={"query": "up"})
    assert down.status_code == 502 and down.json()["errorType"] == "unavailable"
    assert httpx.get(f"{url}/nowhere").status_code == 404
    s.stop()
    runner.join(timeout=30)
    assert not runner.is_alive()
