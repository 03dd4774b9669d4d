"""``ResourceTracker``: a process tree and its machine, sampled from ``/proc`` and NVML.

One background thread samples every ``interval`` seconds into a CSV with the published
``resource-tracker``'s columns; with an API token the run is registered and the CSV is
streamed to the server in gzipped batches, then finished with the exit status. Tracking
is best effort: a server that cannot be reached costs a warning, never the tracked work,
and the CSV stays on disk.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from sentinel.runs import api
from sentinel.runs._nvml import Gpus
from sentinel.runs._procfs import COLUMNS, RowSampler
from sentinel.runs._upload import Streamer

__all__ = ["ResourceTracker"]

logger = logging.getLogger(__name__)


class ResourceTracker:
    """Track a process and its descendants, and the whole machine, at a fixed interval.

    Use it as a context manager around the work to track, or call :meth:`start` and
    :meth:`stop`. Without a token it only writes the CSV (``csv_path``).

    Args:
        pid: Process to track with its descendants; default this process.
        interval: Seconds between samples.
        token: API token of scope ``runs``; default ``SENTINEL_API_TOKEN``; none: the
            run stays local.
        metadata: Run metadata for ``register_run`` (``project_name``, ``job_name``,
            ``command``, ``tags``...).
        upload_interval: Seconds between uploaded batches.
        csv_path: Where the CSV is written and kept; default a temporary file, removed
            once the server has the run.
        children: Whether descendants of ``pid`` count as the process.
    """

    def __init__(
        self,
        pid: int | None = None,
        *,
        interval: float = 1.0,
        token: str | None = None,
        metadata: dict[str, Any] | None = None,
        upload_interval: float = 60.0,
        csv_path: str | os.PathLike[str] | None = None,
        children: bool = True,
    ) -> None:
        if sys.platform != "linux":
            raise RuntimeError("ResourceTracker reads /proc, which only Linux has")
        if interval <= 0 or upload_interval <= 0:
            raise ValueError(
                f"interval and upload_interval must be positive seconds, "
                f"got {interval} and {upload_interval}"
            )
        self.pid = os.getpid() if pid is None else pid
        if not os.path.exists(f"/proc/{self.pid}"):
            raise ValueError(f"no process {self.pid} to track")
        self.interval = interval
        self.metadata = dict(metadata or {})
        self._token = token or os.environ.get("SENTINEL_API_TOKEN") or None
        self._upload_interval = upload_interval
        self._children = children
        self._keep_csv = csv_path is not None
        if csv_path is None:
            handle, name = tempfile.mkstemp(prefix="sentinel-run-", suffix=".csv")
            os.close(handle)
            csv_path = name
        self.csv_path = Path(csv_path)
        self._header = ",".join(f'"{name}"' for name in COLUMNS) + "\n"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._streamer: Streamer | None = None
        self._gpus: Gpus | None = None
        self._sampler: RowSampler | None = None
        self._last_sample = 0.0
        self.samples = 0
        """Rows written so far."""
        self.error: str | None = None
        """Why the run is not (or not fully) on the server, if it is not."""
        self.result: dict[str, Any] | None = None
        """The server's answer to ``finish_run`` (with ``statistics``), after :meth:`stop`."""

    @property
    def run_id(self) -> str | None:
        """The server's id of the run, once registered."""
        return self._streamer.run_id if self._streamer and self._streamer.run_id else None

    @property
    def run_url(self) -> str | None:
        """Where the run can be seen: ``<server>/runs/<id>``."""
        run_id = self.run_id
        return f"{api.api_url().rstrip('/')}/runs/{run_id}" if run_id else None

    def start(self) -> ResourceTracker:
        """Start sampling, then register the run (sampling does not wait for the server)."""
        if self._sampler is not None:
            raise RuntimeError("this tracker was already started; make a new one")
        self._gpus = Gpus()
        self._sampler = RowSampler(self.pid, children=self._children)
        self._last_sample = time.monotonic()
        self._file = open(self.csv_path, "w", encoding="utf-8")  # closed by stop()
        self._file.write(self._header)
        self._file.flush()
        self._thread = threading.Thread(target=self._loop, name="sentinel-tracker", daemon=True)
        self._thread.start()
        if self._token:
            self._register()
        return self

    def _register(self) -> None:
        streamer = Streamer(self._token or "", self._header, self._upload_interval)
        metadata = {"pid": self.pid, "language": "python", **self.metadata}
        host = {
            "host_vcpus": os.cpu_count(),
            "host_memory_mib": _memory_mib(),
            **(self._gpus.info() if self._gpus else {}),
        }
        try:
            streamer.register(metadata, host)
        except (api.SentinelAPIError, OSError, ValueError, KeyError) as exc:
            self.error = f"could not register the run at {api.api_url()}: {_reason(exc)}"
            logger.warning("%s; tracking locally into %s", self.error, self.csv_path)
            return
        with self._lock:  # rows sampled while registering go in the first batch
            for line in self._csv_text().splitlines(keepends=True)[1:]:
                streamer.add(line)
            self._streamer = streamer

    def _loop(self) -> None:
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self._sample()
            # after a stall (suspended machine), continue from now instead of catching up
            due = max(due + self.interval, time.monotonic())

    def _sample(self) -> None:
        assert self._sampler is not None
        assert self._gpus is not None
        pids = self._sampler.process.pids or [self.pid]
        gpu_system, gpu_process = self._gpus.sample(pids)
        row = self._sampler.row(gpu_system, gpu_process)
        self._last_sample = time.monotonic()
        line = ",".join(map(str, row)) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.samples += 1
            if self._streamer is not None:
                self._streamer.add(line)

    def stop(
        self, exit_code: int = 0, run_status: api.RunStatus = api.RunStatus.finished
    ) -> dict[str, Any] | None:
        """Take a last sample, upload what is left and finish the run.

        Returns:
            The server's statistics answer, or ``None`` when the run is local only or the
            server could not be reached (``error`` says why; the CSV is kept).
        """
        if self._thread is None or self._stop.is_set():
            raise RuntimeError("the tracker is not running")
        self._stop.set()
        self._thread.join()
        # the tail since the last tick, unless too short to give a meaningful rate
        if time.monotonic() - self._last_sample >= self.interval / 4 or not self.samples:
            self._sample()
        self._file.close()
        if self._gpus is not None:
            self._gpus.close()
        if self._streamer is not None:
            try:
                self.result = self._streamer.finish(exit_code, run_status, self._csv_text)
            except (api.SentinelAPIError, OSError, ValueError) as exc:
                self.error = f"could not finish run {self.run_id}: {_reason(exc)}"
                logger.warning("%s; its CSV is kept at %s", self.error, self.csv_path)
        if self.result is not None and not self._keep_csv:
            self.csv_path.unlink(missing_ok=True)
        return self.result

    def _csv_text(self) -> str:
        return self.csv_path.read_text(encoding="utf-8")

    def __enter__(self) -> ResourceTracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
        else:
            self.stop(exit_code=1, run_status=api.RunStatus.failed)


def _memory_mib() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) // 1024
    except (OSError, IndexError, ValueError):
        return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, api.SentinelAPIError):
        return f"HTTP {exc.status_code} {exc.body[:200]}"
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    return str(reason or exc)
