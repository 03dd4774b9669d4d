"""``sentinel serve`` and ``sentinel up`` that cannot listen: one ``error:`` line, no traceback.

The commands run as real subprocesses against ports held by sockets of the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel._cli.server import PORT_UNAVAILABLE_EXIT
from sentinel.core.settings import ServerSettings
from sentinel.server._ports import PortUnavailable
from sentinel.server.app import SentinelServer

_MAIN = "from sentinel.cli import main; main()"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listening socket of the test holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _sentinel(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**clean, **(env or {})},
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "other", "service", "variable"),
    [
        ("--grpc-port", "--http-port", "gRPC", "SENTINEL_GRPC_PORT"),
        ("--http-port", "--grpc-port", "HTTP", "SENTINEL_HTTP_PORT"),
    ],
)
def test_serve_on_a_busy_port_names_the_flag_to_change(
    tmp_path: Path, busy_port: int, flag: str, other: str, service: str, variable: str
) -> None:
    data = tmp_path / "data"
    result = _sentinel(
        "serve", flag, str(busy_port), other, "0", "--data-dir", str(data), cwd=tmp_path
    )
    assert result.returncode == PORT_UNAVAILABLE_EXIT == 8, result.stderr
    line = _one_error_line(result)
    assert f"{service} port {busy_port} on 127.0.0.1 is already in use" in line
    assert flag in line and variable in line
    assert not data.exists(), "refused before the database was created"


def test_serve_takes_the_busy_port_from_the_environment_too(tmp_path: Path, busy_port: int) -> None:
    env = {"SENTINEL_HTTP_PORT": str(busy_port), "SENTINEL_GRPC_PORT": "0"}
    result = _sentinel("serve", "--data-dir", str(tmp_path / "d"), env=env, cwd=tmp_path)
    assert result.returncode == PORT_UNAVAILABLE_EXIT == 8, result.stderr
    line = _one_error_line(result)
    assert f"HTTP port {busy_port}" in line and "SENTINEL_HTTP_PORT" in line


@pytest.mark.parametrize("flag", ["--grpc-port", "--http-port"])
def test_serve_refuses_a_port_beyond_65535_at_the_flag(tmp_path: Path, flag: str) -> None:
    result = _sentinel("serve", flag, "99999", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"Invalid value for '{flag}': 99999 is not in the range 0<=x<=65535" in result.stderr


def test_serve_refuses_a_port_beyond_65535_in_the_environment(tmp_path: Path) -> None:
    env = {"SENTINEL_GRPC_PORT": "99999"}
    result = _sentinel("serve", "--data-dir", str(tmp_path / "d"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert "SENTINEL_GRPC_PORT=99999 is not a port" in line and "--grpc-port" in line
    assert not (tmp_path / "d").exists()


def test_up_on_a_busy_port_leaves_the_demo_state_alone(tmp_path: Path, busy_port: int) -> None:
    demo = tmp_path / "data" / "demo"
    demo.mkdir(parents=True)
    (demo / "sentinel.db").write_text("the running demo's database")
    args = ["up", "--demo", "--grpc-port", "0", "--http-port", str(busy_port)]
    result = _sentinel(*args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == PORT_UNAVAILABLE_EXIT == 8, result.stderr
    line = _one_error_line(result)
    assert f"HTTP port {busy_port}" in line and "--http-port" in line
    assert (demo / "sentinel.db").read_text() == "the running demo's database"


@pytest.mark.parametrize("service", ["gRPC", "HTTP"])
def test_server_bind_failure_is_port_unavailable(
    tmp_path: Path, busy_port: int, service: str
) -> None:
    """The server's own binds (a port taken after the CLI looked) raise the same error."""
    grpc_port, http_port = (busy_port, 0) if service == "gRPC" else (0, busy_port)
    settings = ServerSettings(grpc_port=grpc_port, http_port=http_port, data_dir=tmp_path / "d")
    expected = f"^{service} port {busy_port} on 127.0.0.1 is already in use"
    with pytest.raises(PortUnavailable, match=expected):
        SentinelServer(settings).start()
