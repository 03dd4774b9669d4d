"""Shared helpers of the fleet benchmarks: throwaway databases, a synthetic fleet, reports."""

from __future__ import annotations

import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from sentinel.v1 import agent_pb2

PG_URL = os.environ.get("SENTINEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
H100_SMS = 132
MODEL = "NVIDIA H100 80GB HBM3"
OPERATOR_TOKEN = "bench-operator-token"
"""The operator token of the ``server`` helper's servers (operator-only HTTP calls)."""

# The default probe schedule (engine.default_config): probe type -> period in seconds.
SCHEDULE = {1: 60, 2: 120, 3: 300, 4: 300, 5: 900, 6: 600, 7: 600}


def required_rate(gpus: int) -> float:
    """Probe reports/s a fleet of ``gpus`` sends at the default schedule."""
    return gpus * sum(1.0 / p for p in SCHEDULE.values())


@contextmanager
def database(kind: str, pg_url: str = PG_URL) -> Iterator[str]:
    """A fresh database URL: a SQLite file in a temp dir, or a new schema at ``pg_url``."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    raw = pg_url.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def server(url: str, domains: tuple[str, ...] = ()) -> Iterator[Any]:
    """A real Sentinel server (gRPC + HTTP on free ports) on ``url``, hosting ``domains``
    (default: every installed one)."""
    from sentinel.core.settings import ServerSettings
    from sentinel.server.app import SentinelServer

    with tempfile.TemporaryDirectory(prefix="sentinel-bench-data-") as tmp:
        settings = ServerSettings(
            grpc_port=0,
            http_port=0,
            data_dir=Path(tmp) / "data",
            database_url=url,
            operator_tokens=(f"bench:{OPERATOR_TOKEN}",),
            domains=domains,
        )
        srv = SentinelServer(settings).start()
        try:
            yield srv
        finally:
            srv.stop()


def gpu_uuid(i: int) -> str:
    h = f"{i:032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def host_of(i: int, per_host: int) -> str:
    return f"node-{i // per_host:05d}"


def fleet(gpus: int, hosts: int) -> dict[str, list[str]]:
    """hostname -> GPU uuids, ``gpus`` spread over about ``hosts`` hosts."""
    per_host = max(1, -(-gpus // hosts))
    out: dict[str, list[str]] = {}
    for i in range(gpus):
        out.setdefault(host_of(i, per_host), []).append(gpu_uuid(i))
    return out


def register(engine: Any, hosts: dict[str, list[str]], threads: int = 8) -> float:
    """Register every host's GPUs (several hosts in flight so the writer batches); seconds."""

    def one(item: tuple[str, list[str]]) -> None:
        host, uuids = item
        engine.register_gpus(
            host,
            [(u, k, MODEL, "550.54.15", "96.00.89.00.01", H100_SMS) for k, u in enumerate(uuids)],
        )

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, hosts.items()))
    return time.perf_counter() - began


_ALL_PASS = bytes([1]) * H100_SMS


def make_batches(
    uuids: list[str],
    n_batches: int,
    size: int,
    *,
    seed: int,
    fail_ratio: float = 0.001,
    tag: str = "r",
    at: float | None = None,
) -> list[agent_pb2.ProbeReportBatch]:
    """``n_batches`` batches of ``size`` unique reports over ``uuids`` (round robin), stamped
    ``at`` (epoch seconds; default now)."""
    rng = random.Random(seed)
    now = time.time() if at is None else at
    secs, nanos = int(now), int((now % 1) * 1e9)
    out = []
    k = rng.randrange(len(uuids))
    for b in range(n_batches):
        batch = agent_pb2.ProbeReportBatch(agent_id="bench")
        for j in range(size):
            fail = rng.random() < fail_ratio
            if fail:
                sm = bytearray(_ALL_PASS)
                sm[rng.randrange(H100_SMS)] = 2
                outcomes = bytes(sm)
            else:
                outcomes = _ALL_PASS
            r = batch.reports.add(
                report_id=f"{tag}-{seed}-{b}-{j}",
                gpu_uuid=uuids[k % len(uuids)],
                probe_type=1 + (k + j) % 7,
                result=2 if fail else 1,
                duration_us=1200,
                sm_outcomes=outcomes,
            )
            r.timestamp.seconds, r.timestamp.nanos = secs, nanos
            k += 1
        out.append(batch)
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
