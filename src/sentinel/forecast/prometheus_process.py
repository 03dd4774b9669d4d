"""A real Prometheus (the installed ``prometheus`` binary) with a generated configuration:
what the demo runs, and what the tests start.

History can be written before it starts with ``promtool tsdb create-blocks-from
openmetrics`` (backfilling), so forecasts have days of data at once.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

INSTALL_HINT = "install the Debian package: apt-get install -y prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binaries() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``.

    Raises:
        FileNotFoundError: either is missing (the message says how to install them).
    """
    found = shutil.which("prometheus"), shutil.which("promtool")
    if not all(found):
        raise FileNotFoundError(f"the prometheus and promtool binaries are missing: {INSTALL_HINT}")
    return found[0] or "", found[1] or ""


class PrometheusProcess:
    """One Prometheus on a loopback port with its own storage under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        scrape: Sequence[dict[str, Any]] = (),
        remote_read: Sequence[dict[str, Any]] = (),
        scrape_interval: str = "15s",
        port: int = 0,
    ) -> None:
        self.prometheus, self.promtool = binaries()
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": list(scrape),
            "remote_read": list(remote_read),
        }
        self._proc: subprocess.Popen[bytes] | None = None

    def backfill(self, openmetrics: str) -> None:
        """Write history (OpenMetrics text ending in ``# EOF``) into the storage; call before
        :meth:`start`."""
        self.data.mkdir(parents=True, exist_ok=True)
        source = self.workdir / "backfill.om"
        source.write_text(openmetrics)
        done = subprocess.run(
            [
                self.promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(self.data),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"promtool could not backfill: {done.stderr.strip()[-500:]}")

    def start(self, timeout: float = 30.0) -> PrometheusProcess:
        """Start and wait until ``/-/ready`` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(self.config, indent=1))  # JSON is YAML
        with (self.workdir / "prometheus.log").open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    self.prometheus,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={self.data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=15d",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited ({self._proc.returncode}): "
                    + (self.workdir / "prometheus.log").read_text()[-800:]
                )
            try:
                with urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not become ready within {timeout} s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
