"""Ingestion while chain verifications run: the cost of VerifyChain for everyone else.

Starts a real server (SQLite) whose ledger is pre-filled with ``--entries`` entries,
registers ``--gpus`` GPUs, and measures probe-report ingestion (``submit_probe_results``
with 8 batches of 500 in flight) for ``--seconds``: first alone, then while ``--callers``
threads call VerifyChain over gRPC (an operator's token; default request: no range)
back to back. Each phase runs ``--runs`` times; the table shows the median reports/s,
the ratio to ingestion alone, and how many verifications finished.

Usage: .venv/bin/python bench/bench_verify_load.py [--entries N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

from sentinel.core.ledger import EntryType, LedgerRecord  # noqa: E402
from sentinel.v1 import fleet_pb2, fleet_pb2_grpc  # noqa: E402

TOKEN = "bench-operator-token"
BATCH = 500


def _prefill(ledger: Any, entries: int) -> float:
    """Append ``entries`` probe-sized entries straight to the ledger; seconds taken."""
    began = time.perf_counter()
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    data = bytes(200)
    for first in range(0, entries, 5000):
        n = min(5000, entries - first)
        ledger.append(
            [
                LedgerRecord(
                    EntryType.PROBE_RESULT,
                    t0 + timedelta(milliseconds=first + i),
                    _fleet.gpu_uuid(i % 1000),
                    data,
                )
                for i in range(n)
            ]
        )
    return time.perf_counter() - began


def _ingest(engine: Any, batches: list[Any], seconds: float) -> float:
    """Reports/s with 8 batches in flight for ``seconds``."""
    window: list[Any] = []
    accepted = 0
    began = time.perf_counter()
    it = iter(batches)
    while time.perf_counter() - began < seconds:
        while len(window) < 8:
            window.append(engine.submit_probe_results(list(next(it).reports)))
        accepted += window.pop(0).result().accepted
    for fut in window:
        accepted += fut.result().accepted
    return accepted / (time.perf_counter() - began)


def _verifiers(
    address: str, callers: int, stop: threading.Event
) -> tuple[list[int], list[threading.Thread]]:
    """Start ``callers`` threads calling VerifyChain until ``stop``; counts per thread."""
    done = [0] * callers

    def loop(k: int) -> None:
        with grpc.insecure_channel(address) as channel:
            api = fleet_pb2_grpc.FleetServiceStub(channel)
            while not stop.is_set():
                result = api.VerifyChain(
                    fleet_pb2.VerifyChainRequest(verify_merkle_roots=True),
                    metadata=[("authorization", f"Bearer {TOKEN}")],
                    timeout=600,
                )
                assert result.valid, result.failure_description
                done[k] += 1

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(callers)]
    for t in threads:
        t.start()
    return done, threads


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--gpus", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from sentinel.core.settings import ServerSettings
    from sentinel.server.app import SentinelServer

    print(
        f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        settings = ServerSettings(
            grpc_port=0,
            http_port=0,
            data_dir=Path(tmp) / "data",
            operator_tokens=(f"bench:{TOKEN}",),
        )
        srv = SentinelServer(settings).start()
        try:
            built = _prefill(srv.engine.ledger, args.entries)
            hosts = _fleet.fleet(args.gpus, max(1, args.gpus // 8))
            uuids = [u for us in hosts.values() for u in us]
            _fleet.register(srv.engine, hosts)
            print(f"ledger of {len(srv.engine.ledger):,} entries built in {built:.1f} s")
            time.sleep(2)  # let a checkpoint publisher (where there is one) sign the head
            n = int(args.seconds * 40_000 / BATCH) + 8
            seed = 0
            alone, loaded, verifies = [], [], []
            for _ in range(args.runs):
                seed += 1
                alone.append(
                    _ingest(
                        srv.engine, _fleet.make_batches(uuids, n, BATCH, seed=seed), args.seconds
                    )
                )
                seed += 1
                batches = _fleet.make_batches(uuids, n, BATCH, seed=seed)
                stop = threading.Event()
                done, threads = _verifiers(srv.address, args.callers, stop)
                loaded.append(_ingest(srv.engine, batches, args.seconds))
                stop.set()
                verifies.append(sum(done))
                for t in threads:  # calls in flight finish before the next phase
                    t.join()
                print(
                    f"alone {alone[-1]:,.0f} reports/s; with {args.callers} verifying callers "
                    f"{loaded[-1]:,.0f} reports/s, {verifies[-1]} verifications finished",
                    flush=True,
                )
        finally:
            srv.stop()
    a, b = _fleet.median(alone), _fleet.median(loaded)
    print()
    print(f"{'phase':<28}{'reports/s':>12}{'ratio':>8}{'verifies':>10}")
    print(f"{'ingestion alone':<28}{a:>12,.0f}{1:>8.2f}{'':>10}")
    label = f"with {args.callers} VerifyChain callers"
    print(f"{label:<28}{b:>12,.0f}{b / a:>8.2f}{_fleet.median(verifies):>10.0f}")


if __name__ == "__main__":
    main()
