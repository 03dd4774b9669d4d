"""Accepted events to the database in batches: one thread, group commits.

A request waits for the transaction that stores its event, so a 202 means stored; many
requests share one transaction, which is what lets one process take thousands of events
a second on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sentinel.capture.store import CaptureStore, Incoming, Stored

log = logging.getLogger("sentinel.capture")

_STOP = None


class QueueFull(Exception):
    """More accepted events wait than the writer holds: the caller should retry later."""


class EventWriter:
    """Writes submitted events in batches of up to ``batch_size`` on its own thread."""

    def __init__(self, store: CaptureStore, queue_size: int, batch_size: int) -> None:
        self._store = store
        self._batch_size = batch_size
        self._queue: queue.Queue[tuple[Incoming, Future[Stored]] | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None

    @property
    def backlog(self) -> int:
        """Events waiting to be written."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def submit(self, event: Incoming) -> Future[Stored]:
        """Queue ``event``; the future resolves once it is committed.

        Raises:
            QueueFull: The writer is that far behind; nothing was queued.
        """
        done: Future[Stored] = Future()
        try:
            self._queue.put_nowait((event, done))
        except queue.Full:
            raise QueueFull(
                f"the exception gateway has {self._queue.maxsize:,} events waiting for the "
                "database; retry shortly"
            ) from None
        return done

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            # A request that went away before its event was taken gets no write (its
            # client had no answer, so it sends the event again).
            self._write([(e, done) for e, done in batch if done.set_running_or_notify_cancel()])
            if stop:
                return

    def _write(self, batch: list[tuple[Incoming, Future[Stored]]]) -> None:
        if not batch:
            return
        try:
            stored = self._store.write([event for event, _ in batch])
        except Exception as exc:  # the database is away: every waiting request learns it
            log.warning("writing %d exception events failed: %s", len(batch), exc)
            for _, done in batch:
                done.set_exception(exc)
            return
        for (_, done), where in zip(batch, stored, strict=True):
            done.set_result(where)
