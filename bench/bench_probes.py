"""Probe quality on the CPU backend: false failures, detection of a stuck bit, time per probe.

Usage: .venv/bin/python bench/bench_probes.py [--runs N] [--periods N] [--sm-count N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sentinel.fleet.probes import CpuBackend, FaultSpec
from sentinel.fleet.types import ProbeResult, ProbeType

PROBES = list(ProbeType)[1:]


def false_failures(runs: int, sm_count: int) -> tuple[int, int]:
    """(non-PASS outcomes, runs) over healthy devices; every 20th run deep, a third at 25%."""
    backend = CpuBackend(4, sm_count, hostname="bench")
    bad = 0
    for i in range(runs):
        outcome = backend.run(
            i % 4,
            PROBES[i % len(PROBES)],
            sm_coverage=0.25 if i % 3 == 0 else 1.0,
            deep=i % 20 == 0,
        )
        bad += outcome.result != ProbeResult.PASS
    return bad, runs


def detection(periods: int, sm_count: int) -> float:
    """Fraction of FMA periods (full coverage) that fail on exactly the SM with a stuck bit."""
    backend = CpuBackend(1, sm_count, hostname="bench")
    hits = 0
    for period in range(periods):
        backend.clear_faults(0)
        sm, bit = period % sm_count, period % 32
        backend.inject(0, FaultSpec("stuck_bit", sm_id=sm, bit=bit))
        outcome = backend.run(0, ProbeType.FMA, sm_coverage=1.0)
        hits += outcome.result == ProbeResult.FAIL and [d.sm_id for d in outcome.details] == [sm]
    return hits / periods


def wall_ms(probe: ProbeType, deep: bool, sm_count: int, repeats: int) -> float:
    """Median wall time of one run, after a warm-up run that establishes the golden."""
    backend = CpuBackend(1, sm_count, hostname="bench")
    backend.run(0, probe, deep=deep)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        backend.run(0, probe, deep=deep)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--periods", type=int, default=1_000)
    parser.add_argument("--sm-count", type=int, default=16)
    args = parser.parse_args()

    began = time.perf_counter()
    bad, runs = false_failures(args.runs, args.sm_count)
    print(
        f"healthy runs: {runs}, false failures: {bad} (target 0), "
        f"{time.perf_counter() - began:.1f} s"
    )
    rate = detection(args.periods, args.sm_count)
    print(
        f"stuck bit detected and attributed: {rate:.2%} of {args.periods} FMA periods "
        "(target >= 99%)"
    )
    print(f"\nwall time per run, CPU backend, {args.sm_count} SMs, 1 MiB memory (median of 20)")
    print(f"{'probe':<16}{'normal ms':>12}{'deep ms':>12}")
    for probe in PROBES:
        normal = wall_ms(probe, False, args.sm_count, 20)
        deep = wall_ms(probe, True, args.sm_count, 20)
        print(f"{probe.name:<16}{normal:>12.2f}{deep:>12.2f}")


if __name__ == "__main__":
    main()
