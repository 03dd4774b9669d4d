"""Delivery to the gateway: one daemon thread behind a bounded queue.

The raising thread calls :func:`submit`, which never blocks and never raises: the event
goes into the queue, or it is dropped and counted when the queue is full. The worker
formats, scrubs and posts each event, retrying network errors, 5xx and 429 with
exponential backoff and jitter (or as long as ``Retry-After`` says), and never retrying
another 4xx. Events it cannot deliver go to the spool directory when one is configured
and are sent on the next start. At exit the queue is flushed for a moment.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sentinel.capture._config import CaptureConfig
from sentinel.capture._payload import Snapshot, build

_log = logging.getLogger("sentinel.capture")

PATH = "/api/v1/exceptions"
"""Where the gateway takes events (the published SDK's path)."""
USER_AGENT = "sentinel-capture/1.0 (python)"
MAX_RETRY_AFTER = 60.0
"""Longest wait a ``Retry-After`` may impose before the next attempt, in seconds."""
MAX_SPOOLED = 1000
"""Most events kept in the spool directory; more are dropped (and counted)."""
EXIT_FLUSH_SECONDS = 2.0
"""How long the process waits at exit for queued events to be delivered."""

_STOP = object()
Item = Snapshot | dict | object


@dataclass(frozen=True)
class DispatchStats:
    """What happened to the events submitted since ``configure()``."""

    sent: int
    """Accepted by the gateway."""
    rejected: int
    """Refused with a 4xx other than 429 (a bad key or payload); not retried."""
    failed: int
    """Given up on after every retry, with no spool to keep them."""
    dropped: int
    """Not queued because the queue (or the spool) was full."""
    spooled: int
    """Written to the spool directory for a later start."""
    queued: int
    """Waiting to be sent now."""


class Dispatcher:
    """The worker thread and its queue, for one configuration."""

    def __init__(self, config: CaptureConfig) -> None:
        self.config = config
        self._queue: queue.Queue[Item] = queue.Queue(config.queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._counts = {"sent": 0, "rejected": 0, "failed": 0, "dropped": 0, "spooled": 0}
        self._names = count()
        self._gateway = _Gateway(config)

    def start(self) -> None:
        """Start the worker (again, after a fork) unless it runs."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sentinel-capture", daemon=True
                )
                self._thread.start()

    def submit(self, item: Snapshot) -> bool:
        """Queue ``item`` without blocking; ``False`` (and counted) when the queue is full."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count("dropped")
            return False
        return True

    def flush(self, timeout: float | None) -> bool:
        """Wait until every queued event was handled; ``False`` if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                done.wait(remaining)
        return True

    def stop(self, timeout: float) -> None:
        """Deliver what is queued for up to ``timeout`` seconds, spool the rest, and stop."""
        if not self.flush(timeout):
            self._stopping.set()
            self._spool_queued()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass

    def retire(self) -> None:
        """Stop after delivering what is queued (a new configuration took over)."""
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            self._stopping.set()

    def stats(self) -> DispatchStats:
        with self._lock:
            return DispatchStats(**self._counts, queued=self._queue.qsize())

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def _run(self) -> None:
        self._replay_spool()
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    self._gateway.close()
                    return
                payload = item if isinstance(item, dict) else build(item, self.config.github_repo)  # type: ignore[arg-type]
                if self._deliver(payload) == "failed":
                    self._keep(payload)
            except Exception:  # the worker must outlive any one bad event
                _log.warning("sentinel.capture could not report an exception", exc_info=True)
            finally:
                self._queue.task_done()

    def _deliver(self, payload: dict[str, Any]) -> str:
        """Post ``payload`` with retries: ``sent``, ``rejected`` or ``failed``."""
        config = self.config
        body = json.dumps(payload).encode()
        problem = ""
        for attempt in range(config.max_retries):
            wait: float | None = None
            try:
                status, headers, answer = self._gateway.post(body)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    self._count("sent")
                    return "sent"
                problem = f"HTTP {status}: {_error_of(answer)}"
                if status != 429 and status < 500:
                    _log.warning("sentinel.capture: the gateway refused an event (%s)", problem)
                    self._count("rejected")
                    return "rejected"
                wait = retry_after(headers.get("Retry-After"))
            if attempt + 1 < config.max_retries:
                if wait is None:
                    base = config.retry_backoff_base
                    wait = base * 2**attempt + random.uniform(0, base)
                if self._stopping.wait(min(wait, MAX_RETRY_AFTER)):
                    break
        _log.warning("sentinel.capture could not deliver an event (%s)", problem)
        return "failed"

    def _keep(self, payload: dict[str, Any]) -> None:
        """Spool an undeliverable event, or count it as failed."""
        spool = self.config.spool_dir
        if not spool:
            self._count("failed")
            return
        try:
            directory = Path(spool)
            directory.mkdir(parents=True, exist_ok=True)
            if sum(1 for _ in directory.glob("*.json")) >= MAX_SPOOLED:
                self._count("dropped")
                return
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names)}"
            part = directory / f"{name}.part"
            part.write_text(json.dumps(payload), encoding="utf-8")
            part.replace(directory / f"{name}.json")
            self._count("spooled")
        except OSError:
            _log.warning("sentinel.capture could not spool an event", exc_info=True)
            self._count("failed")

    def _spool_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                if isinstance(item, Snapshot):
                    self._keep(build(item, self.config.github_repo))
            finally:
                self._queue.task_done()

    def _replay_spool(self) -> None:
        """Send the events an earlier run spooled, oldest first, until one fails again."""
        if not self.config.spool_dir:
            return
        for path in sorted(Path(self.config.spool_dir).glob("*.json")):
            try:
                payload = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                _log.warning("sentinel.capture: unreadable spooled event %s removed", path)
                path.unlink(missing_ok=True)
                continue
            if self._deliver(payload) == "failed":
                return  # still offline: keep the rest for later
            path.unlink(missing_ok=True)


class _Gateway:
    """The worker's HTTP client: one keep-alive connection, reopened after any error.

    Where a proxy applies to the gateway (``HTTPS_PROXY`` and the like), each post goes
    through ``urllib`` instead, which knows proxies.
    """

    def __init__(self, config: CaptureConfig) -> None:
        url = config.gateway_url + PATH
        parts = urlsplit(url)
        self._url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path
        self._timeout = config.timeout_seconds
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {config.api_key}",
            "User-Agent": USER_AGENT,
        }
        proxied = urllib.request.getproxies().get(parts.scheme)
        self._proxied = bool(proxied) and not urllib.request.proxy_bypass(self._host)
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[int, Any, bytes]:
        """Post ``body``: status, headers and (the start of) the answer.

        Raises:
            OSError, http.client.HTTPException: The gateway could not be reached.
        """
        if self._proxied:
            return self._post_by_urllib(body)
        reused = self._conn is not None
        try:
            return self._post_once(body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            return self._post_once(body)  # the server closed the idle connection: reopen

    def _post_once(self, body: bytes) -> tuple[int, Any, bytes]:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request("POST", self._path, body=body, headers=self._headers)
            response = self._conn.getresponse()
            answer = response.read(65537)
        except BaseException:
            self.close()
            raise
        if response.will_close or len(answer) > 65536:
            self.close()
        return response.status, response.headers, answer[:65536]

    def _post_by_urllib(self, body: bytes) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(self._url, data=body, method="POST", headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return response.status, response.headers, response.read(65536)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers, exc.read(65536)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _error_of(answer: bytes) -> str:
    try:
        return str(json.loads(answer)["error"])
    except (ValueError, KeyError, TypeError):
        return answer[:200].decode(errors="replace")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


_lock = threading.Lock()
_dispatcher: Dispatcher | None = None


def reconfigure(config: CaptureConfig | None) -> None:
    """Replace the dispatcher: the old one delivers what it holds; a new one starts."""
    global _dispatcher
    with _lock:
        old, _dispatcher = _dispatcher, (Dispatcher(config) if config else None)
    if old is not None:
        old.retire()
    if _dispatcher is not None and config is not None and config.enabled:
        _dispatcher.start()


def submit(item: Snapshot) -> bool:
    """Queue an event for the current dispatcher; ``False`` when disabled, unconfigured or full."""
    dispatcher = _dispatcher
    if dispatcher is None or not dispatcher.config.enabled:
        return False
    return dispatcher.submit(item)


def flush(timeout: float | None = 5.0) -> bool:
    """Wait up to ``timeout`` seconds until every queued event was handled.

    Returns:
        Whether the queue emptied in time (also ``True`` when nothing was configured).
    """
    dispatcher = _dispatcher
    return True if dispatcher is None else dispatcher.flush(timeout)


def stats() -> DispatchStats:
    """Counts of sent, rejected, failed, dropped, spooled and queued events."""
    dispatcher = _dispatcher
    if dispatcher is None:
        return DispatchStats(0, 0, 0, 0, 0, 0)
    return dispatcher.stats()


def _at_exit() -> None:
    dispatcher = _dispatcher
    if dispatcher is not None and dispatcher.config.enabled:
        dispatcher.stop(timeout=max(EXIT_FLUSH_SECONDS, dispatcher.config.timeout_seconds))


def _after_fork() -> None:
    """In a forked child (gunicorn workers...): a fresh queue and lock, no inherited thread."""
    global _dispatcher, _lock
    _lock = threading.Lock()
    if _dispatcher is not None:
        _dispatcher = Dispatcher(_dispatcher.config)


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
