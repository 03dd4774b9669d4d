"""The demo fleet's figures: time to quarantine the stuck-bit GPU, false quarantines over a run.

Runs ``sentinel up``'s server and demo fleet in this process (default 4 hosts × 8 GPUs,
faults at 45 s) for ``--minutes`` (default 30), then reads the transitions and
correlations back from the store:

* the stuck-bit GPU: seconds from the fault appearing to QUARANTINED, and that time in
  FMA probe periods                                                   target ≤ 3 periods
* false quarantines: GPUs no scenario touches that were ever QUARANTINED      target 0
  (and any of them that left HEALTHY at all)
* each scenario: the states its GPUs went through and the patterns found on them
* the process's CPU use, in % of one core

Usage: .venv/bin/python bench/bench_demo.py [--minutes 30] [--hosts 4] [--gpus-per-host 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

from sentinel.core.settings import ServerSettings  # noqa: E402
from sentinel.fleet.demo import DemoSpec  # noqa: E402
from sentinel.fleet.engine.enums import GpuState, Pattern  # noqa: E402
from sentinel.fleet.engine.store import CorrelationRow, TransitionRow  # noqa: E402
from sentinel.fleet.service import FleetSettings  # noqa: E402
from sentinel.server.up import Running, start  # noqa: E402


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--gpus-per-host", type=int, default=8)
    ap.add_argument("--fault-delay", type=float, default=45.0)
    args = ap.parse_args()
    spec = DemoSpec(
        hosts=args.hosts, gpus_per_host=args.gpus_per_host, fault_delay_s=args.fault_delay
    )
    print(f"# bench_demo: {_fleet.machine()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"{spec.gpus} GPUs ({args.hosts} hosts × {args.gpus_per_host}), {args.minutes:g} min")
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-demo-") as tmp:
        settings = ServerSettings(grpc_port=0, http_port=0, data_dir=Path(tmp), log_level="WARNING")
        cpu0, wall0 = _cpu_s(), time.monotonic()
        fleet = FleetSettings(demo=spec)
        settings = dataclasses.replace(settings, domain_settings={"fleet": fleet})
        running = start(settings, demo=True)
        try:
            deadline = wall0 + args.minutes * 60
            while time.monotonic() < deadline:
                time.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
                o = running.server.engine.state.fleet.count
                print(
                    f"  {int(time.monotonic() - wall0) // 60:3d} min: "
                    + ", ".join(f"{GpuState(s).name.lower()} {n}" for s, n in sorted(o.items()))
                    + f"; pending approvals {len(running.server.engine.pending)}",
                    flush=True,
                )
            cpu, wall = _cpu_s() - cpu0, time.monotonic() - wall0
            _report(running, cpu, wall)
        finally:
            running.stop()


def _report(running: Running, cpu: float, wall: float) -> None:
    fleet = running.demos["fleet"].fleet
    assert fleet is not None
    engine = running.server.engine
    with engine.db.connect() as conn:
        transitions = (
            conn.execute(select(TransitionRow.__table__).order_by(TransitionRow.ts_us))
            .mappings()
            .all()
        )
        correlations = conn.execute(select(CorrelationRow.__table__)).mappings().all()
    path: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for t in transitions:
        path[t["gpu_uuid"]].append((t["ts_us"] / 1e6, GpuState(t["to_state"]).name))
    patterns: dict[str, set[str]] = defaultdict(set)
    for c in correlations:
        patterns[c["gpu_uuid"] or ""].add(Pattern(c["pattern"]).name)

    fault_at = fleet.fault_started_at
    stuck = next(s for s in fleet.scenarios if s.key == "stuck_bit").gpu_uuids[0]
    quarantined = next((ts for ts, st in path[stuck] if st == "QUARANTINED"), None)
    print("\n| figure | value | target |\n| --- | --- | --- |")
    if fault_at is not None and quarantined is not None:
        secs = quarantined - fault_at
        print(
            f"| stuck-bit GPU: fault to QUARANTINED | {secs:.1f} s = "
            f"{secs / fleet.fma_period_s:.2f} FMA periods ({fleet.fma_period_s:g} s each) "
            "| ≤ 3 periods |"
        )
    else:
        print("| stuck-bit GPU: fault to QUARANTINED | never | ≤ 3 periods |")
    healthy = fleet.healthy_uuids
    false_q = sorted(u for u in healthy if any(st == "QUARANTINED" for _, st in path[u]))
    left = sorted(u for u in healthy if path[u])
    print(f"| false quarantines among {len(healthy)} untouched GPUs | {len(false_q)} | 0 |")
    print(f"| untouched GPUs that left HEALTHY at all | {len(left)} | 0 |")
    print(f"| CPU of the whole process (server + demo) | {100 * cpu / wall:.1f} % of one core | |")
    print("\n| scenario | GPUs | states passed through | patterns found on them |")
    print("| --- | --- | --- | --- |")
    for s in fleet.scenarios:
        states = sorted({st for u in s.gpu_uuids for _, st in path[u]})
        found = sorted({p for u in s.gpu_uuids for p in patterns[u]})
        print(
            f"| {s.key} | {len(s.gpu_uuids)} | {', '.join(states) or 'HEALTHY only'} | "
            f"{', '.join(found) or '—'} |"
        )
    every = {p for found in patterns.values() for p in found}
    missing = sorted({p.name for p in Pattern} - every)
    print(f"\npatterns found: {len(every)} of 6" + (f"; missing {missing}" if missing else ""))
    for u in left:
        print(f"  untouched GPU {u}: {path[u]}")


if __name__ == "__main__":
    main()
