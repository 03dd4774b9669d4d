"""Exception gateway throughput: events/s one server process stores, on SQLite and PostgreSQL.

Starts ``sentinel serve --domains capture`` in its own process (the per-key rate limit
lifted), then ``--clients`` load processes post realistic events (2 KB tracebacks over
50 fingerprints, with emails and card numbers to scrub) with ``--concurrency`` requests in
flight each, for ``--seconds``. Counts only 202 answers (each one stored: the gateway
answers after the commit) and prints events/s per database.

Usage: .venv/bin/python bench/bench_capture_gateway.py [--seconds S] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TRACE = """Traceback (most recent call last):
  File "/srv/shop/app/api.py", line {line}, in handle
    return view(request)
  File "/srv/shop/app/orders.py", line {line2}, in {fn}
    order = repository.load(order_id, owner="{email}")
  File "/usr/lib/python3.11/site-packages/sqlalchemy/orm/session.py", line 1821, in execute
    result = conn._execute_20(statement, params)
{pad}
{kind}: order {order} of {email} paid with {card} not found
"""


def body(i: int) -> bytes:
    kind = f"shop.errors.E{i % 50}"
    return json.dumps(
        {
            "exceptionType": kind,
            "errorMessage": f"order {i} of user{i}@example.com paid with 4111 1111 1111 1111",
            "stackTrace": TRACE.format(
                line=i % 300,
                line2=i % 97,
                fn=f"step_{i % 50}",
                email=f"user{i}@example.com",
                order=i,
                card="4111-1111-1111-1111",
                kind=kind,
                pad="    " + "x" * 1200,
            ),
            "endpoint": "/api/orders/{order_id}",
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "githubRepo": "acme/shop",
            "language": "python",
        }
    ).encode()


async def _connection(host: str, port: int, requests: list[bytes], deadline: float) -> int:
    """One keep-alive connection posting ``requests`` in turn until ``deadline``; 202s."""
    reader, writer = await asyncio.open_connection(host, port)
    accepted = i = 0
    try:
        while time.monotonic() < deadline:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
            await reader.readexactly(length)
            accepted += head.startswith(b"HTTP/1.1 202")
    finally:
        writer.close()
    return accepted


async def _load(url: str, key: str, seconds: float, concurrency: int, seed: int) -> int:
    # A raw HTTP/1.1 client: an HTTP library costs the load process more than the server.
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    requests = [
        b"POST /api/v1/exceptions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (host.encode(), key.encode(), len(b), b)
        for b in (body(seed * 10_000 + i) for i in range(500))
    ]
    deadline = time.monotonic() + seconds
    share = [requests[n::concurrency] for n in range(concurrency)]
    done = await asyncio.gather(*(_connection(host, int(port), r, deadline) for r in share))
    return sum(done)


def load(args: tuple[str, str, float, int, int]) -> int:
    return asyncio.run(_load(*args))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(database_url: str, data_dir: Path, seconds: float, clients: int, concurrency: int) -> float:
    from sentinel.core.db import make_engine, migrate
    from sentinel.core.identity import TokenStore

    engine = make_engine(database_url)
    migrate(engine)
    key = TokenStore(engine).create("capture", repos=["acme/shop"])[1]
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "SENTINEL_CAPTURE_RATE_PER_SECOND": "1e9",
        "SENTINEL_CAPTURE_BURST": "1000000000",
        "SENTINEL_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("sentinel")),
            "serve",
            "--domains",
            "capture",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz").status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        url = base + "/api/v1/exceptions"
        load((url, key, 2.0, concurrency, 99))  # warm up
        began = time.monotonic()
        with multiprocessing.Pool(clients) as pool:
            counts = pool.map(load, [(url, key, seconds, concurrency, c) for c in range(clients)])
        elapsed = time.monotonic() - began
        stored = httpx.get(base + "/api/v1/capture/issues", params={"status": ""}).json()
        assert stored["total"] == 50, stored["total"]
        return sum(counts) / elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg", default=os.environ.get("SENTINEL_TEST_PG_URL", PG))
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.clients} load processes x {args.concurrency} in flight")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run(
            f"sqlite:///{tmp}/sentinel.db", Path(tmp), args.seconds, args.clients, args.concurrency
        )
        print(f"| SQLite | {sqlite:,.0f} events/s |")
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    raw = args.pg.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
            pg = run(url, Path(tmp), args.seconds, args.clients, args.concurrency)
            print(f"| PostgreSQL | {pg:,.0f} events/s |")
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
