"""The Kafka side of the detector service: a consumer-group worker on the telemetry topic.

Offsets are committed right after the baselines are persisted, so the committed position
and the stored baselines always agree: after a crash the worker replays exactly the
events its baselines have not seen, and the anomalies they give again keep their ids. A
partition given back to the same worker, after an outage that failed its last commit and
ended its session, resumes where that worker stopped reading, not at the committed offset.
A broker that is down at start or restarts is waited for; the worker's ``problem`` says so
meanwhile (``/healthz``). Whether any broker is reachable is read from librdkafka's statistics
every second, not only from its error events: those come once per change of state (and in one
CI run none came within 30 s of a broker kill).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from sentinel.llm.errors import ValidationError
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.ingest import LlmIngest, check_clock
from sentinel.llm.settings import LlmSettings

log = logging.getLogger("sentinel.llm")
_SLOW_COMMIT_S = 5.0
"""A synchronous commit still waiting after this long is reported as a problem."""


def _kafka() -> Any:
    try:
        import confluent_kafka
    except ImportError as exc:
        raise ImportError(
            "the LLM detector's Kafka consumer needs confluent-kafka: pip install 'sentinel[kafka]'"
        ) from exc
    return confluent_kafka


def ensure_topic(brokers: str, topic: str, partitions: int, timeout: float = 10.0) -> None:
    """Create ``topic`` unless it exists.

    Raises:
        ConnectionError: no broker answered within ``timeout``.
    """
    kafka = _kafka()
    from confluent_kafka.admin import AdminClient, NewTopic

    conf: dict[str, Any] = {
        "bootstrap.servers": brokers,
        "logger": logging.getLogger("sentinel.llm.kafka"),
    }
    admin = AdminClient(conf)
    try:
        meta = admin.list_topics(timeout=timeout)
    except kafka.KafkaException as exc:
        raise ConnectionError(f"Kafka at {brokers} did not answer: {exc}") from exc
    if topic in meta.topics:
        return
    future = admin.create_topics([NewTopic(topic, partitions, 1)])[topic]
    try:
        future.result(timeout)
    except kafka.KafkaException as exc:
        if exc.args[0].code() != kafka.KafkaError.TOPIC_ALREADY_EXISTS:
            raise ConnectionError(f"cannot create topic {topic!r}: {exc}") from exc


class KafkaWorker:
    """One consumer of the group ``settings.group_id``, feeding ``ingest``."""

    def __init__(self, ingest: LlmIngest, settings: LlmSettings, name: str = "llm-kafka") -> None:
        if not settings.kafka_brokers:
            raise ValueError("set SENTINEL_LLM_KAFKA_BROKERS to consume from Kafka")
        _kafka()
        self.ingest = ingest
        self.settings = settings
        self.name = name
        self.brokers = ",".join(settings.kafka_brokers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.consumed = 0
        self.rejected = 0
        """Messages that were not valid events (logged, skipped)."""
        self.assigned: list[int] = []
        self._error = ""
        self._error_at = 0.0
        self._ok_at = 0.0
        self._committed = 0.0
        """When the last commit began; ``_committed_by``, when it ended."""
        self._committed_by = 0.0
        self._uncommitted = False
        self._unreachable = False
        """No broker connection was up at the last statistics (every second)."""
        self._positions: dict[int, int] = {}
        """Partition -> the offset after the last message this worker has taken in."""

    @property
    def problem(self) -> str:
        """Why the worker cannot consume right now; empty when it can."""
        if self._committed_by < self._committed:  # a commit is under way
            waiting = time.monotonic() - self._committed
            if waiting > _SLOW_COMMIT_S:  # blocked there, the worker reports nothing else
                return f"Kafka at {self.brokers}: committing offsets for {waiting:.0f} s"
        if self._unreachable:
            return f"Kafka at {self.brokers}: no broker reachable"
        if self._error and self._error_at >= self._ok_at:
            return f"Kafka at {self.brokers}: {self._error}"
        return ""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _on_error(self, err: Any) -> None:
        self._error, self._error_at = str(err), time.monotonic()
        log.warning("%s: Kafka error: %s", self.name, err)

    def _on_stats(self, stats: str) -> None:
        brokers = json.loads(stats).get("brokers", {})
        self._unreachable = not any(b.get("state") == "UP" for b in brokers.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ensure_topic(self.brokers, self.settings.topic, self.settings.partitions, 2.0)
                break
            except ConnectionError as exc:
                self._on_error(exc)
                self._stop.wait(1.0)
        if self._stop.is_set():
            return
        kafka = _kafka()
        consumer = kafka.Consumer(
            {
                "bootstrap.servers": self.brokers,
                "group.id": self.settings.group_id,
                "client.id": self.name,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.settings.session_timeout_ms,
                "heartbeat.interval.ms": max(self.settings.session_timeout_ms // 5, 100),
                # Brokers that hold an empty fetch open for long (Tansu) would add that
                # much to every event's way to an anomaly.
                "fetch.wait.max.ms": 20,
                "error_cb": self._on_error,
                "statistics.interval.ms": 1000,
                "stats_cb": self._on_stats,
                "logger": logging.getLogger("sentinel.llm.kafka"),
            }
        )

        def assigned(c: Any, partitions: list[Any]) -> None:
            self._resume(c, partitions)
            self.assigned = sorted(p.partition for p in partitions)
            self._ok_at = time.monotonic()

        def revoked(c: Any, _partitions: list[Any]) -> None:
            self.ingest.release()
            self._commit(c)
            self.assigned = []

        consumer.subscribe([self.settings.topic], on_assign=assigned, on_revoke=revoked)
        try:
            while not self._stop.is_set():
                self._step(consumer)
        finally:
            self.ingest.persist()
            self._commit(consumer)
            consumer.close()

    def _resume(self, consumer: Any, partitions: list[Any]) -> None:
        """Start each partition this worker has read before where it stopped reading, unless
        the group's committed offset is further on.

        The baselines hold every event the worker took in, committed or not; after a commit
        that failed (the broker went away and the session with it), starting from the committed
        offset would count the events since the last good commit twice.
        """
        mine = [p for p in partitions if p.partition in self._positions]
        if not mine:
            return
        try:
            committed = {p.partition: p.offset for p in consumer.committed(mine, timeout=10)}
        except _kafka().KafkaException as exc:  # then the group's offsets, as without this
            self._on_error(exc)
            return
        for p in mine:
            p.offset = max(self._positions[p.partition], committed.get(p.partition, -1))
        consumer.assign(partitions)

    def _step(self, consumer: Any) -> None:
        kafka = _kafka()
        # consume(n, timeout) waits out its timeout unless n messages came: wait for one
        # message, then take what else is already fetched, so an event is handled at once.
        first = consumer.poll(0.2)
        messages = [] if first is None else [first, *consumer.consume(1999, 0)]
        events, delivered = [], False
        for m in messages:
            if m.error():
                if m.error().code() != kafka.KafkaError._PARTITION_EOF:
                    self._on_error(m.error())
                continue
            delivered = True
            self._positions[m.partition()] = m.offset() + 1
            try:
                event = TelemetryEvent.from_dict(json.loads(m.value()))
                check_clock(event)
                events.append(event)
            except (ValueError, ValidationError) as exc:
                self.rejected += 1
                log.warning(
                    "%s: skipped an invalid message at offset %s: %s", self.name, m.offset(), exc
                )
        if delivered:  # a batch of errors alone must not clear the error it reported
            self._ok_at = time.monotonic()
        if events:
            self.ingest.ingest(events, persist=False)
            self.consumed += len(events)
        if messages:
            self._uncommitted = True
        due = time.monotonic() - self._committed >= self.settings.persist_interval_s
        if self._uncommitted and due:
            self.ingest.persist()
            self._commit(consumer)

    def _commit(self, consumer: Any) -> None:
        kafka = _kafka()
        self._committed, self._uncommitted = time.monotonic(), False
        try:
            consumer.commit(asynchronous=False)
        except kafka.KafkaException as exc:
            if exc.args[0].code() != kafka.KafkaError._NO_OFFSET:
                self._on_error(exc)
        finally:
            self._committed_by = time.monotonic()
