"""The README's runs examples, run as written in a subprocess against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sentinel_testing import start_server

from sentinel.runs._demo import synthetic_csv

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(heading: str) -> list[str]:
    section = README.read_text().split(f"\n{heading}\n", 1)[-1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _run(code: str, cwd: Path, server: Any, token: str) -> str:
    env = {**os.environ, "SENTINEL_API_URL": server.http_url, "SENTINEL_API_TOKEN": token}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_runs_examples_run_as_written(tmp_path: Path) -> None:
    server = start_server(tmp_path, domains=("runs",))
    try:
        _check(server, tmp_path)
    finally:
        server.stop()


def _check(server: Any, tmp_path: Path) -> None:
    token = server.tokens.create("runs", name="readme")[1]
    inline, tracker = _blocks("## Runs: resource tracking (seed 001)")
    csv = synthetic_csv(300, cores=3.0, memory_mib=2048, gpus=0, start=time.time() - 300, seed=4)
    (tmp_path / "metrics.csv").write_text(csv)

    out = _run(inline, tmp_path, server, token)
    assert "p95 CPU use was" in out and "rounded up to" in out

    out = _run(tracker, tmp_path, server, token)
    url, core_hours = out.split()
    assert url.startswith(f"{server.http_url}/runs/")
    assert float(core_hours) > 0
    finished, _ = server.runs.store.search(status="finished")
    assert len(finished) == 2
