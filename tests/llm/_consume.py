"""Reading a topic back, for the transport tests: every partition from the beginning."""

from __future__ import annotations

import json
import logging
import time
from typing import Any


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """The ``(partition, key, value)`` of the first ``expected`` messages of ``topic``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "logger": logging.getLogger("tests.kafka"),
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = list(meta.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.2):
                if not m.error():
                    found.append((m.partition(), m.key(), json.loads(m.value() or b"null")))
        return found
    finally:
        consumer.close()


def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    from sentinel.llm.consumer import ensure_topic

    ensure_topic(bootstrap, topic, partitions)
