"""Verify-chain throughput: median of 5 full verifications, against raw hashlib.sha256.

Usage: .venv/bin/python bench/bench_verify_chain.py [--entries N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from sentinel.core.db import make_engine, migrate
from sentinel.core.ledger import EntryType, Ledger, LedgerRecord, StoredEntry, canonical_bytes

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
GPUS = [f"GPU-{i:08x}-0000-0000-0000-000000000000" for i in range(64)]


def _records(first: int, count: int) -> list[LedgerRecord]:
    return [
        LedgerRecord(
            EntryType.PROBE_RESULT,
            T0 + timedelta(milliseconds=i),
            GPUS[i % len(GPUS)],
            b'{"probe":"matmul","passed":true,"ms":%d}' % (i % 997),
        )
        for i in range(first, first + count)
    ]


def _raw_sha256_seconds(ledger: Ledger) -> float:
    """One hashlib.sha256 per entry over the same previous_hash + canonical bytes."""
    payloads = [
        e.previous_hash
        + canonical_bytes(
            e.entry_id,
            e.entry_type,
            (e.timestamp - EPOCH) // timedelta(microseconds=1),
            e.gpu_uuid,
            e.data,
        )
        for e in _all_entries(ledger)
    ]
    began = time.perf_counter()
    sha = hashlib.sha256
    for p in payloads:
        sha(p).digest()
    return time.perf_counter() - began


def _all_entries(ledger: Ledger) -> Iterator[StoredEntry]:
    token = ""
    while True:
        page, token, _ = ledger.query(limit=1000, page_token=token)
        yield from page
        if not token:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        migrate(engine)
        ledger = Ledger(engine)
        began = time.perf_counter()
        for first in range(len(ledger) + 1, args.entries + 1, 5000):
            ledger.append(_records(first, min(5000, args.entries - first + 1)))
        print(f"built {len(ledger):,} entries in {time.perf_counter() - began:.1f} s")
        raw = _raw_sha256_seconds(ledger)
        print(f"{'mode':<14}{'median s':>10}{'entries/s':>14}{'x raw sha256':>14}")
        for merkle in (True, False):
            times = []
            for _ in range(5):
                result = ledger.verify(verify_merkle_roots=merkle)
                assert result.valid, result.failure_description
                times.append(result.verification_time_ms / 1000)
            median = statistics.median(times)
            mode = "merkle on" if merkle else "merkle off"
            print(f"{mode:<14}{median:>10.3f}{len(ledger) / median:>14,.0f}{median / raw:>14.2f}")
        print(f"{'raw sha256':<14}{raw:>10.3f}{len(ledger) / raw:>14,.0f}{1:>14.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
