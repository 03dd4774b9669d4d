"""One-shot hardware check of the GPU probe backend, sized for a short lease on a GPU host.

Measures, on every visible GPU: pass counts of every probe over repeated healthy runs (false
failures), per-run device and wall time (median, p95), which SM ids the runs covered; the
default schedule's share of GPU time; the deep test's time; detection and SM attribution of
every ``FaultSpec`` kind; TMR digests; NVML telemetry through ``sentinel.fleet.agent.nvml``;
and the SASS of the probe kernels (when ``nvcc`` and ``cuobjdump`` are on PATH). Each section
is time-boxed and fails on its own, so one bug does not cost the rest of the run.

Writes ``gpu_check.json`` (figures) into ``--out``; the log goes to stdout.
``--backend cpu`` rehearses the same flow on the CPU backend (no NVML, no SASS).

Usage: python bench/gpu_device_check.py --out DIR [--runs N] [--seconds-per-probe S]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sentinel.fleet._schedule import default_config
from sentinel.fleet.probes import CpuBackend, FaultSpec, GpuBackend, ProbeBackend, workloads
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes.faults import Corruption, LiveFault
from sentinel.fleet.probes.gpu import _SHAPES
from sentinel.fleet.types import ProbeResult, ProbeType

PROBES = list(ProbeType)[1:]


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _section(report: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    print(f"\n== {name}", flush=True)
    began = time.perf_counter()
    try:
        report[name] = fn()
    except Exception as exc:  # a broken section is reported, the others still run
        traceback.print_exc()
        report[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"== {name}: {time.perf_counter() - began:.1f} s", flush=True)


def environment(backend: ProbeBackend) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "devices": [vars(d) for d in backend.devices()],
    }
    if isinstance(backend, GpuBackend):
        import cupy
        import pynvml

        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        env["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        env["nvrtc"] = ".".join(map(str, cupy.cuda.nvrtc.getVersion()))
        env["nvidia_ml_py"] = getattr(pynvml, "__version__", "?")
        smi = shutil.which("nvidia-smi")
        if smi:
            query = "name,driver_version,vbios_version,clocks.sm,clocks.max.sm,power.draw"
            env["nvidia_smi"] = subprocess.run(
                [smi, f"--query-gpu={query}", "--format=csv"], capture_output=True, text=True
            ).stdout.strip()
        for index in range(len(backend.devices())):
            state = backend._setup(index)
            env[f"device{index}_sm_ids"] = {
                "nsmid": state.nsmid,
                "physical_smid": [int(x) for x in state.physical],
                "arch": state.arch,
                "version": state.version,
            }
    print(json.dumps(env, indent=1))
    return env


def healthy_runs(backend: ProbeBackend, device: int, runs: int, seconds: float) -> dict[str, Any]:
    """Full-coverage runs of each probe: false failures, timing, SMs seen."""
    sm_count = backend.devices()[device].sm_count
    out: dict[str, Any] = {}
    total = 0
    print(
        f"{'probe':<16}{'runs':>6}{'pass':>6}{'bad':>5}{'SMs':>5}"
        f"{'dev med us':>11}{'dev p95':>9}{'wall med ms':>12}{'wall p95':>9}"
    )
    for probe in PROBES:
        durations, walls, bad, seen = [], [], [], set()
        deadline = time.perf_counter() + seconds
        for i in range(runs):
            began = time.perf_counter()
            o = backend.run(device, probe, timeout_ms=10_000)
            walls.append((time.perf_counter() - began) * 1000)
            if i > 0:  # the first run compiles/establishes the golden
                durations.append(o.duration_us)
            if o.result != ProbeResult.PASS:
                bad.append(f"{ProbeResult(o.result).name}: {o.detail} {o.details[:3]}")
            seen |= {sm for sm, r in enumerate(o.sm_outcomes) if r == ProbeResult.PASS}
            if time.perf_counter() > deadline:
                break
        n = len(walls)
        total += n
        row = {
            "runs": n,
            "passed": n - len(bad),
            "not_passed": len(bad),
            "first_failures": bad[:5],
            "sms_seen": len(seen),
            "sm_count": sm_count,
            "device_us_median": statistics.median(durations) if durations else None,
            "device_us_p95": _pct(durations, 95),
            "wall_ms_median": statistics.median(walls[1:] or walls),
            "wall_ms_p95": _pct(walls[1:] or walls, 95),
            "wall_ms_first": walls[0],
        }
        out[probe.name] = row
        print(
            f"{probe.name:<16}{n:>6}{row['passed']:>6}{len(bad):>5}{len(seen):>5}"
            f"{row['device_us_median'] or 0:>11.0f}{row['device_us_p95']:>9.0f}"
            f"{row['wall_ms_median']:>12.2f}{row['wall_ms_p95']:>9.2f}",
            flush=True,
        )
        for line in bad[:3]:
            print("   ", line)
    out["total_runs"] = total
    out["total_not_passed"] = sum(v["not_passed"] for v in out.values() if isinstance(v, dict))
    print(f"healthy runs: {total}, not passed: {out['total_not_passed']}")
    return out


def schedule_share(backend: ProbeBackend, device: int, runs: int) -> dict[str, Any]:
    """Each default-schedule entry at its own coverage: device and wall time over its period."""
    config = default_config()
    rows: dict[str, Any] = {}
    share_dev = share_wall = 0.0
    for entry in config.probe_schedule:
        probe = ProbeType(entry.type)
        dev, wall, bad = [], [], 0
        for _ in range(runs):
            began = time.perf_counter()
            o = backend.run(
                device, probe, sm_coverage=entry.sm_coverage, timeout_ms=entry.timeout_ms
            )
            wall.append(time.perf_counter() - began)
            dev.append(o.duration_us / 1e6)
            bad += o.result != ProbeResult.PASS
        d, w = statistics.median(dev), statistics.median(wall)
        share_dev += d / entry.period_seconds
        share_wall += w / entry.period_seconds
        rows[probe.name] = {
            "period_s": entry.period_seconds,
            "sm_coverage": entry.sm_coverage,
            "runs": runs,
            "not_passed": bad,
            "device_s_median": d,
            "wall_s_median": w,
            "device_pct": 100 * d / entry.period_seconds,
        }
        print(
            f"  {probe.name:<16}every {entry.period_seconds:>4} s at {entry.sm_coverage:>4}: "
            f"device {d * 1e6:9.0f} us, wall {w * 1e3:7.2f} ms, not passed {bad}"
        )
    result = {
        "entries": rows,
        "device_time_pct": 100 * share_dev,
        "wall_time_pct": 100 * share_wall,
        "budget_pct_in_default_config": config.overhead_budget_pct,
    }
    print(
        f"default schedule: {100 * share_dev:.5f} % of GPU time (device), "
        f"{100 * share_wall:.5f} % counting host wall time; target <= 1 %"
    )
    return result


def deep_test(backend: ProbeBackend, device: int, repeats: int) -> dict[str, Any]:
    passes: list[dict[str, Any]] = []
    for _ in range(repeats):
        began = time.perf_counter()
        rows: dict[str, dict[str, Any]] = {}
        device_us = 0
        for probe in PROBES:
            o = backend.run(device, probe, deep=True, timeout_ms=300_000)
            device_us += o.duration_us
            rows[probe.name] = {
                "result": ProbeResult(o.result).name,
                "device_s": o.duration_us / 1e6,
                "detail": o.detail,
            }
        wall = time.perf_counter() - began
        passes.append({"probes": rows, "device_s": device_us / 1e6, "wall_s": wall})
        print(
            f"  deep test: {device_us / 1e6:.3f} s device, {wall:.2f} s wall; "
            + ", ".join(f"{k} {v['result']} {v['device_s'] * 1e3:.1f} ms" for k, v in rows.items())
        )
    return {"passes": passes}


def detection(backend: ProbeBackend, device: int, intermittent_runs: int) -> dict[str, Any]:
    """Every fault kind on several SMs and bits: caught, and blamed on that SM alone."""
    sm_count = backend.devices()[device].sm_count
    sms = sorted({0, sm_count // 2, sm_count - 1, 37 % sm_count})
    cases, missed = [], []
    for sm in sms:
        for fault in (
            FaultSpec("stuck_bit", sm, bit=sm % 32),
            FaultSpec("flip_bit", sm, bit=30),
            FaultSpec("stuck_bit", sm, bit=0),
            FaultSpec("flip_bit", sm, bit=31),
            FaultSpec("bad_transcendental", sm),
        ):
            probes = [ProbeType.TRANSCENDENTAL] if fault.kind == "bad_transcendental" else PROBES
            backend.clear_faults(device)
            backend.inject(device, fault)
            for probe in probes:
                o = backend.run(device, probe)
                blamed = [d.sm_id for d in o.details]
                ok = o.result == ProbeResult.FAIL and blamed == [sm]
                case = {
                    "fault": fault.kind,
                    "sm": sm,
                    "bit": fault.bit,
                    "probe": probe.name,
                    "result": ProbeResult(o.result).name,
                    "blamed": blamed,
                    "ok": ok,
                    "detail": o.details[0].detail if o.details else o.detail,
                }
                cases.append(case)
                if not ok:
                    missed.append(case)
                    print("   MISSED", case)
    backend.clear_faults(device)
    print(f"  fixed faults: {len(cases) - len(missed)} of {len(cases)} caught on the right SM")
    # Intermittent: a fault that fires in half the runs must be caught in exactly those runs.
    sm = sm_count // 3
    fault = FaultSpec("flip_bit", sm, bit=9, rate=0.5, seed=7, probe_types=frozenset({1}))
    backend.inject(device, fault)
    stream = random.Random(fault.seed)  # the same draws the fault book makes, one per FMA run
    fired = [stream.random() < fault.rate for _ in range(intermittent_runs)]
    caught = wrong_sm = mismatched = 0
    for hit in fired:
        o = backend.run(device, ProbeType.FMA)
        blamed = [d.sm_id for d in o.details]
        caught += blamed == [sm]
        wrong_sm += bool(blamed) and blamed != [sm]
        mismatched += (blamed == [sm]) != hit
    backend.clear_faults(device)
    result = {
        "cases": len(cases),
        "caught_right_sm": len(cases) - len(missed),
        "missed": missed,
        "intermittent": {
            "sm": sm,
            "rate": 0.5,
            "runs": intermittent_runs,
            "fired": sum(fired),
            "caught": caught,
            "blamed_wrong_sm": wrong_sm,
            "caught_other_runs_than_fired": mismatched,
        },
    }
    print(
        f"  intermittent flip (rate 0.5) on SM {sm}: fired {sum(fired)} of "
        f"{intermittent_runs} runs, caught {caught}, wrong SM {wrong_sm}, "
        f"verdict differs from the draw in {mismatched} runs"
    )
    return result


def _label(spec: FaultSpec) -> str:
    """The fields of ``spec`` that differ from a plain fault's."""
    plain = FaultSpec(spec.kind, spec.sm_id)
    fields = [f.name for f in dataclasses.fields(spec)]
    changed = [f"{n}={getattr(spec, n)!r}" for n in fields if getattr(spec, n) != getattr(plain, n)]
    return f"{spec.kind} on SM {spec.sm_id}: " + ", ".join(changed)


def _launch(backend: Any, device: int, probe: ProbeType, specs: list[FaultSpec], seed: int):
    """One launch over every SM with ``specs`` as this run's per-word faults (run 1 of each)."""
    sm_count = backend.devices()[device].sm_count
    corruption = Corruption.none(sm_count)
    for spec in specs:
        corruption.per_word.setdefault(spec.sm_id, []).append(LiveFault(spec, 1))
    sms = list(range(sm_count))
    return backend._launch(device, probe, sms, False, corruption, 60_000, seed).words


def per_word(backend: ProbeBackend, device: int) -> dict[str, Any]:
    """Per-word faults in the kernels: the words they change are the model's, and the agent's
    path (inject, run) catches a rare lane fault on its SM and names its lane."""
    sm_count = backend.devices()[device].sm_count
    fused = isinstance(backend, GpuBackend)
    sm, seed = sm_count // 2 + 1, 12345
    steps = workloads.FMA_STEPS[0]
    fma_specs = [
        [FaultSpec("flip_bit", sm, bit=12, word_rate=1e-5, seed=1)],
        [FaultSpec("flip_bit", sm, bit=27, lane=9, word_rate=1e-4, seed=2)],
        [FaultSpec("ulp_error", sm, word_rate=1e-6, seed=3)],
        [
            FaultSpec(
                "flip_bit", sm, bit=8, word_rate=1e-4, operand_mask=0xF, operand_value=6, seed=4
            )
        ],
        [FaultSpec("stuck_bit", sm, bit=3, operand_range=(2.0**100, np.inf), seed=5)],
    ]
    fma = []
    inputs = workloads.fma_inputs(seed)
    lanes = np.arange(workloads.LANES) % workloads.WARP
    chain = Chain(inputs.x0, inputs.a, inputs.b, steps, lanes, fused=fused)
    for specs in fma_specs:
        words = _launch(backend, device, ProbeType.FMA, specs, seed)
        want = chain.run([LiveFault(spec, 1) for spec in specs])
        rows = words[sm]
        others = [w for s, w in words.items() if s != sm]
        case = {
            "fault": _label(specs[0]),
            "words_changed_model": int((want != chain.golden).sum()),
            "words_changed_device": int((rows[0] != chain.golden).sum()),
            "bit_exact": bool((rows == want).all()),
            "healthy_sms_exact": bool(all((w == chain.golden).all() for w in others)),
        }
        fma.append(case)
        print("  FMA", case)
    # Tensor and transcendental: the set of words that differ from a healthy SM's.
    partial_cases = []
    for probe, specs in (
        (ProbeType.TENSOR_CORE, [FaultSpec("flip_bit", sm, bit=20, word_rate=1e-3, seed=6)]),
        (ProbeType.TRANSCENDENTAL, [FaultSpec("ulp_error", sm, word_rate=1e-3, seed=7)]),
        (ProbeType.TRANSCENDENTAL, [FaultSpec("bad_transcendental", sm, lane=5, seed=8)]),
    ):
        words = _launch(backend, device, probe, specs, seed)
        healthy = words[(sm + 1) % sm_count][0]
        got = set(np.flatnonzero(words[sm][0] != healthy).tolist())
        if probe == ProbeType.TENSOR_CORE:
            n = _SHAPES[probe].size[0]  # the CPU model's normal sizes are the GPU's
            model = workloads.tensor_chain(n, seed)
            want_words = model.run([LiveFault(s, 1) for s in specs])
            want = set(np.flatnonzero(want_words != model.golden).tolist())
        else:
            n = _SHAPES[probe].size[0]
            operands = np.concatenate(list(workloads.transcendental_inputs(n, seed).values()))
            want = set(LiveFault(specs[0], 1).words(operands.view(np.uint32)).tolist())
        case = {
            "probe": probe.name,
            "fault": _label(specs[0]),
            "changed_device": len(got),
            "changed_model": len(want),
            "same_words": got == want,
        }
        partial_cases.append(case)
        print(" ", case)
    # The agent's path: a rare lane fault, injected and probed as the scheduler would.
    lane = 11
    backend.clear_faults(device)
    fault = FaultSpec(
        "flip_bit", sm, bit=25, lane=lane, word_rate=1e-5, seed=9, probe_types=frozenset({1})
    )
    backend.inject(device, fault)
    outcomes = [backend.run(device, ProbeType.FMA) for _ in range(20)]
    backend.clear_faults(device)
    failed = [o for o in outcomes if o.result == ProbeResult.FAIL]
    blamed = {d.sm_id for o in failed for d in o.details}
    named = {d.detail.rsplit("lanes ", 1)[-1] for o in failed for d in o.details}
    end_to_end = {
        "runs": len(outcomes),
        "failed": len(failed),
        "errors": [o.detail for o in outcomes if o.result not in (1, 2)],
        "blamed": sorted(blamed),
        "lanes_named": sorted(named),
    }
    print("  lane fault through inject/run:", end_to_end)
    return {"fma": fma, "tensor_transcendental": partial_cases, "end_to_end": end_to_end}


def tmr(backend: ProbeBackend, device: int) -> dict[str, Any]:
    sm_count = backend.devices()[device].sm_count
    seeds = [1, 2, 3, 42]
    backend.clear_faults(device)
    times, stable = [], True
    digests = {}
    for seed in seeds:
        began = time.perf_counter()
        first = backend.tmr_digest(device, seed)
        times.append(time.perf_counter() - began)
        again = [backend.tmr_digest(device, seed) for _ in range(3)]
        stable &= all(d == first for d in again)
        digests[seed] = first.hex()
    distinct = len(set(digests.values())) == len(seeds)
    backend.inject(device, FaultSpec("flip_bit", sm_count // 2, bit=3))
    dissent = backend.tmr_digest(device, 1).hex() != digests[1]
    backend.clear_faults(device)
    recovered = backend.tmr_digest(device, 1).hex() == digests[1]
    result = {
        "healthy_digest_stable": stable,
        "seeds_give_distinct_digests": distinct,
        "faulty_sm_dissents": dissent,
        "digest_after_clear_matches": recovered,
        "digest_wall_ms_median": 1000 * statistics.median(times[1:] or times),
        "digests": digests,
    }
    print(" ", {k: v for k, v in result.items() if k != "digests"})
    return result


def nvml_telemetry(backend: ProbeBackend) -> dict[str, Any]:
    from sentinel.fleet.agent.nvml import NvmlTelemetry, check_nvml

    count = check_nvml()
    telemetry = NvmlTelemetry([d.uuid for d in backend.devices()])
    samples = []
    try:
        for _ in range(3):
            samples.extend(telemetry.sample())
        raw: dict[str, Any] = {}
        for fn, args in (
            ("nvmlDeviceGetTemperature", ("NVML_TEMPERATURE_GPU",)),
            ("nvmlDeviceGetPowerUsage", ()),
            ("nvmlDeviceGetClockInfo", ("NVML_CLOCK_SM",)),
            ("nvmlDeviceGetCurrentClocksEventReasons", ()),
            (
                "nvmlDeviceGetTotalEccErrors",
                ("NVML_MEMORY_ERROR_TYPE_CORRECTED", "NVML_VOLATILE_ECC"),
            ),
            ("nvmlDeviceGetRemappedRows", ()),
            ("nvmlDeviceGetRetiredPages", ("NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR",)),
        ):
            nvml = telemetry._nvml
            handle = next(iter(telemetry._handles.values()))
            try:
                value = getattr(nvml, fn)(handle, *(getattr(nvml, a) for a in args))
                raw[fn] = repr(value)
            except Exception as exc:  # which reads this GPU supports is the finding
                raw[fn] = f"unsupported: {type(exc).__name__}: {exc}"
        raw["xid_events_registered"] = telemetry._events is not None
    finally:
        telemetry.close()
    fields = [
        {
            "gpu_uuid": s.gpu_uuid,
            "temperature_c": s.temperature_c,
            "power_w": s.power_w,
            "sm_clock_mhz": s.sm_clock_mhz,
            "mem_clock_mhz": s.mem_clock_mhz,
            "throttle_reasons": s.throttle_reasons,
            "ecc_single_bit": s.ecc_single_bit,
            "ecc_double_bit": s.ecc_double_bit,
            "retired_rows": s.retired_rows,
            "remapped_rows": s.remapped_rows,
            "xid_events": list(s.xid_events),
        }
        for s in samples
    ]
    print(f"  check_nvml: {count} GPU(s); last sample {fields[-1]}")
    print(f"  raw reads: {raw}")
    return {"gpus": count, "samples": fields, "raw": raw}


def sass() -> dict[str, Any]:
    """Instruction counts of the probe kernels as nvcc builds them for this GPU (sm_90)."""
    nvcc, cuobjdump = shutil.which("nvcc"), shutil.which("cuobjdump")
    if not (nvcc and cuobjdump):
        return {"skipped": "nvcc and cuobjdump are not both on PATH"}
    source = resources.files("sentinel.fleet.probes").joinpath("kernels/probes.cu").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        cu, cubin = Path(tmp) / "probes.cu", Path(tmp) / "probes.cubin"
        cu.write_text(source)
        subprocess.run(  # CuPy compiles with -ftz=true
            [nvcc, "-cubin", "-arch=sm_90", "-std=c++14", "-ftz=true", "-o", cubin, cu], check=True
        )
        text = subprocess.run(
            [cuobjdump, "-sass", cubin], capture_output=True, text=True, check=True
        ).stdout
    patterns = {
        "FFMA": r"\bFFMA\b",
        "HMMA": r"\bHMMA\.",
        "MUFU": r"\bMUFU\.",
        "LDS": r"\bLDS\b",
        "LDG": r"\bLDG\.",
        "STG": r"\bSTG\.",
        "NOT (LOP3 0x33)": r"LOP3\.LUT (R\d+), RZ, \1, RZ, 0x33",
        "MOV (LOP3 0xcc)": r"LOP3\.LUT (R\d+), RZ, \1, RZ, 0xcc",
    }
    counts = {}
    for block in re.split(r"\n\s*Function : ", text)[1:]:
        name = block.split()[0]
        counts[name] = {k: len(re.findall(p, block)) for k, p in patterns.items()}
        print(f"  {name:<22}{counts[name]}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=2000, help="healthy runs per probe, at most")
    parser.add_argument("--seconds-per-probe", type=float, default=12.0)
    parser.add_argument("--schedule-runs", type=int, default=50)
    parser.add_argument("--deep-repeats", type=int, default=3)
    parser.add_argument("--intermittent-runs", type=int, default=200)
    parser.add_argument("--backend", choices=("gpu", "cpu"), default="gpu")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    golden = Path(tempfile.mkdtemp(prefix="sentinel-golden-"))
    began = time.perf_counter()
    backend: ProbeBackend
    if args.backend == "gpu":
        backend = GpuBackend(golden_dir=golden)
    else:
        backend = CpuBackend(sm_count=16, hostname="rehearsal")
    report: dict[str, Any] = {"argv": vars(args) | {"out": str(args.out)}}

    def save() -> None:
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))

    _section(report, "environment", lambda: environment(backend))
    for info in backend.devices():
        i = info.index
        print(f"\n##### device {i}: {info.model} {info.uuid}, {info.sm_count} SMs")
        for name, fn in (
            ("healthy", partial(healthy_runs, backend, i, args.runs, args.seconds_per_probe)),
            ("schedule", partial(schedule_share, backend, i, args.schedule_runs)),
            ("deep", partial(deep_test, backend, i, args.deep_repeats)),
            ("detection", partial(detection, backend, i, args.intermittent_runs)),
            ("per_word", partial(per_word, backend, i)),
            ("tmr", partial(tmr, backend, i)),
        ):
            _section(report, f"device{i}_{name}", fn)
            save()
    if args.backend == "gpu":
        _section(report, "nvml", lambda: nvml_telemetry(backend))
        _section(report, "sass", sass)
    report["total_wall_s"] = time.perf_counter() - began
    save()
    print(f"\ntotal {report['total_wall_s']:.1f} s; figures in {args.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()
