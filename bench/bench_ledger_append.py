"""Append throughput on SQLite and PostgreSQL: entries/s in calls of 500, median of 5 runs.

Usage: .venv/bin/python bench/bench_ledger_append.py [--entries N] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone

import _fleet

from sentinel.core.db import make_engine, migrate
from sentinel.core.ledger import EntryType, Ledger, LedgerRecord

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
CALL = 500


def _run(url: str, entries: int) -> float:
    """Entries/s appending ``entries`` records to a fresh ledger at ``url``."""
    engine = make_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    calls = [
        [
            LedgerRecord(EntryType.PROBE_RESULT, T0 + timedelta(milliseconds=i), "GPU-0", b"x" * 64)
            for i in range(first, first + CALL)
        ]
        for first in range(0, entries, CALL)
    ]
    began = time.perf_counter()
    for records in calls:
        ledger.append(records)
    elapsed = time.perf_counter() - began
    engine.dispose()
    return len(ledger) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--pg-url", default=_fleet.PG_URL)
    args = parser.parse_args()
    print(f"{'database':<12}{'median entries/s':>18}{'min':>12}{'max':>12}")
    for name in ("sqlite", "postgresql"):
        rates = []
        for _ in range(5):
            with _fleet.database(name, args.pg_url) as url:
                rates.append(_run(url, args.entries))
        print(
            f"{name:<12}{statistics.median(rates):>18,.0f}{min(rates):>12,.0f}{max(rates):>12,.0f}"
        )


if __name__ == "__main__":
    main()
