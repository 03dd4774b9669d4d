"""EngineReporter against a real server: delivery, duplicates, drops, an unreachable engine."""

from __future__ import annotations

import socket
from typing import Any

from sentinel_testing import agent_token

from sentinel.fleet.config import RetryConfig
from sentinel.fleet.engine import queries
from sentinel.fleet.monitors import Anomaly, EngineReporter
from sentinel.fleet.types import AnomalySource, AnomalyType, Severity

GPU = "GPU-11111111-2222-3333-4444-555555555555"
FAST_RETRY = RetryConfig(max_retries=2, initial_backoff_s=0.01, max_backoff_s=0.05)


def anomaly(**kw: Any) -> Anomaly:
    fields: dict[str, Any] = {
        "gpu_uuid": GPU,
        "anomaly_type": AnomalyType.LOSS_SPIKE,
        "source": AnomalySource.TRAINING_MONITOR,
        "severity": Severity.WARNING,
        "score": 7.5,
        "threshold": 6.0,
        "detail": "loss 9 is 7.5 robust sigmas above recent steps",
    }
    return Anomaly(**(fields | kw))


def registered(server: Any) -> Any:
    server.engine.register_gpus("trainer-1", [(GPU, 0, "H100", "550.54", "96.00", 16)])
    return server


def count(server: Any) -> int:
    return queries.gpu_health(server.engine, GPU).anomaly_count


def dead_endpoint() -> str:
    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_anomalies_arrive(fleet_server: Any) -> None:
    server = registered(fleet_server)
    token = agent_token(server, "trainer-1")
    with EngineReporter(server.address, token=token, flush_interval_s=0.05) as reporter:
        for i in range(3):
            reporter.report(anomaly(score=7.0 + i, sm_id=i))
        assert reporter.flush(timeout=10)
        assert reporter.delivered == 3 and reporter.dropped == reporter.failed == 0
    assert count(server) == 3


def test_duplicates_are_counted_once(fleet_server: Any) -> None:
    server = registered(fleet_server)
    once = anomaly()
    with EngineReporter(server.address, token=agent_token(server, "trainer-1")) as reporter:
        reporter.report(once)
        assert reporter.flush(timeout=10)
        reporter.report(once)  # resent, e.g. after a lost acknowledgement
        assert reporter.flush(timeout=10)
        assert reporter.delivered == 2
    assert count(server) == 1


def test_refused_reports_are_counted_not_raised(fleet_server: Any) -> None:
    token = agent_token(fleet_server, "trainer-1")
    with EngineReporter(fleet_server.address, token=token) as reporter:
        reporter.report(anomaly(gpu_uuid="GPU-never-registered"))
        assert reporter.flush(timeout=10)
        assert reporter.rejected == 1 and reporter.delivered == 0


def test_full_queue_drops_and_counts() -> None:
    # the long interval keeps the worker waiting for a batch, so the buffer fills
    reporter = EngineReporter(
        dead_endpoint(), queue_size=5, batch_size=100, flush_interval_s=60, retry_config=FAST_RETRY
    )
    for _ in range(100):
        reporter.report(anomaly())
    assert reporter.dropped == 95
    reporter.close(timeout=5)
    assert reporter.failed == 5
    reporter.report(anomaly())  # after close: dropped, not raised
    assert reporter.dropped == 96


def test_unreachable_engine_neither_raises_nor_blocks() -> None:
    reporter = EngineReporter(dead_endpoint(), flush_interval_s=0.01, retry_config=FAST_RETRY)
    reporter.report(anomaly())
    assert reporter.flush(timeout=10) is False
    assert reporter.failed == 1 and reporter.delivered == 0
    reporter.close(timeout=1)


def test_flush_times_out_while_retrying() -> None:
    patient = RetryConfig(max_retries=50, initial_backoff_s=1.0, max_backoff_s=1.0)
    reporter = EngineReporter(dead_endpoint(), flush_interval_s=0.01, retry_config=patient)
    reporter.report(anomaly())
    assert reporter.flush(timeout=0.2) is False
    reporter.close(timeout=1)  # interrupts the backoff
    assert reporter.failed == 1
