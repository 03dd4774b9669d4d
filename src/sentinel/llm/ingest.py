"""The detector service without transport: events in, anomalies and figures stored.

The HTTP ingest, the OTLP route and the Kafka workers all call :meth:`LlmIngest.ingest`.
One lock covers detection and storage, so two callers never store an older version of an
anomaly over a newer one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from sentinel.llm.baseline import Changes
from sentinel.llm.detector import Detector
from sentinel.llm.errors import ValidationError
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.findings import GpuReport
from sentinel.llm.settings import LlmSettings
from sentinel.llm.store import LlmStore

log = logging.getLogger("sentinel.llm")

FUTURE_SLACK_S = 3600.0
"""How far ahead of the server's clock an event's time may be. Windows run on event time:
one event stamped next year would close today's window for good and make every later
event of its (service, model) late."""


def check_clock(event: TelemetryEvent, now: float | None = None) -> None:
    """Refuse an event from the future (a client clock gone wrong).

    Raises:
        ValidationError: the event's timestamp is more than an hour ahead.
    """
    limit = (time.time() if now is None else now) + FUTURE_SLACK_S
    if event.timestamp.timestamp() > limit:
        raise ValidationError(
            f"{event.timestamp.isoformat()} is more than an hour ahead of the server's clock",
            "timestamp",
        )


class LlmIngest:
    """Runs the detector on incoming events and stores what it finds."""

    def __init__(self, db: Engine, settings: LlmSettings) -> None:
        self.settings = settings
        self.store = LlmStore(db)
        self.detector = Detector(settings, load=self.store.load_baseline)
        self._reporters: list[Callable[[GpuReport], None]] = (
            [settings.gpu_reporter] if settings.gpu_reporter else []
        )
        self._lock = threading.Lock()
        self._persisted = time.monotonic()
        self.events = 0
        """Events processed since start."""
        self.gpu_reports = 0

    def on_gpu_report(self, fn: Callable[[GpuReport], None]) -> None:
        """Call ``fn`` with every :class:`GpuReport` (the fleet engine's anomaly intake)."""
        self._reporters.append(fn)

    def ingest(self, events: Sequence[TelemetryEvent], persist: bool = True) -> Changes:
        """Detect on ``events`` (already validated) and store the results.

        Args:
            events: The events, in order.
            persist: Whether changed baselines may be written now (every
                ``persist_interval_s``); the Kafka worker persists itself, just before it
                commits offsets, so that the two agree.
        """
        with self._lock:
            changes = self.detector.process(events)
            due = persist and time.monotonic() - self._persisted >= self.settings.persist_interval_s
            baselines = self.detector.take_dirty() if due else []
            self.store.save(list(changes.anomalies.values()), changes.windows, baselines)
            if due:
                self._persisted = time.monotonic()
            self.events += len(events)
        for report in changes.gpu_reports:
            self.gpu_reports += 1
            for fn in self._reporters:
                try:
                    fn(report)
                except Exception:  # the fleet's trouble must not stop LLM detection
                    log.exception("reporting %s to the fleet failed", report.gpu_uuid)
        return changes

    def persist(self) -> None:
        """Write every changed baseline now (before committing offsets, and at shutdown)."""
        with self._lock:
            self.store.save([], [], self.detector.take_dirty())
            self._persisted = time.monotonic()

    def release(self) -> None:
        """Persist, then forget every baseline (Kafka gave their partitions to another worker)."""
        with self._lock:
            self.store.save([], [], self.detector.take_dirty())
            self.detector.forget()
