"""The CUDA probe kernels compile for Ampere and Hopper, keep their repeated work, and fit
their blocks in an SM's registers.

No GPU is needed: nvcc (the CUDA toolkit on the development and CI machines) compiles
the same source the GPU backend hands to NVRTC, PTX and cubin (ptxas assembles the
inline PTX: ``%smid``, ``mma.sync``), and the PTX shows the repeated operations that
must not be merged or folded are all there.
"""

from __future__ import annotations

import re
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

from sentinel.fleet.probes import workloads
from sentinel.fleet.probes.gpu import _SHAPES

SOURCE = files("sentinel.fleet.probes").joinpath("kernels/probes.cu")
KERNELS = (
    "fma_probe",
    "fma_probe_faults",
    "tensor_probe",
    "tensor_probe_faults",
    "transcendental_probe",
    "transcendental_probe_faults",
    "aes_probe",
    "memory_probe",
    "shared_probe",
    "register_probe",
)


def _compile(nvcc: str, tmp_path: Path, arch: str, kind: str, *flags: str) -> Path:
    out = tmp_path / f"probes_{arch}.{kind}"
    src = tmp_path / "probes.cu"
    src.write_text(SOURCE.read_text())
    done = subprocess.run(
        [nvcc, f"-arch=sm_{arch}", f"-{kind}", "-std=c++14", *flags, "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out.with_suffix(".log").write_text(done.stderr)
    return out


def _entry(ptx: str, name: str) -> str:
    match = re.search(rf"\.entry {name}\((.*?)\n}}\n", ptx, re.S)
    assert match, f"kernel {name} missing from the PTX"
    return match.group(1)


@pytest.mark.parametrize("arch", ["80", "90"])
def test_kernels_assemble_for_ampere_and_hopper(nvcc: str, tmp_path: Path, arch: str) -> None:
    cubin = _compile(nvcc, tmp_path, arch, "cubin")
    assert cubin.stat().st_size > 10_000


def test_every_probe_reads_its_sm_and_keeps_its_repeated_work(nvcc: str, tmp_path: Path) -> None:
    ptx = _compile(nvcc, tmp_path, "90", "ptx").read_text()
    for name in KERNELS:
        assert "%smid" in _entry(ptx, name), f"{name} does not read %smid"
    assert "%nsmid" in _entry(ptx, "sm_ids")
    # 72 live registers, each inverted once per trip of a loop that stays a loop: two `not`s
    # per trip were folded into moves by ptxas (bench/gpu_device_check.py checks the SASS).
    assert _entry(ptx, "register_probe").count("not.b32") == 72
    for twin in ("", "_faults"):
        assert "fma.rn.f32" in _entry(ptx, "fma_probe" + twin)
        assert "mma.sync.aligned.m16n8k16" in _entry(ptx, "tensor_probe" + twin)
    assert _entry(ptx, "memory_probe").count("ld.volatile") >= 3


@pytest.mark.parametrize("arch", ["80", "90"])
def test_every_block_fits_in_an_sms_register_file(nvcc: str, tmp_path: Path, arch: str) -> None:
    """A block needs threads x registers <= 65,536, or its launch fails: the 1,024-thread FMA
    blocks (and their fault twin) may use 64 registers a thread at most."""
    log = _compile(nvcc, tmp_path, arch, "cubin", "-Xptxas", "-v").with_suffix(".log")
    used: dict[str, int] = {}
    entry = ""
    for line in log.read_text().splitlines():
        if found := re.search(r"Compiling entry function '(\w+)'", line):
            entry = found.group(1)
        elif found := re.search(r"Used (\d+) registers", line):
            used[entry] = int(found.group(1))
    threads = {shape.kernel: shape.threads for shape in _SHAPES.values()}
    for name in KERNELS:
        block = threads[name.removesuffix("_faults")]
        assert used[name] * block <= 65536, f"{name}: {used[name]} registers x {block} threads"
    assert used["fma_probe"] * workloads.LANES <= 65536  # the TMR launch too
