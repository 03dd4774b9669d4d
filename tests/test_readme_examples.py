"""The README's SDK quick start, run as written against a real server, so it cannot drift.

The block is read from README.md. Only its endpoint is replaced by the test server's
address; it runs in a subprocess from a directory whose ``data/operator-token`` holds the
server's operator token, as it does next to ``sentinel up``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sentinel_testing import OPERATOR_TOKEN, probe, register_host, start_server

from sentinel.fleet.engine.enums import GpuState

README = Path(__file__).resolve().parents[1] / "README.md"
ENDPOINT = "127.0.0.1:50051"


def _quick_start() -> str:
    text = README.read_text()
    section = text.split("\n## Quick start: SDK\n", 1)[-1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README.md has no ```python block under '## Quick start: SDK'"
    code = blocks[0]
    assert code.count(ENDPOINT) == 1, f"the quick start should connect to {ENDPOINT} once"
    return code


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    s = start_server(tmp_path)
    (tmp_path / "data" / "operator-token").write_text(OPERATOR_TOKEN + "\n")
    try:
        yield s
    finally:
        s.stop()


def _run(server: Any, cwd: Path) -> list[str]:
    code = _quick_start().replace(ENDPOINT, server.address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _states(server: Any, uuids: list[str]) -> list[GpuState]:
    return [GpuState(server.engine.state.gpus[u].state) for u in uuids]


def test_quick_start_quarantines_the_gpu_that_failed_probes(server: Any, tmp_path: Path) -> None:
    gpus = register_host(server.engine, "gpu-rack-01-node-01", 4)
    for uuid in gpus:
        probe(server.engine, uuid, n=5)
    probe(server.engine, gpus[2], failing_sm=7, n=2)  # below the automatic quarantine
    assert _states(server, gpus) == [GpuState.HEALTHY] * 4

    out = _run(server, tmp_path)

    assert out[0] == "Fleet: 4/4 healthy"
    assert out[1].startswith(f"{gpus[2]}: HEALTHY, reliability 0.9")
    assert out[2] == "  SM 7: 2 failures"
    assert out[-2] == "QUARANTINE accepted: True, now QUARANTINED"
    assert out[-1] == "Audit chain valid: True"
    assert _states(server, gpus) == [GpuState.HEALTHY] * 2 + [
        GpuState.QUARANTINED,
        GpuState.HEALTHY,
    ]
    reason = server.engine.state.gpus[gpus[2]].state_change_reason
    assert reason.startswith("2 failed probes, reliability 0.9")


def test_quick_start_leaves_a_healthy_fleet_alone(server: Any, tmp_path: Path) -> None:
    gpus = register_host(server.engine, "gpu-rack-01-node-01", 4)
    for uuid in gpus:
        probe(server.engine, uuid, n=5)
    # The first GPU listed is already out of service: the example must not pick it either.
    probe(server.engine, gpus[0], failing_sm=3, n=3)
    assert _states(server, gpus)[0] == GpuState.QUARANTINED

    out = _run(server, tmp_path)

    assert out[0] == "Fleet: 3/4 healthy"
    assert out[-2] == "Every GPU in service passes its probes; nothing to quarantine"
    assert out[-1] == "Audit chain valid: True"
    assert _states(server, gpus) == [GpuState.QUARANTINED] + [GpuState.HEALTHY] * 3
