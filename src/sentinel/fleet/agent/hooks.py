"""What a site sees of a directive: a state file per GPU and an optional action hook.

The state file (``<data_dir>/state/<uuid>.json``) always says the GPU's last known
state, so a scheduler integration can poll it and a restarted agent knows not to probe
a condemned GPU. The hook is a command the site provides (drain a Slurm node, cordon a
Kubernetes node; see ``docs/hooks/``); it runs as ``CMD <uuid> <action> <reason>`` with
the same facts in ``SENTINEL_*`` variables. Hooks run one at a time on their own thread
with a time limit, so a slow or hanging hook never holds up probes or directives.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shlex
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["ActionHook", "GpuStateRecord", "StateFiles"]

log = logging.getLogger("sentinel.fleet.agent.hooks")

_HOOK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class GpuStateRecord:
    """One GPU's state as the agent last applied it; the state file's content."""

    gpu_uuid: str
    device_index: int
    hostname: str
    state: str
    """HEALTHY, QUARANTINED, DEEP_TEST or CONDEMNED."""
    action: str
    """The directive that led here: quarantine, reinstate, condemn or schedule_deep_test."""
    reason: str
    directive_id: str
    initiated_by: str
    time: str
    """When the agent applied it, ISO 8601 in UTC."""

    @classmethod
    def now(cls, **fields: object) -> GpuStateRecord:
        """A record stamped with the current time."""
        return cls(time=datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields)  # type: ignore[arg-type]


class StateFiles:
    """Reads and atomically writes ``<directory>/<uuid>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, gpu_uuid: str) -> Path:
        return self.directory / f"{gpu_uuid}.json"

    def write(self, record: GpuStateRecord) -> Path:
        """Replace the GPU's state file; readers never see a half-written one."""
        path = self.path(record.gpu_uuid)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    def read(self, gpu_uuid: str) -> GpuStateRecord | None:
        """The GPU's last record, or None when there is none or it cannot be read."""
        path = self.path(gpu_uuid)
        try:
            return GpuStateRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable state file %s: %s", path, exc)
            return None


class ActionHook:
    """Runs the site's command for each applied directive, in order, off the agent's threads.

    Args:
        command: Command line, split with ``shlex``; the GPU UUID, action and reason are
            appended as arguments.
        timeout_s: How long one run may take before it is killed.
    """

    def __init__(self, command: str, timeout_s: float = _HOOK_TIMEOUT_S) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("the action hook command is empty")
        self.timeout_s = timeout_s
        self.failures = 0
        """Runs that failed, timed out or could not start."""
        self._queue: queue.SimpleQueue[tuple[GpuStateRecord, Path] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sentinel-agent-hook", daemon=True)
        self._thread.start()

    def submit(self, record: GpuStateRecord, state_file: Path) -> None:
        """Queue a run for ``record``; returns at once."""
        self._queue.put((record, state_file))

    def close(self, timeout: float) -> None:
        """Finish queued runs (up to ``timeout``) and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._call(*item)

    def _call(self, r: GpuStateRecord, state_file: Path) -> None:
        env = {
            **os.environ,
            "SENTINEL_GPU_UUID": r.gpu_uuid,
            "SENTINEL_GPU_INDEX": str(r.device_index),
            "SENTINEL_HOSTNAME": r.hostname,
            "SENTINEL_ACTION": r.action,
            "SENTINEL_STATE": r.state,
            "SENTINEL_REASON": r.reason,
            "SENTINEL_DIRECTIVE_ID": r.directive_id,
            "SENTINEL_STATE_FILE": str(state_file),
        }
        argv = [*self.argv, r.gpu_uuid, r.action, r.reason]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failures += 1
            log.error("action hook %s for %s %s failed: %s", argv[0], r.action, r.gpu_uuid, exc)
            return
        took = time.monotonic() - started
        if done.returncode != 0:
            self.failures += 1
            log.error(
                "action hook %s for %s %s exited %d after %.1fs: %s",
                argv[0],
                r.action,
                r.gpu_uuid,
                done.returncode,
                took,
                (done.stderr or done.stdout).strip()[-2000:],
            )
        else:
            log.info("action hook %s ran for %s %s in %.1fs", argv[0], r.action, r.gpu_uuid, took)
