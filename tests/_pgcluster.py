"""A private PostgreSQL cluster for one test: ``initdb`` into a temporary directory, a free
port, and ``pg_ctl`` to stop and start it, so a test can take its database away for real
without touching the shared server on 5432.

``initdb`` refuses to run as root; as root the cluster belongs to the ``postgres`` user
and every PostgreSQL command runs through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install the "
            "postgresql package (apt-get install postgresql) to run the outage tests"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One throw-away PostgreSQL server; ``url`` stays the same across stop and start."""

    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._runas: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="sentinel-pg-"))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
            self._runas = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _pg(self, tool: str, *args: str) -> None:
        cmd = [*self._runas, str(self._bin / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._pg(
            "pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-o", options, "-l", log
        )

    def stop(self) -> None:
        """Stop at once, as a crash or a pulled cable would: open connections just break."""
        self._pg("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def running(self) -> bool:
        cmd = [*self._runas, str(self._bin / "pg_ctl"), "status", "-D", str(self.data)]
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0

    def destroy(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A started private cluster, stopped and deleted afterwards."""
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
