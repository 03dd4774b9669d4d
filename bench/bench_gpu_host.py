"""Host work the GPU backend adds to each probe run, measurable without a GPU.

- the exact fused-multiply-add golden of an FMA run with new operands
  (``workloads.fma_chain(fused=True)`` over the probe's 1,024 chains of 65,535 steps), per run,
  median and p95 over ``--runs`` operand seeds;
- the per-word fault tables the ``_faults`` kernels take (``_kernel_faults.chain_tables``),
  for one faulty SM of 132, at per-word rates 1e-3 to 1e-7: events and milliseconds.

    .venv/bin/python bench/bench_gpu_host.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sentinel.fleet.probes import FaultSpec, workloads
from sentinel.fleet.probes._kernel_faults import chain_tables
from sentinel.fleet.probes.faults import Corruption, LiveFault

SM_COUNT = 132


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    steps = workloads.FMA_STEPS[0]
    costs = []
    for seed in range(1, args.runs + 1):
        began = time.perf_counter()
        workloads.fma_chain(steps, workloads.fma_inputs(seed), fused=True)
        costs.append(time.perf_counter() - began)
    print(f"FMA golden per run ({args.runs} seeds, {steps} steps): {_ms(costs)}")
    lanes = np.arange(workloads.LANES) % workloads.WARP
    sms = list(range(SM_COUNT))
    print("| per-word rate | events | tables ms (median of 20) |")
    print("| --- | --- | --- |")
    for rate in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
        spec = FaultSpec("flip_bit", 7, bit=3, word_rate=rate, seed=1)
        times, events = [], 0
        for run in range(1, 21):
            corruption = Corruption.none(SM_COUNT)
            corruption.per_word[7] = [LiveFault(spec, run)]
            began = time.perf_counter()
            tables = chain_tables(corruption, sms, sms, SM_COUNT, lanes, steps)
            times.append(time.perf_counter() - began)
            assert tables is not None
            events = len(tables.at) - 1
        print(f"| {rate:.0e} | {events:,} | {statistics.median(times) * 1e3:.2f} |")


if __name__ == "__main__":
    main()
