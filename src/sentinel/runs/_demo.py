"""The runs part of ``sentinel up``: a few realistic runs registered and finished over HTTP.

Each run goes through the same routes a tracker uses (register, upload or inline finish),
with a token of scope ``runs`` issued for the demo. Training runs name GPUs the fleet
demo registered (read from the fleet's public ``/api/v1/gpus``), so their pages link to
the fleet and the fleet's GPU pages list them.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

from sentinel.core.domain import Demo
from sentinel.core.identity import TokenStore

log = logging.getLogger(__name__)

COLUMNS = (
    "timestamp",
    "process_pid",
    "process_children",
    "process_utime",
    "process_stime",
    "process_cpu_usage",
    "process_memory_mib",
    "process_disk_read_bytes",
    "process_disk_write_bytes",
    "process_gpu_usage",
    "process_gpu_vram_mib",
    "process_gpu_utilized",
    "system_processes",
    "system_utime",
    "system_stime",
    "system_cpu_usage",
    "system_memory_free_mib",
    "system_memory_used_mib",
    "system_memory_buffers_mib",
    "system_memory_cached_mib",
    "system_memory_active_mib",
    "system_memory_inactive_mib",
    "system_disk_read_bytes",
    "system_disk_write_bytes",
    "system_disk_space_total_gb",
    "system_disk_space_used_gb",
    "system_disk_space_free_gb",
    "system_net_recv_bytes",
    "system_net_sent_bytes",
    "system_gpu_usage",
    "system_gpu_vram_mib",
    "system_gpu_utilized",
)
"""resource-tracker's combined CSV columns."""


def synthetic_csv(
    seconds: int, *, cores: float, memory_mib: float, gpus: int, start: float, seed: int
) -> str:
    """A plausible run: a warm-up, a busy phase with noise, and an idle tail."""
    rng = random.Random(seed)
    lines = [",".join(f'"{c}"' for c in COLUMNS)]
    for i in range(seconds):
        phase = min(1.0, i / max(seconds * 0.1, 1)) * (0.15 if i > seconds * 0.9 else 1.0)
        cpu = max(0.0, cores * phase * (0.8 + 0.2 * math.sin(i / 30)) + rng.gauss(0, 0.1))
        mem = memory_mib * (0.3 + 0.7 * min(1.0, i / max(seconds * 0.3, 1)))
        gpu = gpus * phase * (0.85 + rng.uniform(-0.1, 0.1)) if gpus else 0.0
        vram = gpus * 61_000 * min(1.0, phase * 1.2) if gpus else 0.0
        read = rng.randint(0, 40_000_000) if i < seconds * 0.2 else rng.randint(0, 200_000)
        write = 80_000_000 if gpus and i % 300 == 299 else rng.randint(0, 100_000)
        row = (
            start + i,
            4242,
            3 + gpus,
            cpu * 0.9,
            cpu * 0.1,
            cpu,
            mem,
            read,
            write,
            gpu,
            vram,
            gpus if gpu > 0.01 else 0,
            412,
            cpu + 0.3,
            0.2,
            cpu + 0.5,
            256_000 - mem - 20_000,
            mem + 20_000,
            900,
            30_000,
            mem + 15_000,
            8_000,
            read + 5_000,
            write + 20_000,
            2_000,
            640,
            1_360,
            rng.randint(1_000, 90_000_000) if i < seconds * 0.2 else rng.randint(0, 50_000),
            rng.randint(1_000, 200_000),
            gpu,
            vram + (2_000 if gpus else 0),
            gpus if gpu > 0.01 else 0,
        )
        cells = (f"{v:.6g}" if isinstance(v, float) else str(v) for v in row[1:])
        lines.append(f"{row[0]:.3f}," + ",".join(cells))
    return "\n".join(lines) + "\n"


RUNS: Sequence[dict[str, Any]] = (
    {
        "meta": {
            "project_name": "llm-finetune",
            "job_name": "sft-7b",
            "team": "research",
            "command": '["torchrun", "--nproc-per-node=2", "train.py", "--epochs", "3"]',
            "tags": {"model": "7b", "dataset": "chat-v2"},
        },
        "csv": {"seconds": 1800, "cores": 6.0, "memory_mib": 48_000, "gpus": 2},
        "status": "finished",
        "exit_code": 0,
        "gpus": 2,
    },
    {
        "meta": {
            "project_name": "llm-finetune",
            "job_name": "eval-7b",
            "team": "research",
            "command": '["python", "eval.py", "--suite", "mmlu"]',
        },
        "csv": {"seconds": 600, "cores": 2.0, "memory_mib": 22_000, "gpus": 1},
        "status": "finished",
        "exit_code": 0,
        "gpus": 1,
    },
    {
        "meta": {
            "project_name": "etl",
            "job_name": "nightly-features",
            "team": "data",
            "command": '["python", "-m", "etl.features", "--date", "yesterday"]',
            "orchestrator": "airflow",
        },
        "csv": {"seconds": 900, "cores": 14.0, "memory_mib": 9_000, "gpus": 0},
        "status": "finished",
        "exit_code": 0,
        "gpus": 0,
    },
    {
        "meta": {
            "project_name": "etl",
            "job_name": "backfill",
            "team": "data",
            "command": '["python", "-m", "etl.backfill", "--month", "2024-11"]',
        },
        "csv": {"seconds": 240, "cores": 1.0, "memory_mib": 30_000, "gpus": 0},
        "status": "failed",
        "exit_code": 137,
        "gpus": 0,
    },
)
"""The demo's runs: a GPU training job and its evaluation, a CPU-bound ETL job, an OOM kill."""


class RunsDemo(Demo):
    """Registers and finishes :data:`RUNS` against a started server, once."""

    def __init__(self, http_url: str, tokens: TokenStore) -> None:
        self._url = http_url.rstrip("/")
        self._tokens = tokens
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runs-demo", daemon=True)
        self.finished: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def describe(self) -> Sequence[str]:
        return (f"runs: {len(RUNS)} demo runs at {self._url}/runs",)

    def _post(self, path: str, token: str, payload: dict[str, Any], gz: bool = False) -> Any:
        body = json.dumps(payload).encode()
        req = Request(self._url + path, data=gzip.compress(body) if gz else body, method="POST")
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Content-Type", "application/json")
        if gz:
            req.add_header("Content-Encoding", "gzip")
        with urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def _gpus(self) -> list[str]:
        """UUIDs of GPUs the fleet demo registered; waits a little for them to appear."""
        for _ in range(20):
            try:
                with urlopen(f"{self._url}/api/v1/gpus?limit=8", timeout=5) as resp:
                    rows = json.loads(resp.read()).get("rows", [])
                if rows:
                    return [r["uuid"] for r in rows]
            except (URLError, OSError, ValueError):
                pass
            if self._stop.wait(0.5):
                break
        return []

    def _run(self) -> None:
        try:
            _, token = self._tokens.create("runs", name="runs-demo")
            gpus = self._gpus()
            now = time.time()
            for n, spec in enumerate(RUNS):
                if self._stop.is_set():
                    return
                meta = dict(spec["meta"])
                if spec["gpus"] and gpus:
                    meta["host_gpu_uuids"] = gpus[n % 2 : n % 2 + spec["gpus"]]
                meta.update(
                    {"host_name": "demo-node-1", "host_vcpus": 32, "host_memory_mib": 256_000}
                )
                run = self._post("/runs", token, meta)
                seconds = spec["csv"]["seconds"]
                csv = synthetic_csv(
                    start=now - seconds - 600 * (len(RUNS) - n), seed=n, **spec["csv"]
                )
                result = self._post(
                    f"/runs/{run['run_id']}/finish",
                    token,
                    {
                        "exit_code": spec["exit_code"],
                        "run_status": spec["status"],
                        "data_source": "inline",
                        "data_csv": csv,
                    },
                    gz=True,
                )
                self.finished.append(result["run_id"])
        except Exception:  # the demo must never take the server down
            log.exception("the runs demo stopped")
