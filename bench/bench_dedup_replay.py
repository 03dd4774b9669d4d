"""Replaying acknowledged reports after a restart: how many are applied twice.

Ingests ``--reports`` probe reports (batches of 500) into an engine, stops it, starts a
new engine on the same database (its in-memory window empty) and replays every report.
Exact duplicate detection answers every replayed report as a duplicate; the table shows
how many were applied twice (must be 0) and the rates of both passes.

Usage: .venv/bin/python bench/bench_dedup_replay.py [--reports N] [--database both]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

from sentinel.core.db import make_engine, migrate  # noqa: E402
from sentinel.fleet.engine.engine import FleetEngine  # noqa: E402

BATCH = 500


def _send(engine: FleetEngine, batches: list[Any]) -> tuple[int, int, float]:
    """(accepted, duplicates, reports/s) with 8 batches in flight."""
    accepted = duplicates = 0
    began = time.perf_counter()
    window: list[Any] = []
    for batch in batches:
        window.append(engine.submit_probe_results(list(batch.reports)))
        if len(window) >= 8:
            ack = window.pop(0).result()
            accepted, duplicates = accepted + ack.accepted, duplicates + ack.duplicates
    for fut in window:
        ack = fut.result()
        accepted, duplicates = accepted + ack.accepted, duplicates + ack.duplicates
    return accepted, duplicates, len(batches) * BATCH / (time.perf_counter() - began)


def bench(kind: str, reports: int, gpus: int) -> dict[str, Any]:
    with _fleet.database(kind) as url:
        db = make_engine(url)
        migrate(db)
        hosts = _fleet.fleet(gpus, max(1, gpus // 8))
        uuids = [u for us in hosts.values() for u in us]
        batches = _fleet.make_batches(uuids, -(-reports // BATCH), BATCH, seed=1)
        engine = FleetEngine(db)
        engine.start()
        _fleet.register(engine, hosts)
        first = _send(engine, batches)
        engine.stop()
        engine = FleetEngine(db)
        engine.start()
        replay = _send(engine, batches)
        passes = sum(g.probe_pass_count + g.probe_fail_count for g in engine.state.gpus.values())
        engine.stop()
        db.dispose()
    return {"db": kind, "first": first, "replay": replay, "counted": passes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=155_500)
    parser.add_argument("--gpus", type=int, default=1_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True
    )
    print(
        f"{'database':<12}{'reports':>9}{'first pass/s':>14}{'replay dup':>12}"
        f"{'replay/s':>10}{'applied twice':>15}"
    )
    for kind in kinds:
        r = bench(kind, args.reports, args.gpus)
        accepted, _, rate = r["first"]
        _, dups, replay_rate = r["replay"]
        print(
            f"{kind:<12}{accepted:>9,}{rate:>14,.0f}{dups:>12,}{replay_rate:>10,.0f}"
            f"{r['counted'] - accepted:>15,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
