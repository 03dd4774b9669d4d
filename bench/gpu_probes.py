"""Probe checks on a real GPU host (needs the ``gpu`` extra; not run in CI).

Runs every probe type N times on every SM of every GPU and reports pass counts, the FMA probe's
device time over all SMs (target < 10 ms on H100), the deep test's total time (target < 5 min),
detection of injected faults, and whether the compiler kept the repeated work (SASS opcode
counts from ``cuobjdump``, when ``nvcc`` and ``cuobjdump`` are on PATH).

Usage: .venv/bin/python bench/gpu_probes.py [--runs N] [--golden-dir DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from sentinel.fleet.probes import FaultSpec, GpuBackend
from sentinel.fleet.types import ProbeResult, ProbeType

PROBES = list(ProbeType)[1:]
SASS_OPCODES = {
    "fma_probe": ("FFMA", r"\bFFMA\b"),
    "tensor_probe": ("HMMA", r"\bHMMA\b"),
    "transcendental_probe": ("MUFU", r"\bMUFU\b"),
    # A bitwise NOT of a register in place; ptxas once folded `not; not` into LUT 0xcc (a move).
    "register_probe": ("NOT", r"LOP3\.LUT (R\d+), RZ, \1, RZ, 0x33"),
    "shared_probe": ("LDS", r"\bLDS\b"),
    "memory_probe": ("LDG", r"\bLDG\b"),
}


def pass_counts(backend: GpuBackend, device: int, runs: int) -> None:
    sm_count = backend.devices()[device].sm_count
    print(f"{'probe':<16}{'pass':>8}{'runs':>6}{'SMs checked':>13}{'median us':>11}")
    for probe in PROBES:
        outcomes = [backend.run(device, probe) for _ in range(runs)]
        passed = sum(o.result == ProbeResult.PASS for o in outcomes)
        checked = min(sum(1 for r in o.sm_outcomes if r) for o in outcomes)
        median = statistics.median(o.duration_us for o in outcomes)
        print(f"{probe.name:<16}{passed:>8}{runs:>6}{checked:>9}/{sm_count:<3}{median:>11.0f}")
        for o in outcomes:
            if o.result != ProbeResult.PASS:
                print(f"  {ProbeResult(o.result).name}: {o.detail} {o.details[:3]}")
                break
    fma = statistics.median(backend.run(device, ProbeType.FMA).duration_us for _ in range(runs))
    print(f"FMA probe over all SMs: {fma / 1000:.3f} ms device time (target < 10 ms on H100)")


def deep_test(backend: GpuBackend, device: int) -> None:
    began = time.perf_counter()
    device_us = 0
    for probe in PROBES:
        outcome = backend.run(device, probe, deep=True, timeout_ms=300_000)
        device_us += outcome.duration_us
        print(
            f"  deep {probe.name:<16}{ProbeResult(outcome.result).name:<8}"
            f"{outcome.duration_us / 1e6:8.3f} s {outcome.detail}"
        )
    wall = time.perf_counter() - began
    print(f"deep test: {device_us / 1e6:.1f} s device, {wall:.1f} s wall (target < 300 s)")


def detection(backend: GpuBackend, device: int) -> None:
    sm = backend.devices()[device].sm_count // 2
    faults = [FaultSpec("stuck_bit", sm, bit=5), FaultSpec("flip_bit", sm, bit=30)]
    for fault in [*faults, FaultSpec("bad_transcendental", sm)]:
        probes = [ProbeType.TRANSCENDENTAL] if fault.kind == "bad_transcendental" else PROBES
        backend.clear_faults(device)
        backend.inject(device, fault)
        for probe in probes:
            outcome = backend.run(device, probe)
            blamed = [d.sm_id for d in outcome.details]
            verdict = "ok" if blamed == [sm] else "MISSED"
            print(
                f"  {fault.kind:<19}{probe.name:<16}{ProbeResult(outcome.result).name:<8}"
                f"blamed {blamed} {verdict}"
            )
        digest = backend.tmr_digest(device, seed=1)
        backend.clear_faults(device)
        print(f"  {fault.kind:<19}TMR dissent: {digest != backend.tmr_digest(device, seed=1)}")


def sass_check(arch: str) -> None:
    nvcc, cuobjdump = shutil.which("nvcc"), shutil.which("cuobjdump")
    if not (nvcc and cuobjdump):
        print("SASS check skipped: nvcc and cuobjdump are not both on PATH")
        return
    source = resources.files("sentinel.fleet.probes").joinpath("kernels/probes.cu").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        cu, cubin = Path(tmp) / "probes.cu", Path(tmp) / "probes.cubin"
        cu.write_text(source)
        subprocess.run([nvcc, "-cubin", f"-arch=sm_{arch}", "-o", cubin, cu], check=True)
        sass = subprocess.run(
            [cuobjdump, "-sass", cubin], capture_output=True, text=True, check=True
        ).stdout
    for block in re.split(r"\n\s*Function : ", sass)[1:]:
        name = block.split()[0]
        if name in SASS_OPCODES:
            opcode, pattern = SASS_OPCODES[name]
            count = len(re.findall(pattern, block))
            print(f"  {name:<22}{opcode:<6}{count:>5} instructions (0 means the work was dropped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--golden-dir", type=Path, default=None)
    args = parser.parse_args()
    golden = args.golden_dir or Path(tempfile.mkdtemp(prefix="sentinel-golden-"))
    backend = GpuBackend(golden_dir=golden)
    for info in backend.devices():
        print(
            f"\n{info.index}: {info.model} {info.uuid} driver {info.driver_version} "
            f"VBIOS {info.firmware_version}, {info.sm_count} SMs"
        )
        pass_counts(backend, info.index, args.runs)
        deep_test(backend, info.index)
        detection(backend, info.index)
    sass_check(backend._golden_key(0, ProbeType.FMA, False, 0).arch)


if __name__ == "__main__":
    main()
