"""``sentinel up``: the choice of demo, the operator token, the printed URL and summary."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sentinel_testing import register_host

from sentinel.cli import cli
from sentinel.core.settings import ServerSettings
from sentinel.fleet.service import registered_agents
from sentinel.server.app import SentinelServer
from sentinel.server.up import operator_token, run_up


def _settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(grpc_port=0, http_port=0, data_dir=tmp_path / "data")


def test_demo_is_the_default_until_an_agent_registers(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert registered_agents(settings) == 0  # no database yet: nothing is created by looking
    assert not (tmp_path / "data").exists()
    with SentinelServer(settings) as server:
        assert registered_agents(settings) == 0
        register_host(server.engine, "gpu-host-1", 2)
    assert registered_agents(settings) == 1


def test_operator_token_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings, token = operator_token(_settings(tmp_path))
    assert token and settings.operator_tokens == (f"operator:{token}",)
    path = tmp_path / "data" / "operator-token"
    assert path.read_text().strip() == token
    assert path.stat().st_mode & 0o777 == 0o600
    configured = ServerSettings(operator_tokens=("bob:secret",))
    assert operator_token(configured) == (configured, None)


def test_run_up_prints_the_url_token_and_a_summary(tmp_path: Path) -> None:
    out = io.StringIO()
    stop = threading.Event()
    t = threading.Thread(
        target=run_up, args=(_settings(tmp_path),), kwargs={"demo": False, "out": out, "stop": stop}
    )
    t.start()
    try:
        for _ in range(200):
            if "GPUs:" in out.getvalue():
                break
            stop.wait(0.05)
        text = out.getvalue()
        url = text.split("Dashboard: ", 1)[1].split()[0]
        token = text.split("Operator token for approvals", 1)[1].split(": ", 1)[1].split()[0]
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "Sentinel" in page.text
        who = httpx.get(
            url + "api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert who.json() == {"name": "operator", "operator": True}
        assert "0 GPUs: 0 healthy" in text
        assert "Demo fleet" not in text
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    assert out.getvalue().endswith("Sentinel stopped.\n")


def test_up_refuses_a_demo_beyond_memory_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(
        cli,
        [
            "up",
            "--demo",
            "--demo-hosts",
            "200000",
            "--demo-gpus-per-host",
            "64",
            "--data-dir",
            str(data),
            "--http-port",
            "0",
            "--grpc-port",
            "0",
        ],
    )
    assert result.exit_code == 1
    assert "12,800,000" in result.output or "12800000" in result.output
    assert "memory" in result.output.lower()
    assert not data.exists()  # refused before anything was created


@pytest.mark.parametrize("flag", ["--demo-hosts", "--demo-gpus-per-host"])
def test_up_rejects_nonsense_sizes(flag: str) -> None:
    result = CliRunner().invoke(cli, ["up", flag, "0"])
    assert result.exit_code == 2
    assert "0 is not in the range x>=1" in result.output
