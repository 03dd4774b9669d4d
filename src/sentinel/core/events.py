"""How domains meet without importing each other: typed events published on the host.

A domain publishes an event it knows something about (an LLM's answers drifting on one
GPU); any domain that cares subscribes to its type (the fleet turns it into an anomaly of
that GPU). Delivery is synchronous, in the publisher's thread; a subscriber that fails is
logged and does not stop the others or the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

log = logging.getLogger("sentinel.events")

E = TypeVar("E")

Severity = Literal["info", "warning", "high", "critical"]


@dataclass(frozen=True)
class GpuAnomaly:
    """Evidence from outside the fleet that one GPU computes wrong answers."""

    anomaly_id: str
    """Stable id: the same finding published twice is one anomaly."""
    gpu_uuid: str
    source: str
    """Who saw it, e.g. ``llm``."""
    severity: Severity
    score: float
    threshold: float
    timestamp: float
    """When it happened (Unix seconds, event time)."""
    detail: str


class Events:
    """In-process publish/subscribe between the domains of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call ``handler`` with every event of type ``kind`` published from now on."""
        with self._lock:
            self._subscribers.setdefault(kind, []).append(handler)

    def publish(self, event: object) -> int:
        """Deliver ``event`` to its type's subscribers; returns how many took it."""
        with self._lock:
            handlers = list(self._subscribers.get(type(event), ()))
        delivered = 0
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("a subscriber to %s failed", type(event).__name__)
            else:
                delivered += 1
        return delivered
