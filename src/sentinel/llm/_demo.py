"""The LLM part of ``sentinel up``: a few hours of mixed traffic with one injected anomaly of
every type, sent the way applications send it.

With Kafka configured (``SENTINEL_LLM_KAFKA_BROKERS``) the events go through the SDK's
:class:`~sentinel.llm.SentinelClient` into the topic the server consumes; otherwise they
are posted to ``/api/v1/llm/events`` with a token of scope ``llm``. Event times lie in the
past, so the demo's anomalies are on the dashboard within seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from urllib.request import Request, urlopen

from sentinel.core.domain import Demo
from sentinel.core.identity import TokenStore
from sentinel.llm._traffic import Injection, generate, gpu_of
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.settings import LlmSettings
from sentinel.llm.types import AnomalyType

log = logging.getLogger(__name__)

KEYS = (("chat-assistant", "gpt-4o"), ("search-rag", "llama-3-70b"), ("support-bot", "mistral-7b"))
"""The demo's (service, model) pairs."""


def day_plan(start: float, hours: float, window_s: int = 60) -> list[Injection]:
    """One injection of every anomaly type, ten windows each, after a warm-up (a quarter of
    the time, at most two hours), spread over ``hours`` and the demo's keys; plus one GPU
    whose outputs go wrong."""
    first = start + min(2 * 3600, hours * 900)
    span = (start + hours * 3600 - first) / (len(AnomalyType) + 1)
    plan = []
    for i, kind in enumerate(AnomalyType):
        service, model = KEYS[i % len(KEYS)]
        at = first + i * span
        gpu = ""
        if kind is AnomalyType.OUTPUT_DRIFT and i % 2:
            gpu = gpu_of(service, model, 1)
        plan.append(Injection(kind, service, model, at, at + 10 * window_s, gpu))
    at = first + len(AnomalyType) * span
    service, model = KEYS[0]
    plan.append(
        Injection(
            AnomalyType.OUTPUT_DRIFT,
            service,
            model,
            at,
            at + 15 * window_s,
            gpu_of(service, model, 1),
        )
    )
    return plan


def batches(events: Iterable[TelemetryEvent], size: int) -> Iterable[list[TelemetryEvent]]:
    batch: list[TelemetryEvent] = []
    for e in events:
        batch.append(e)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def post_events(url: str, token: str, events: Sequence[TelemetryEvent]) -> dict:
    """``POST /api/v1/llm/events`` with ``events``; the server's answer."""
    body = json.dumps({"events": [e.to_dict() for e in events]}).encode()
    req = Request(url.rstrip("/") + "/api/v1/llm/events", data=body, method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urlopen(req, timeout=60) as resp:
        return dict(json.loads(resp.read()))


class LlmDemo(Demo):
    """Sends :func:`day_plan`'s traffic once, ending at the present."""

    def __init__(
        self, http_url: str, tokens: TokenStore, settings: LlmSettings, hours: float = 6.0
    ) -> None:
        self._url = http_url.rstrip("/")
        self._tokens = tokens
        self._settings = settings
        self._hours = hours
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-demo", daemon=True)
        self.sent = 0
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def describe(self) -> Sequence[str]:
        via = "Kafka" if self._settings.kafka_brokers else "HTTP"
        return (
            f"llm: {self._hours:g} h of traffic with anomalies injected, via {via}: "
            f"{self._url}/llm",
        )

    def _run(self) -> None:
        try:
            start = (time.time() - self._hours * 3600) // 60 * 60
            plan = day_plan(start, self._hours, self._settings.window_s)
            events = generate(start, self._hours, KEYS, plan, rate_per_s=0.5)
            if self._settings.kafka_brokers:
                self._via_kafka(events)
            else:
                _, token = self._tokens.create("llm", name="llm-demo")
                for batch in batches(events, 2000):
                    if self._stop.is_set():
                        return
                    post_events(self._url, token, batch)
                    self.sent += len(batch)
        except Exception:  # the demo must never take the server down
            log.exception("the LLM demo stopped")
        finally:
            self.done.set()

    def _via_kafka(self, events: Iterable[TelemetryEvent]) -> None:
        from sentinel.llm.client import SentinelClient

        with SentinelClient(
            brokers=list(self._settings.kafka_brokers), topic=self._settings.topic
        ) as client:
            for e in events:
                if self._stop.is_set():
                    return
                client.send(e)
                self.sent += 1
