"""Run registration latency: ``POST /runs`` on a real server, on SQLite and PostgreSQL.

Starts ``sentinel serve --domains runs`` in a process of its own (local object store),
issues a token of scope ``runs`` and registers ``--runs`` runs one after another over one
keep-alive connection, each with a realistic body (metadata, host and cloud fields, two
GPU UUIDs). Prints p50, p99 and max per database; the goal is p99 < 10 ms. PostgreSQL is
the local server of ``SENTINEL_TEST_PG_URL`` (a fresh schema, dropped afterwards).

Usage: .venv/bin/python bench/bench_runs_register.py [--runs N] [--skip-postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sentinel.core.db import make_engine, migrate
from sentinel.core.identity import TokenStore

PG_URL = os.environ.get("SENTINEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BODY = {
    "project_name": "bench",
    "job_name": "register",
    "command": json.dumps(["python", "train.py", "--epochs", "10"]),
    "pid": 4242,
    "tags": {"team": "ml", "dataset": "v2"},
    "host_vcpus": 32,
    "host_memory_mib": 256000,
    "host_gpu_uuids": [f"GPU-{uuid.UUID(int=i)}" for i in (1, 2)],
    "cloud_vendor_id": "aws",
    "cloud_instance_type": "g5.12xlarge",
}


@contextmanager
def postgres_schema() -> Iterator[str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    raw = PG_URL.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(database_url: str, runs: int) -> list[float]:
    """Milliseconds of each registration (after 200 warm-up calls)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/sentinel.db"
        engine = make_engine(url)
        migrate(engine)
        token = TokenStore(engine).create("runs", name="bench")[1]
        engine.dispose()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "SENTINEL_DATABASE_URL": url,
            "SENTINEL_DATA_DIR": tmp,
            "SENTINEL_HTTP_PORT": str(port),
            "SENTINEL_GRPC_PORT": "0",
            "SENTINEL_DOMAINS": "runs",
            "SENTINEL_LOG_LEVEL": "WARNING",
        }
        sentinel = Path(sys.executable).parent / "sentinel"
        server = subprocess.Popen([str(sentinel), "serve"], env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("sentinel serve did not start")
                time.sleep(0.1)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = json.dumps(BODY).encode()
            times = []
            for i in range(runs + 200):
                began = time.perf_counter()
                conn.request("POST", "/runs", body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                elapsed = (time.perf_counter() - began) * 1000
                if answer.status != 201:
                    raise SystemExit(f"register answered {answer.status}")
                if i >= 200:
                    times.append(elapsed)
            conn.close()
            return times
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--skip-postgresql", action="store_true")
    args = parser.parse_args()
    print(f"# register latency, {args.runs} runs, {platform.node()}, {time.strftime('%Y-%m-%d')}")  # noqa: T201
    print("| database | p50 ms | p99 ms | max ms | goal p99 < 10 ms |")  # noqa: T201
    print("| --- | ---: | ---: | ---: | --- |")  # noqa: T201
    targets = [("SQLite", "")]
    if not args.skip_postgresql:
        targets.append(("PostgreSQL", "postgresql"))
    for name, kind in targets:
        if kind:
            with postgres_schema() as url:
                times = measure(url, args.runs)
        else:
            times = measure("", args.runs)
        q = statistics.quantiles(times, n=100)
        ok = "met" if q[98] < 10 else "MISSED"
        print(f"| {name} | {q[49]:.2f} | {q[98]:.2f} | {max(times):.2f} | {ok} |")  # noqa: T201


if __name__ == "__main__":
    main()
