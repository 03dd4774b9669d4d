"""Time an exception costs the thread that raised it, with the SDK reporting it.

Raises a chained exception 12 frames deep ``--events`` times, one every ``--pace-ms``,
and times the SDK's work on the raising thread (what ``sys.excepthook`` or the middleware
runs before handing over): ``sentinel.capture`` snapshots and enqueues; the published
``sentinel_sdk`` formats, scrubs and submits to its executor there. Both deliver to a real
gateway (``sentinel serve --domains capture`` in its own process), so their sending
threads compete for the interpreter as in production. Prints p50, p99 and p99.9 in µs.

Usage: .venv/bin/python bench/bench_capture_overhead.py [--events N] [--pace-ms MS]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

GOAL_P99_US = 100.0


def deep(n: int, order_id: int) -> None:
    if n:
        deep(n - 1, order_id)
        return
    try:
        {}[order_id]
    except KeyError as exc:
        raise LookupError(f"order {order_id} of alice@example.com not found") from exc


def one_exception(i: int) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    try:
        deep(10, i)
    except LookupError as exc:
        return type(exc), exc, exc.__traceback__
    raise AssertionError("deep() did not raise")


def measure(work: Callable[..., object], events: int, pace_s: float) -> list[float]:
    took = []
    for i in range(events):
        info = one_exception(i)
        began = time.perf_counter_ns()
        work(*info)
        took.append((time.perf_counter_ns() - began) / 1000)
        time.sleep(pace_s)
    return sorted(took)


def quantile(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def start_gateway(tmp: str) -> tuple[subprocess.Popen[bytes], str, str]:
    from sentinel.core.db import make_engine, migrate
    from sentinel.core.identity import TokenStore

    url = f"sqlite:///{tmp}/sentinel.db"
    engine = make_engine(url)
    migrate(engine)
    key = TokenStore(engine).create("capture", repos=["acme/shop"])[1]
    engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
            tmp,
        ],
        env={
            **os.environ,
            "SENTINEL_CAPTURE_RATE_PER_SECOND": "1e9",
            "SENTINEL_CAPTURE_BURST": "1000000000",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/healthz")
            return server, base, key
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("the gateway did not start") from None
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--pace-ms", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, base, key = start_gateway(tmp)
        try:
            import sentinel.capture as ours
            from sentinel.capture import hook

            ours.configure(api_key=key, github_repo="acme/shop", gateway_url=base)
            rows = {
                "sentinel.capture": measure(
                    lambda t, e, tb: hook.report(t, e, tb, "bench"), args.events, args.pace_ms / 1e3
                )
            }
            ours.flush(60)
            stats = ours.stats()
            try:
                import sentinel_sdk
                from sentinel_sdk.hook import _dispatch_exception

                sentinel_sdk.configure(api_key=key, github_repo="acme/shop", gateway_url=base)
                rows["sentinel_sdk 1.0.0"] = measure(
                    lambda t, e, tb: _dispatch_exception(t, e, tb, "bench"),
                    args.events,
                    args.pace_ms / 1e3,
                )
                from sentinel_sdk.dispatcher import SyncDispatcher

                SyncDispatcher._get_executor().shutdown(wait=True)  # delivered before we stop
            except ImportError:
                print("sentinel-python-sdk is not installed: `pip install sentinel-python-sdk`")
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"{args.events} exceptions, one every {args.pace_ms} ms; ours delivered {stats.sent}, "
        f"dropped {stats.dropped} (queue full)"
    )
    print("| SDK | p50 µs | p99 µs | p99.9 µs |")
    print("|---|---|---|---|")
    for name, xs in rows.items():
        p50, p99, p999 = (quantile(xs, q) for q in (0.5, 0.99, 0.999))
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {p999:.1f} |")
    ours_p99 = quantile(rows["sentinel.capture"], 0.99)
    print(f"goal p99 < {GOAL_P99_US:.0f} µs: {'met' if ours_p99 < GOAL_P99_US else 'NOT met'}")


if __name__ == "__main__":
    main()
