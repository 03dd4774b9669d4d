"""Runs fixtures: the runs domain on a real HTTP server of its own, and a real moto_server."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runs_testing import RunsServer, free_port, start_runs_server
from sentinel_testing import wait_for


@pytest.fixture
def runs_server(tmp_path: Path, db_url: str) -> Iterator[RunsServer]:
    """The runs domain (local object store) on SQLite and on PostgreSQL."""
    server, stop = start_runs_server(tmp_path, db_url)
    try:
        yield server
    finally:
        stop()


@pytest.fixture
def api_env(runs_server: RunsServer, monkeypatch: pytest.MonkeyPatch) -> RunsServer:
    """``SENTINEL_API_URL`` and ``SENTINEL_API_TOKEN`` pointing at ``runs_server``."""
    monkeypatch.setenv("SENTINEL_API_URL", runs_server.url)
    monkeypatch.setenv("SENTINEL_API_TOKEN", runs_server.token)
    return runs_server


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A real ``moto_server`` (S3 and STS) on a free loopback port; yields its URL."""
    binary = shutil.which("moto_server") or str(
        Path(__import__("sys").executable).parent / "moto_server"
    )
    if not Path(binary).exists():
        pytest.fail("moto_server is missing: pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(up, "moto_server to listen")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
