"""End-to-end latency of the LLM detector: ``send()`` to a stored anomaly, through Kafka.

A real server (SQLite, the LLM domain consuming Kafka) and a Tansu broker. Two probes:

* a secret leaked in a response (checked on every event): 200 times, each from a new
  service, the time from ``send()`` to the anomaly's row in the database;
* a latency spike in a warmed-up (service, model): the window's figures are checked every
  10 events once it holds ``min_events``; the time from ``send()`` of the event that
  completes the check to the stored anomaly, 30 times.

Windows are event time, so a spike is known as soon as enough of its events arrived,
not when the minute ends.

    .venv/bin/python bench/bench_llm_e2e.py
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_llm_producer import broker

from sentinel.core.settings import ServerSettings
from sentinel.llm import PromptInfo, ResponseInfo, SentinelClient, TelemetryEvent
from sentinel.llm._traffic import generate
from sentinel.llm.settings import LlmSettings
from sentinel.server.app import SentinelServer


def wait(cond, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError("the anomaly was not stored in time")
        time.sleep(0.002)
    return time.perf_counter()


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) >= 2 else xs[0]


def event(service: str, ts: float, latency: float, response: str = "Fine.") -> TelemetryEvent:
    return TelemetryEvent(
        service_name=service,
        model="gpt-4o",
        prompt=PromptInfo("What is the status of order 42?", 10),
        response=ResponseInfo(response, 6, "stop"),
        latency_ms=latency,
        cost_usd=0.0001,
        timestamp=datetime.fromtimestamp(ts, tz=timezone.utc),
    )


def main() -> None:
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        llm = LlmSettings(
            kafka_brokers=(bootstrap,),
            topic=f"e2e-{uuid.uuid4().hex[:6]}",
            session_timeout_ms=2000,
            lstm="off",
        )
        server = SentinelServer(
            ServerSettings(
                grpc_port=0,
                http_port=0,
                data_dir=Path(tmp),
                domains=("llm",),
                domain_settings={"llm": llm},
            )
        ).start()
        domain: Any = server.domains["llm"]
        store = domain.llm.store
        try:
            client = SentinelClient(brokers=[bootstrap], topic=llm.topic, linger_ms=1)
            start = (time.time() - 86400) // 60 * 60
            warm = list(generate(start, 0.5, [("spiky", "gpt-4o")], rate_per_s=1.0))
            for e in warm:
                client.send(e)
            client.flush(60)
            wait(lambda: domain.llm.events >= len(warm), 120)

            leak = []
            for i in range(200):
                service = f"probe-{i}"
                e = event(service, time.time(), 300.0, "Here: AKIAABCDEFGHIJKLMNOP")
                t0 = time.perf_counter()
                client.send(e)
                leak.append(wait(lambda s=service: store.search(service=s)[1] == 1) - t0)

            spike = []
            ts = start + 3600
            for trial in range(30):
                for _ in range(120):  # two normal windows between trials
                    client.send(event("spiky", ts, 400.0))
                    ts += 1
                ts = (ts // 60 + 1) * 60
                for _ in range(19):
                    client.send(event("spiky", ts, 4000.0))
                    ts += 1
                client.flush(30)
                t0 = time.perf_counter()
                client.send(event("spiky", ts, 4000.0))
                ts += 1
                found = wait(
                    lambda n=trial: (
                        store.search(service="spiky", anomaly_type="latency_spike")[1] > n
                    )
                )
                spike.append(found - t0)
                ts = (ts // 60 + 1) * 60
            client.close()
        finally:
            server.stop()
    print(
        f"machine: {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; "
        "Tansu broker, SQLite, linger 1 ms"
    )
    for name, xs in (("secret leak (per event)", leak), ("latency spike (window check)", spike)):
        print(
            f"{name:<30} n={len(xs):>3}  p50 {1000 * pct(xs, 50):7.1f} ms  "
            f"p99 {1000 * pct(xs, 99):7.1f} ms  max {1000 * max(xs):7.1f} ms"
        )


if __name__ == "__main__":
    main()
