"""Another domain's evidence against a GPU reaches the fleet through the host's events."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from sentinel_testing import register_host, start_server, wait_for

from sentinel.core.events import GpuAnomaly
from sentinel.fleet.engine.enums import GpuState


def test_a_published_gpu_anomaly_becomes_a_fleet_anomaly_of_that_gpu(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        gpu, other = register_host(server.engine, "node-a", 2, 0)
        found = GpuAnomaly(
            anomaly_id="drift-1",
            gpu_uuid=gpu,
            source="llm",
            severity="critical",
            score=9.0,
            threshold=3.0,
            timestamp=time.time(),
            detail="answers of chat / gpt-4o drifted on this GPU alone",
        )
        assert server.host.events.publish(found) == 1

        def counted() -> bool:
            with server.engine.state.lock:
                return server.engine.state.gpus[gpu].anomaly_count > 0

        wait_for(counted, "the anomaly to reach the engine")
        with server.engine.state.lock:
            assert server.engine.state.gpus[other].anomaly_count == 0
            assert server.engine.state.gpus[gpu].state in (GpuState.HEALTHY, GpuState.SUSPECT)
        server.host.events.publish(found)  # the same finding again: one anomaly, not two
        # ...proven once a later one, applied after it by the engine's one writer, has landed.
        server.host.events.publish(dataclasses.replace(found, anomaly_id="drift-2", gpu_uuid=other))

        def later() -> bool:
            with server.engine.state.lock:
                return server.engine.state.gpus[other].anomaly_count == 1

        wait_for(later, "the later anomaly to reach the engine")
        with server.engine.state.lock:
            assert server.engine.state.gpus[gpu].anomaly_count == 1
    finally:
        server.stop()
