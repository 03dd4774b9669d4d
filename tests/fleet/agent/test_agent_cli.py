"""``sentinel agent`` from the shell: the GPU default fails clearly here; the CPU backend runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sentinel_testing import agent_token

from sentinel._cli.agent import agent
from sentinel.fleet.agent import NO_GPU_MESSAGE


def test_gpu_backend_without_nvml_exits_with_what_to_install(tmp_path: Path) -> None:
    result = CliRunner().invoke(agent, ["--data-dir", str(tmp_path), "--engine", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert NO_GPU_MESSAGE in result.output
    assert not list(tmp_path.iterdir()), "nothing is written before a device is found"


def test_cpu_backend_registers_and_stops_on_sigterm(
    fleet_server: Any, tmp_path: Path, wait_for: Any
) -> None:
    main = "from sentinel._cli.agent import agent; agent()"
    args = ["--engine", fleet_server.address, "--backend", "cpu", "--cpu-devices", "2"]
    args += ["--cpu-sms", "4", "--data-dir", str(tmp_path / "a"), "--hostname", "cli-host"]
    args += ["--token", agent_token(fleet_server, "cli-host")]
    proc = subprocess.Popen(
        [sys.executable, "-c", main, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SENTINEL_LOG_LEVEL": "INFO"},
    )
    try:
        wait_for(lambda: len(list(fleet_server.engine.gpus_of("cli-host"))) == 2, "registration")
        assert fleet_server.engine.active_agents() == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "agent for cli-host stopped" in out
