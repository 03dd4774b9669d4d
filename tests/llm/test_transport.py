"""The SDK's Kafka transport against a real broker: non-blocking sends, flush, ordering by
key, delivery errors that surface, a broker down at start and a broker restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _broker import Broker, free_port, topic
from _consume import create_topic, read_topic

from sentinel.llm import (
    AsyncSentinelClient,
    ConnectionError,
    SendError,
    SentinelClient,
    TelemetryEvent,
    TimeoutError,
)
from sentinel.llm.events import PromptInfo, ResponseInfo


def make(i: int, service: str = "chat", model: str = "gpt-4o") -> TelemetryEvent:
    return TelemetryEvent(
        service_name=service,
        model=model,
        prompt=PromptInfo(f"question {i}", 10),
        response=ResponseInfo(f"answer {i}", 20, "stop"),
        latency_ms=100.0 + i,
        cost_usd=0.001,
        metadata={"seq": str(i)},
    )


def test_sync_client_delivers_in_order_per_key(kafka: str) -> None:
    t = topic()
    create_topic(kafka, t, 3)
    errors: list[SendError] = []
    with SentinelClient(brokers=[kafka], topic=t, on_error=errors.append) as client:
        for i in range(300):
            client.send(make(i, model=("a", "b", "c")[i % 3]))
        client.track("chat", "d", "p", "r", 5.0, 1, 2, 0.0, metadata={"seq": "300"})
        client.flush(30)
        assert client.stats.delivered == 301 and client.stats.pending == 0
    assert not errors
    got = read_topic(kafka, t, 301)
    assert len(got) == 301
    events = [TelemetryEvent.from_dict(v) for _, _, v in got]
    assert {e.model for e in events} == {"a", "b", "c", "d"}
    for model in "abc":
        mine = [(p, int(v["metadata"]["seq"])) for p, _, v in got if v["model"] == model]
        assert len({p for p, _ in mine}) == 1, "one (service, model) spans partitions"
        seqs = [s for _, s in mine]
        assert seqs == sorted(seqs)


def in_fresh_loop(coro: Any) -> Any:
    """Run ``coro`` with ``asyncio.run`` in a thread of its own, whatever loop this thread has
    (Playwright's sync API leaves one running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_async_client_delivers(kafka: str) -> None:
    t = topic()
    create_topic(kafka, t, 3)
    in_fresh_loop(_send_async(kafka, t))
    got = read_topic(kafka, t, 201)
    assert len(got) == 201 and len({p for p, _, _ in got}) == 1


async def _send_async(kafka: str, t: str) -> None:
    async with AsyncSentinelClient(brokers=[kafka], topic=t) as client:
        for i in range(200):
            await client.send(make(i))
        await client.track("chat", "gpt-4o", "p", "r", 5.0, 1, 2, 0.0)
        await client.flush(30)
        assert client.stats.delivered == 201


def test_async_client_needs_a_broker_at_start() -> None:
    in_fresh_loop(_start_without_broker())


async def _start_without_broker() -> None:
    client = AsyncSentinelClient(brokers=[f"127.0.0.1:{free_port()}"], request_timeout_ms=1500)
    with pytest.raises(ConnectionError, match="cannot reach Kafka"):
        await client.start()
    from sentinel.llm import SendError as _SendError

    with pytest.raises(_SendError, match="not started"):
        await client.send(make(0))


def test_broker_down_at_start_then_up(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    t = topic()
    client = SentinelClient(brokers=[broker.bootstrap], topic=t)
    started = time.monotonic()
    for i in range(50):
        client.send(make(i))
    assert time.monotonic() - started < 5, "send() must not wait for the broker"
    with pytest.raises(TimeoutError) as info:
        client.flush(0.5)
    assert info.value.pending == 50
    broker.start()
    try:
        create_topic(broker.bootstrap, t, 1)
        client.flush(60)
        client.close()
        assert client.stats.delivered == 50
        assert len(read_topic(broker.bootstrap, t, 50)) == 50
    finally:
        broker.stop()


def test_undeliverable_events_surface_through_flush_and_callback() -> None:
    errors: list[SendError] = []
    client = SentinelClient(
        brokers=[f"127.0.0.1:{free_port()}"], delivery_timeout_ms=800, on_error=errors.append
    )
    for i in range(5):
        client.send(make(i))
    with pytest.raises(SendError) as info:
        client.flush(10)
    assert info.value.failed == 5 and client.stats.failed == 5
    assert len(errors) == 5 and "not delivered" in errors[0].message
    client.flush(1)  # reported once, not again
    with pytest.raises(SendError, match="refused"):
        client.send(_huge())
    client.close()
    with pytest.raises(SendError, match="closed"):
        client.send(make(0))


def _huge() -> TelemetryEvent:
    return TelemetryEvent(
        service_name="chat",
        model="m",
        prompt=PromptInfo("x" * 900_000, 1),
        response=ResponseInfo("y" * 900_000, 1, "stop"),
        latency_ms=1.0,
        cost_usd=0.0,
    )


def test_broker_restart_loses_nothing_acknowledged(tmp_path: Path, moto_s3: dict[str, str]) -> None:
    broker = Broker(tmp_path, storage="s3://tansu/", env=moto_s3)
    broker.start()
    t = topic()
    try:
        create_topic(broker.bootstrap, t, 1)
        client = SentinelClient(brokers=[broker.bootstrap], topic=t)
        for i in range(100):
            client.send(make(i))
        client.flush(60)
        broker.stop()
        for i in range(100, 200):
            client.send(make(i))  # queued while the broker is away
        broker.start()
        client.flush(90)
        client.close()
        got = read_topic(broker.bootstrap, t, 200, timeout=60)
        seqs = sorted(int(v["metadata"]["seq"]) for _, _, v in got)
        assert seqs == list(range(200))
    finally:
        broker.stop()


def test_short_script_loses_nothing_at_exit(kafka: str) -> None:
    t = topic()
    create_topic(kafka, t, 1)
    script = (
        "from sentinel.llm import SentinelClient\n"
        f"c = SentinelClient(brokers=[{kafka!r}], topic={t!r}, linger_ms=1000)\n"
        "for i in range(40):\n"
        "    c.track('chat', 'gpt-4o', 'p', 'r', 1.0, 1, 1, 0.0)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(read_topic(kafka, t, 40)) == 40
