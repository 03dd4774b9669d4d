"""What authorization costs: resolving a caller, and checking each report's host.

Measured in one process on a SQLite database, each figure the median of ``--repeats``:

* token resolution per call (``Authorizer._from_token``): an env-configured operator
  token (constant-time compares), a store token from the cache, a store token looked up
  in SQLite (cache cleared before each call), and an unknown token;
* the gateway's per-report host check (``AgentServicer._may_report``) on batches of 500
  reports of an agent's own GPUs, against the baseline of the engine applying the same
  batches (``submit_probe_results``, ledger on).

Usage: .venv/bin/python bench/bench_auth.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import _fleet  # noqa: E402

from sentinel.core.auth import Authorizer  # noqa: E402
from sentinel.core.db import make_engine, migrate  # noqa: E402
from sentinel.core.identity import TokenStore  # noqa: E402
from sentinel.fleet.engine.engine import FleetEngine  # noqa: E402
from sentinel.fleet.gateway import AgentServicer  # noqa: E402
from sentinel.v1 import agent_pb2, types_pb2  # noqa: E402

_CALLS = 5_000
_BATCH = 500
_BATCHES = 20


def _per_call_us(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(runs)


def _batches(uuids: list[str], tag: str) -> list[list[agent_pb2.ProbeReport]]:
    outcomes = bytes([types_pb2.PROBE_RESULT_PASS] * _fleet.H100_SMS)
    return [
        [
            agent_pb2.ProbeReport(
                report_id=f"{tag}-{b}-{i}",
                gpu_uuid=uuids[(b * _BATCH + i) % len(uuids)],
                probe_type=types_pb2.PROBE_TYPE_FMA,
                result=types_pb2.PROBE_RESULT_PASS,
                sm_outcomes=outcomes,
            )
            for i in range(_BATCH)
        ]
        for b in range(_BATCHES)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(_fleet.machine())
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-auth-") as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'sentinel.db'}")
        migrate(db)
        store = TokenStore(db)
        _, agent_token = store.create("agent", host="bench-host")
        auth = Authorizer(operator_tokens=["ops:env-operator-token"], store=store)
        header = f"Bearer {agent_token}"
        cases = {
            "env operator token": lambda: auth._from_token("Bearer env-operator-token"),
            "store token, cached": lambda: auth._from_token(header),
            "unknown token (cached miss)": lambda: auth._from_token("Bearer snt_agent_" + "x" * 43),
        }

        def uncached() -> Any:
            store._cache.clear()
            return auth._from_token(header)

        print(f"\ntoken resolution, median of {args.repeats} x {_CALLS:,} calls")
        for name, fn in cases.items():
            print(f"  {name:30s} {_per_call_us(fn, _CALLS, args.repeats):8.2f} us/call")
        lookup = _per_call_us(uncached, 500, args.repeats)
        print(f"  {'store token, SQLite lookup':30s} {lookup:8.2f} us/call")

        engine = FleetEngine(db)
        engine.start()
        try:
            uuids = [_fleet.gpu_uuid(i) for i in range(1000)]
            engine.register_gpus(
                "bench-host",
                [
                    (u, i % 8, _fleet.MODEL, "550", "96.00", _fleet.H100_SMS)
                    for i, u in enumerate(uuids)
                ],
            )
            servicer = AgentServicer(engine, auth, fanout=None)  # type: ignore[arg-type]
            who = store.lookup(agent_token).identity()  # type: ignore[union-attr]
            checks, applies = [], []
            for r in range(args.repeats):
                batches = _batches(uuids, f"r{r}")
                refused: list[str] = []
                t0 = time.perf_counter()
                kept = [[x for x in b if servicer._may_report(who, x, refused)] for b in batches]
                checks.append((time.perf_counter() - t0) / (_BATCH * _BATCHES) * 1e6)
                assert not refused
                assert sum(map(len, kept)) == _BATCH * _BATCHES
                t0 = time.perf_counter()
                for f in [engine.submit_probe_results(b) for b in batches]:
                    f.result()
                applies.append((time.perf_counter() - t0) / (_BATCH * _BATCHES) * 1e6)
        finally:
            engine.stop()
            db.dispose()
    check, apply = statistics.median(checks), statistics.median(applies)
    print(f"\nper report, median of {args.repeats} x {_BATCHES} batches of {_BATCH}")
    print(f"  host check (gateway)           {check:8.2f} us/report")
    print(f"  engine apply (baseline)        {apply:8.2f} us/report")
    print(f"  check / apply                  {check / apply:8.1%}")


if __name__ == "__main__":
    main()
