"""What Sentinel catches of subtle faults, how fast, at what cost, and what a daily diagnostic
would catch of the same faults.

For each fault kind and per-word error rate, ``--trials`` simulated H100s (132 SMs; the CPU
model runs the compute probes at the GPU kernels' sizes) each get one fault on a random SM,
with a random bit, lane, register and seed. The agent's own ``Scheduler`` runs the default
schedule on a simulated clock (the SUSPECT watch included), and the engine's own reliability
(``BetaReliability``), failure window (``WindowCounter``) and quarantine policy
(``policy_target``) decide the GPU's state after every probe. The agent has been running for
a random time when the fault appears; time to quarantine counts from then.

Time to quarantine counts from the fault's onset, or, for a fault that only acts when hot or
in phases, from the moment it first wakes: no probe can see a fault that sleeps.

The same faults are also run with the probes and schedule as they were before issue 14 (the
same operands every run, 64 FMA lanes of 16,384 steps with exponents 2^-100..2^100, 1,024
transcendental arguments, 256 register iterations, tensor/transcendental/register probes on
a quarter of the SMs every 2 to 10 minutes, no watch after a failure), and through a daily
out-of-production diagnostic (DCGM r3-like): once a day, at a random time, every probe over
every SM, repeated for as much GPU time as the default schedule spends in a day, at full load
(85 degrees C), stopping at the first failure.

Probe costs are the device times measured on an H100 (BENCHMARKS.md, 64-lane FMA probe).

Writes ``src/sentinel/fleet/data/catch_curve.json`` and ``docs/catch_curve.svg``.

    .venv/bin/python bench/bench_fault_curve.py [--trials 200] [--horizon 60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import math
import multiprocessing
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_probes import false_failures  # noqa: E402

from sentinel.fleet import catch_curve  # noqa: E402
from sentinel.fleet._schedule import default_config  # noqa: E402
from sentinel.fleet.agent._config import AgentSettings, parse_config  # noqa: E402
from sentinel.fleet.agent.scheduler import OverheadBudget, Scheduler  # noqa: E402
from sentinel.fleet.engine.enums import GpuState  # noqa: E402
from sentinel.fleet.engine.lifecycle import PolicyInput, policy_target  # noqa: E402
from sentinel.fleet.engine.policy import EnginePolicy  # noqa: E402
from sentinel.fleet.engine.rates import WindowCounter  # noqa: E402
from sentinel.fleet.engine.reliability import BetaReliability  # noqa: E402
from sentinel.fleet.probes import CpuBackend, FaultKind, FaultSpec, workloads  # noqa: E402
from sentinel.fleet.probes._chains import Chain  # noqa: E402
from sentinel.fleet.probes.faults import Conditions, Corruption, awake  # noqa: E402
from sentinel.fleet.types import ProbeResult, ProbeType  # noqa: E402

SM_COUNT = 132
PERIOD_S = 60.0
"""One probe period: the default schedule's FMA period."""
GOAL_PERIODS = 10
RATES = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
HOT_C, COOL_C, THRESHOLD_C = 85.0, 45.0, 80.0
"""The production temperature cycle (2 h) and where the hot-only fault wakes up."""
DAY_S = 86400.0

# Device microseconds per run on an H100 (BENCHMARKS.md): at the default schedule's coverage,
# and over all SMs (what the SUSPECT watch and the diagnostic run).
# The probes that grew in issue 14 are counted at linear scale from their measured sizes, an
# upper bound (launch overhead does not grow, and 1,024 FMA lanes fill an SM's pipelines where
# 64 waited on each result): FMA 64x the operations (3,328 us), transcendental 16x the
# arguments (320 us), register file 128x the iterations (8,704 us).
SCHEDULED_US = {1: 3328, 2: 29, 3: 320, 4: 25, 5: 246, 6: 8704, 7: 95}
FULL_US = {1: 3328, 2: 29, 3: 320, 4: 25, 5: 12808, 6: 8704, 7: 95}
BEFORE_SCHEDULED_US = {1: 52, 2: 30, 3: 26, 4: 27, 5: 246, 6: 61, 7: 54}
BEFORE_FULL_US = {1: 52, 2: 29, 3: 20, 4: 25, 5: 12808, 6: 68, 7: 95}
BEFORE_SCHEDULE = (  # type, period s, coverage, priority, timeout ms
    (1, 60, 1.0, 1, 5000),
    (2, 120, 0.25, 2, 10000),
    (3, 300, 0.25, 3, 5000),
    (4, 300, 0.25, 3, 5000),
    (5, 900, 0.05, 4, 30000),
    (6, 600, 0.25, 4, 5000),
    (7, 600, 0.25, 4, 5000),
)

_FMA_UNITS = frozenset({ProbeType.FMA, ProbeType.TENSOR_CORE})


_SPANS = {"bit": 32, "lane": 32, "register": 72, "operand_value": 256}
"""Fields a trial draws at random, and their ranges."""


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    fault: FaultKind
    units: frozenset[int] = frozenset(range(1, 8))
    """Probe types (units) the fault lives in."""
    draws: tuple[str, ...] = ()
    """Fields of ``_SPANS`` each trial draws, in this order."""
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)

    def make(self, rng: np.random.Generator, sm: int, rate: float, seed: int) -> FaultSpec:
        drawn = {f: int(rng.integers(0, _SPANS[f])) for f in self.draws}
        return FaultSpec(
            self.fault,
            sm,
            word_rate=rate,
            probe_types=self.units,
            seed=seed,
            **drawn,
            **self.fixed,
        )


KINDS = (
    Kind("sm_flip", "whole SM, any unit: a flipped bit", "flip_bit", draws=("bit",)),
    Kind(
        "lane_flip",
        "one lane of the FMA unit: a flipped bit",
        "flip_bit",
        frozenset({ProbeType.FMA}),
        ("bit", "lane"),
    ),
    Kind(
        "register_stuck",
        "one register: a bit stuck at 1",
        "stuck_bit",
        frozenset({ProbeType.REGISTER_FILE}),
        ("bit", "register"),
    ),
    Kind(
        "operand_pattern",
        "FMA, only when the operand's low byte has one value (1 in 256)",
        "flip_bit",
        frozenset({ProbeType.FMA}),
        ("bit", "operand_value"),
        {"operand_mask": 0xFF},
    ),
    Kind(
        "operand_range",
        "FMA/tensor, only for operands of 2^110 and above",
        "flip_bit",
        _FMA_UNITS,
        ("bit",),
        {"operand_range": (2.0**110, math.inf)},
    ),
    Kind("ulp_fma", "FMA/tensor results 1 ULP off", "ulp_error", _FMA_UNITS),
    Kind(
        "ulp_sfu",
        "sin/cos/exp/log results 1 ULP off",
        "ulp_error",
        frozenset({ProbeType.TRANSCENDENTAL}),
    ),
    Kind(
        "hot",
        f"FMA/tensor flipped bit, only at {THRESHOLD_C:.0f} degrees C and above",
        "flip_bit",
        _FMA_UNITS,
        ("bit",),
        {"min_temperature_c": THRESHOLD_C},
    ),
    Kind(
        "phased",
        "FMA/tensor flipped bit, awake 10 minutes of every hour",
        "flip_bit",
        _FMA_UNITS,
        ("bit",),
        {"on_s": 600.0, "off_s": 3000.0},
    ),
)
_BY_NAME = {k.name: k for k in KINDS}


def _fma_inputs_before() -> workloads.FmaInputs:
    """The FMA operands before issue 14: 64 lanes, exponents 2^-100..2^100, fixed."""
    rng = np.random.default_rng(0)
    lanes = 64
    exponents = np.linspace(-100, 100, lanes).round()
    signs = np.where(np.arange(lanes) % 2 == 0, 1.0, -1.0)
    x0 = (signs * (1 + rng.random(lanes)) * 2.0**exponents).astype(np.float32)
    a = (1 - 2.0**-10 * (1 + rng.random(lanes))).astype(np.float32)
    b = (x0.astype(np.float64) * (1 - a.astype(np.float64))).astype(np.float32)
    return workloads.FmaInputs(x0, a, b)


@functools.cache
def _chain_before() -> Chain:
    inputs = _fma_inputs_before()
    return Chain(inputs.x0, inputs.a, inputs.b, 1 << 14, np.arange(64) % 32)


_BEFORE_TRANSCENDENTAL_N, _BEFORE_REGISTER_ITERS = 1024, 256


@functools.cache
def _transcendental_before() -> np.ndarray:
    return workloads.transcendental_golden(_BEFORE_TRANSCENDENTAL_N, 0)


class BeforeBackend(CpuBackend):
    """The probes as they were: the same operands every run, the old sizes."""

    reseeds_operands = False

    def _compute(
        self,
        device_index: int,
        probe: ProbeType,
        sms: np.ndarray,
        deep: bool,
        faults: Corruption,
        seed: int,
    ) -> np.ndarray:
        if probe == ProbeType.FMA:
            return workloads.chains(sms, _chain_before(), faults)
        if probe == ProbeType.TRANSCENDENTAL:
            n, golden = _BEFORE_TRANSCENDENTAL_N, _transcendental_before()
            return workloads.transcendental(sms, n, 0, golden, faults)
        if probe == ProbeType.REGISTER_FILE:
            return workloads.registers(sms, _BEFORE_REGISTER_ITERS, faults)
        return super()._compute(device_index, probe, sms, deep, faults, seed)

    def _reference(self, device_index: int, probe: ProbeType, deep: bool, seed: int) -> np.ndarray:
        if probe == ProbeType.FMA:
            return _chain_before().golden
        if probe == ProbeType.TRANSCENDENTAL:
            return _transcendental_before()
        return super()._reference(device_index, probe, deep, seed)


class BeforeScheduler(Scheduler):
    """The scheduler as it was: no watch after a failure."""

    def finished(
        self, device: int, probe_type: int, device_s: float, now: float, *, failed: bool = False
    ) -> None:
        super().finished(device, probe_type, device_s, now, failed=failed)
        self._failed_at.pop(device, None)


def _schedule(before: bool) -> AgentSettings:
    if not before:
        return parse_config(default_config())
    config = default_config()
    del config.probe_schedule[:]
    for t, period, coverage, priority, timeout in BEFORE_SCHEDULE:
        config.probe_schedule.add(
            type=t,
            period_seconds=period,
            sm_coverage=coverage,
            priority=priority,
            enabled=True,
            timeout_ms=timeout,
        )
    return parse_config(config)


@dataclass(frozen=True)
class Trial:
    """One faulty GPU under the default schedule."""

    quarantined_s: float
    """Seconds from onset (or waking) to QUARANTINED; ``inf`` if not within the horizon."""
    right_sm: bool
    runs: int
    gpu_us: float


def _temperature(t: float, phase: float) -> float:
    mid, half = (HOT_C + COOL_C) / 2, (HOT_C - COOL_C) / 2
    return mid + half * math.sin(2 * math.pi * t / 7200 + phase)


def _setup(kind: str, rate: float, index: int) -> tuple[FaultSpec, float, float]:
    """The trial's fault, thermal phase and how long the agent ran before the onset."""
    rng = np.random.default_rng([zlib.crc32(kind.encode()), int(-math.log10(rate)), index])
    fault = _BY_NAME[kind].make(rng, int(rng.integers(0, SM_COUNT)), rate, int(rng.integers(1e9)))
    return fault, float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 3600))


def _wakes(fault: FaultSpec, phase: float) -> float:
    """The first second from onset at which the fault is awake (0 for one that never sleeps)."""
    t = 0.0
    while not awake(fault, Conditions(t, _temperature(t, phase), 1980.0)):
        t += 5.0
        if t > DAY_S:
            raise RuntimeError(f"{fault} never wakes")
    return t


def run_trial(kind: str, rate: float, index: int, horizon_s: float, before: bool) -> Trial:
    """The default schedule and the engine's policy on one faulty GPU."""
    fault, phase, warmup = _setup(kind, rate, index)
    woke = _wakes(fault, phase)
    now = [-warmup]
    backend = (BeforeBackend if before else CpuBackend)(
        1, SM_COUNT, hostname="curve", clock=lambda: now[0]
    )
    settings = _schedule(before)
    budget = OverheadBudget(3600, settings.budget_pct)
    scheduler = (BeforeScheduler if before else Scheduler)([0], settings.schedule, budget)
    scheduled_us, full_us = (
        (BEFORE_SCHEDULED_US, BEFORE_FULL_US) if before else (SCHEDULED_US, FULL_US)
    )
    policy = EnginePolicy()
    reliability = BetaReliability.prior(policy, now[0])
    failures = WindowCounter(policy.rate_window_seconds)
    state, injected, runs, gpu_us = int(GpuState.HEALTHY), False, 0, 0.0
    blamed: set[int] = set()
    while now[0] < woke + horizon_s:
        due = scheduler.next_probe(now[0])
        if isinstance(due, float):
            if math.isinf(due):
                break
            now[0] = due
            continue
        _, entry = due
        t = now[0]
        if not injected and t >= 0:
            backend.inject(0, fault)
            injected = True
        full = entry.sm_coverage >= 1.0
        cost = (full_us if full else scheduled_us)[entry.probe_type]
        failed = False
        if injected:  # before the onset the GPU is healthy, and healthy runs pass (checked)
            backend.set_conditions(0, temperature_c=_temperature(t, phase), sm_clock_mhz=1980)
            outcome = backend.run(0, entry.probe_type, sm_coverage=entry.sm_coverage)
            if outcome.result not in (ProbeResult.PASS, ProbeResult.FAIL):
                raise RuntimeError(f"{kind} {rate} #{index}: {outcome.detail}")
            failed = outcome.result == ProbeResult.FAIL
            runs += 1
            gpu_us += cost
            if failed:
                blamed |= {d.sm_id for d in outcome.details}
        scheduler.finished(0, entry.probe_type, cost / 1e6, t, failed=failed)
        if failed:
            reliability.observe(0, 1, t, policy)
            failures.add(t)
        else:
            reliability.observe(1, 0, t, policy)
        inp = PolicyInput(state, reliability.score, failures.count(t), 0, False, False)
        if target := policy_target(inp, policy):
            state = target[0]
            scheduler.set_watched(0, state == GpuState.SUSPECT)
            if state == GpuState.QUARANTINED:
                return Trial(t - woke, blamed == {fault.sm_id}, runs, gpu_us)
    return Trial(math.inf, False, runs, gpu_us)


def run_diagnostic(kind: str, rate: float, index: int, budget_us: float) -> float:
    """Seconds from onset to a daily diagnostic's first failure; ``inf`` if it passes."""
    fault, _, _ = _setup(kind, rate, index)
    start = float(np.random.default_rng([index, 7]).uniform(0, DAY_S))
    # The diagnostic checks every SM alike, so a fault on one SM is found as it would be on a
    # device of that SM alone: simulating only it spares the other 131 identical rows.
    backend = CpuBackend(1, 1, hostname="diagnostic", clock=lambda: start)
    backend.inject(0, dataclasses.replace(fault, sm_id=0))
    backend.set_conditions(0, temperature_c=HOT_C, sm_clock_mhz=1980)
    spent = 0.0
    while spent < budget_us:
        for probe in list(ProbeType)[1:]:
            if backend.run(0, probe).result == ProbeResult.FAIL:
                return start
            spent += FULL_US[probe]
    return math.inf


def schedule_us_per_s() -> float:
    """Device microseconds the default schedule spends per second of a GPU's time."""
    settings = parse_config(default_config())
    return sum(SCHEDULED_US[e.probe_type] / e.period_s for e in settings.schedule)


def _cell(task: tuple[str, float, int, int, float]) -> tuple[str, float, list[Trial], list[float]]:
    kind, rate, trials, horizon, budget_us = task
    now = [run_trial(kind, rate, i, horizon * PERIOD_S, False) for i in range(trials)]
    before = [run_trial(kind, rate, i, GOAL_PERIODS * PERIOD_S, True) for i in range(trials)]
    diagnostic = [run_diagnostic(kind, rate, i, budget_us) for i in range(trials)]
    share_before = [t.quarantined_s <= GOAL_PERIODS * PERIOD_S for t in before]
    return kind, rate, now, [sum(share_before) / trials, *diagnostic]


def _percentile(values: list[float], q: float) -> float | None:
    v = float(np.percentile(values, q, method="higher"))
    return None if math.isinf(v) else v


def point(rate: float, trials: list[Trial], extra: list[float]) -> catch_curve.CurvePoint:
    periods = [t.quarantined_s / PERIOD_S for t in trials]
    caught = [t for t in trials if not math.isinf(t.quarantined_s)]
    diagnostic = extra[1:]
    hours = [d / 3600 for d in diagnostic]
    median_h = _percentile(hours, 50)
    return catch_curve.CurvePoint(
        rate=rate,
        trials=len(trials),
        within_goal=sum(p <= GOAL_PERIODS for p in periods) / len(trials),
        within_horizon=len(caught) / len(trials),
        median_periods=_percentile(periods, 50),
        p95_periods=_percentile(periods, 95),
        right_sm=sum(t.right_sm for t in caught) / len(caught) if caught else 0.0,
        probe_runs=float(np.mean([t.runs for t in trials])),
        probe_gpu_ms=float(np.mean([t.gpu_us for t in trials])) / 1000,
        before_within_goal=extra[0],
        diagnostic_within_day=sum(not math.isinf(d) for d in diagnostic) / len(trials),
        diagnostic_median_h=median_h,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=60, help="probe periods per trial")
    parser.add_argument("--healthy", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--kinds", default=",".join(k.name for k in KINDS))
    parser.add_argument("--out", type=Path, default=catch_curve.CURVE_PATH)
    parser.add_argument("--svg", type=Path, default=Path("docs/catch_curve.svg"))
    parser.add_argument(
        "--table", action="store_true", help="print the table of the curve in --out, run nothing"
    )
    args = parser.parse_args()
    if args.table:
        if (stored := catch_curve.load(args.out)) is None:
            parser.error(f"no curve at {args.out}")
        print(_table(stored))
        return
    started = time.monotonic()
    us_per_s = schedule_us_per_s()
    budget_us = us_per_s * DAY_S
    kinds = args.kinds.split(",")
    tasks = [(k, r, args.trials, args.horizon, budget_us) for k in kinds for r in RATES]
    results: dict[tuple[str, float], tuple[list[Trial], list[float]]] = {}
    with multiprocessing.Pool(args.jobs) as pool:
        for done, (kind, rate, trials, extra) in enumerate(pool.imap_unordered(_cell, tasks), 1):
            results[(kind, rate)] = (trials, extra)
            print(
                f"[{done}/{len(tasks)} {time.monotonic() - started:.0f} s] {kind} {rate:g}",
                file=sys.stderr,
                flush=True,
            )
    bad, _ = false_failures(args.healthy, SM_COUNT)  # new operands every run
    curve = catch_curve.CatchCurve(
        measured=datetime.date.today().isoformat(),
        command=" ".join(["bench/bench_fault_curve.py", *sys.argv[1:]]),
        period_s=PERIOD_S,
        goal_periods=GOAL_PERIODS,
        horizon_periods=args.horizon,
        overhead_pct=us_per_s / 1e6 * 100,
        healthy_runs=args.healthy,
        false_failures=bad,
        curves=[
            catch_curve.FaultCurve(
                k,
                _BY_NAME[k].label,
                [point(r, *results[(k, r)]) for r in RATES],
            )
            for k in kinds
        ],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(curve.dumps(), encoding="utf-8")
    from sentinel.fleet._drawings import catch_curve_svg

    args.svg.parent.mkdir(parents=True, exist_ok=True)
    args.svg.write_text(str(catch_curve_svg(curve)) + "\n", encoding="utf-8")
    print(_table(curve))
    print(f"healthy runs {args.healthy}: {bad} not passed; {time.monotonic() - started:.0f} s")


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _seconds(period_s: float, periods: float | None) -> str:
    return "-" if periods is None else f"{periods * period_s:,.0f}"


def _table(curve: catch_curve.CatchCurve) -> str:
    head = (
        "| fault | per-word rate | quarantined within 10 periods (before) | median / p95 periods "
        "| median / p95 s | right SM | probe runs / GPU ms "
        "| daily diagnostic: within a day, median h |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    seconds = functools.partial(_seconds, curve.period_s)
    rows = [head]
    for c in curve.curves:
        for p in c.points:
            rows.append(
                f"| {c.kind} | {p.rate:.0e} | {p.within_goal:.1%} "
                f"({_fmt(p.before_within_goal, '.1%')}) "
                f"| {_fmt(p.median_periods)} / {_fmt(p.p95_periods)} "
                f"| {seconds(p.median_periods)} / {seconds(p.p95_periods)} | {p.right_sm:.1%} "
                f"| {p.probe_runs:.1f} / {p.probe_gpu_ms:.2f} "
                f"| {_fmt(p.diagnostic_within_day, '.1%')}, {_fmt(p.diagnostic_median_h)} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
