"""The detector service consuming Kafka: inside ``sentinel serve``, with a broker that is
down when the server starts, and as ``sentinel llm-detect`` workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _broker import Broker, topic
from _llm_testing import FAST, START, start_llm_server
from sentinel_testing import wait_for

from sentinel.llm import SentinelClient
from sentinel.llm._traffic import Injection, generate, gpu_of
from sentinel.llm.types import AnomalyType

KEYS = [("chat", "gpt-4o"), ("search", "llama-3-70b")]


def _stream() -> list:
    plan = [
        Injection(AnomalyType.SECURITY_THREAT, "search", "llama-3-70b", START + 900, START + 1200),
        Injection(
            AnomalyType.OUTPUT_DRIFT,
            "chat",
            "gpt-4o",
            START + 900,
            START + 1500,
            gpu_of("chat", "gpt-4o", 2),
        ),
    ]
    return list(generate(START, 0.45, KEYS, plan, rate_per_s=1.0))


def _settings(bootstrap: str, **changes: Any) -> Any:
    defaults: dict[str, Any] = {
        "kafka_brokers": (bootstrap,),
        "topic": topic(),
        "group_id": topic(),
        "partitions": 3,
        "session_timeout_ms": 2000,
        "persist_interval_s": 0.2,
    }
    return replace(FAST, **(defaults | changes))


def test_serve_consumes_the_topic_and_reports_the_gpu(tmp_path: Path, kafka: str) -> None:
    reports: list = []
    settings = _settings(kafka, gpu_reporter=reports.append)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        events = _stream()
        with SentinelClient(brokers=[kafka], topic=settings.topic) as client:
            for e in events:
                client.send(e)
        store = llm.domain.llm.store
        wait_for(lambda: llm.domain.llm.events == len(events), "every event to be consumed", 60)
        threats, _ = store.search(anomaly_type="security_threat")
        assert [(a.service, a.severity.value) for a in threats][:1] in (
            [("search", "high")],
            [("search", "critical")],
        )
        drift, _ = store.search(gpu_uuid=gpu_of("chat", "gpt-4o", 2))
        assert len(drift) == 1 and drift[0].type is AnomalyType.OUTPUT_DRIFT
        assert [r.gpu_uuid for r in reports] == [gpu_of("chat", "gpt-4o", 2)]
        related = llm.server.host.related("gpu", gpu_of("chat", "gpt-4o", 2))
        assert related and related[0].href == f"/llm/anomalies/{drift[0].anomaly_id}"
        assert sorted(llm.domain.health().details["llm_kafka_partitions"]) == [0, 1, 2]
    finally:
        llm.server.stop()
    assert {b["service"] for b in store.baselines()} == {"chat", "search"}


def test_broker_down_when_the_server_starts(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    settings = _settings(broker.bootstrap)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        wait_for(lambda: llm.domain.health().problems, "the worker to report the broker missing")
        assert broker.bootstrap in llm.domain.health().problems[0]
        broker.start()
        events = _stream()[:300]
        with SentinelClient(brokers=[broker.bootstrap], topic=settings.topic) as client:
            for e in events:
                client.send(e)
        wait_for(lambda: llm.domain.llm.events == 300, "events after the broker came up", 60)
        wait_for(lambda: not llm.domain.health().problems, "the problem to clear")
    finally:
        llm.server.stop()
        broker.stop()


def test_llm_detect_workers(tmp_path: Path, kafka: str) -> None:
    t, group = topic(), topic()
    db = tmp_path / "llm.db"
    env = {
        **os.environ,
        "SENTINEL_LLM_WINDOW_S": "60",
        "SENTINEL_LLM_WARMUP_WINDOWS": "10",
        "SENTINEL_LLM_LSTM": "off",
        "SENTINEL_LLM_SESSION_TIMEOUT_MS": "2000",
    }
    code = "import sys; from sentinel._cli.llm import llm_detect; llm_detect(sys.argv[1:])"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--workers",
            "2",
            "--brokers",
            kafka,
            "--topic",
            t,
            "--group",
            group,
            "--database-url",
            f"sqlite:///{db}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        events = _stream()
        with SentinelClient(brokers=[kafka], topic=t) as client:
            for e in events:
                client.send(e)
        from sentinel.core.db import make_engine
        from sentinel.llm.store import LlmStore

        store = LlmStore(make_engine(f"sqlite:///{db}"))

        def found() -> Any:
            try:
                return store.search(anomaly_type="security_threat")[1]
            except Exception:  # the workers have not migrated the database yet
                return 0

        wait_for(found, "the workers to store the security threat", 90)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert b"2 LLM detector worker(s)" in out
    assert {b["service"] for b in store.baselines()} == {"chat", "search"}


def test_demo_sends_through_kafka(tmp_path: Path, kafka: str) -> None:
    from sentinel.llm._demo import LlmDemo

    settings = _settings(kafka, min_events=12)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        demo = LlmDemo(llm.url, llm.server.tokens, settings, hours=1.0)
        assert "via Kafka" in demo.describe()[0]
        demo.start()
        wait_for(demo.done.is_set, "the demo to send", 60)
        demo.stop()
        wait_for(lambda: llm.domain.llm.events == demo.sent > 1000, "the demo's events", 60)
        assert llm.domain.llm.store.counts()
    finally:
        llm.server.stop()


def test_worker_rides_out_a_broker_restart(tmp_path: Path, moto_s3: dict[str, str]) -> None:
    """Kill the broker between two batches: the worker reconnects, consumes the second
    batch and counts no event twice (offsets were committed with the baselines)."""
    broker = Broker(tmp_path, storage="s3://tansu/", env=moto_s3)
    broker.start()
    settings = _settings(broker.bootstrap)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        events = _stream()[:600]
        client = SentinelClient(brokers=[broker.bootstrap], topic=settings.topic)
        for e in events[:300]:
            client.send(e)
        client.flush(60)
        wait_for(lambda: llm.domain.llm.events == 300, "the first batch", 60)
        _kill_and_restart(broker, client, llm, events[300:], 600)
        wait_for(lambda: not llm.domain.health().problems, "the problem to clear", 30)
        _assert_counted_once(llm, 600)
    finally:
        llm.server.stop()
        broker.stop()


def _kill_and_restart(
    broker: Broker, client: Any, llm: Any, later: list[Any], total: int, *, down_s: float = 0.0
) -> None:
    """Kill the broker, wait for the worker to say so and ``down_s`` more, send ``later``
    while it is down and start it again; return once the worker has taken in ``total``."""
    broker.stop()
    wait_for(lambda: llm.domain.health().problems, "the worker to notice", 30)
    time.sleep(down_s)
    for e in later:
        client.send(e)
    broker.start()
    client.flush(90)
    client.close()
    wait_for(lambda: llm.domain.llm.events >= total, "the second batch", 90)


def _assert_counted_once(llm: Any, sent: int) -> None:
    """Every event sent was taken in once: by the worker, and in the baselines."""
    assert llm.domain.llm.events == sent
    detector = llm.domain.llm.detector
    counted = detector.baseline("chat", "gpt-4o").events
    counted += detector.baseline("search", "llama-3-70b").events
    assert counted == sent


def _send_in_two(client: Any, llm: Any, events: list[Any]) -> None:
    """Ten events, taken in and committed at once (no commit was due before), then the rest,
    taken in before the next commit is due."""
    for part, total in ((events[:10], 10), (events[10:], len(events))):
        for e in part:
            client.send(e)
        client.flush(60)
        wait_for(lambda n=total: llm.domain.llm.events == n, f"{total} events taken in", 60)


def test_an_outage_longer_than_the_session_counts_no_event_twice(
    tmp_path: Path, moto_s3: dict[str, str]
) -> None:
    """Kill the broker at once after a batch, before the worker has surely committed it, and
    keep it down past the consumer session: the worker's last commit fails with the assignment
    lost, and when the partitions come back it resumes where it stopped reading."""
    broker = Broker(tmp_path, storage="s3://tansu/", env=moto_s3)
    broker.start()
    settings = _settings(broker.bootstrap, persist_interval_s=2.0)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        events = _stream()[:600]
        client = SentinelClient(brokers=[broker.bootstrap], topic=settings.topic)
        _send_in_two(client, llm, events[:300])
        # Killed within the 2 s to the next commit: 290 events are not committed.
        down_s = 2 * settings.session_timeout_ms / 1000
        _kill_and_restart(broker, client, llm, events[300:], 600, down_s=down_s)
        time.sleep(2 * settings.persist_interval_s)  # a replay would have arrived by now
        _assert_counted_once(llm, 600)
    finally:
        llm.server.stop()
        broker.stop()


def test_a_hung_broker_is_reported_while_the_worker_waits_on_its_commit(
    tmp_path: Path, moto_s3: dict[str, str]
) -> None:
    """Stop the broker process (SIGSTOP: connections stay open, nothing answers) with a
    commit due: the worker blocks in it, so neither error events nor statistics reach it, and
    its health says it is waiting on the commit; it counts no event twice once the broker
    resumes."""
    broker = Broker(tmp_path, storage="s3://tansu/", env=moto_s3)
    broker.start()
    settings = _settings(broker.bootstrap, persist_interval_s=1.0)
    llm = start_llm_server(tmp_path, settings=settings)
    assert broker.proc is not None
    try:
        events = _stream()[:600]
        client = SentinelClient(brokers=[broker.bootstrap], topic=settings.topic)
        _send_in_two(client, llm, events[:300])  # the next commit is due within 1 s
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            problems = wait_for(lambda: llm.domain.health().problems, "the worker to report", 30)
            assert "committing offsets for" in problems[0]
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        for e in events[300:]:
            client.send(e)
        client.flush(90)
        client.close()
        wait_for(lambda: llm.domain.llm.events >= 600, "the second batch", 120)
        wait_for(lambda: not llm.domain.health().problems, "the problem to clear", 60)
        time.sleep(2 * settings.persist_interval_s)  # a replay would have arrived by now
        _assert_counted_once(llm, 600)
    finally:
        llm.server.stop()
        broker.stop()
