"""The CUDA probe kernels compile as CuPy compiles them on a GPU host, keep their repeated
work, and fit their blocks in an SM's registers.

No GPU is needed: NVRTC, the compiler CuPy's ``RawModule`` runs, takes the module here with
the backend's options and CuPy's own (``-ftz=true`` among them) for Ampere and Hopper, and
assembles it (ptxas: ``%smid``, ``mma.sync``); the PTX shows the repeated operations that
must not be merged or folded are all there.
"""

from __future__ import annotations

import ctypes
import re
from importlib.resources import files

import pytest
from _nvrtc import CUPY_OPTIONS, compile_ptx

from sentinel.fleet.probes import workloads
from sentinel.fleet.probes.gpu import _SHAPES, OPTIONS

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


@pytest.fixture(scope="module", params=["80", "90"])
def built(request: pytest.FixtureRequest, nvrtc: ctypes.CDLL) -> tuple[str, str, str]:
    """The architecture, and the PTX and ptxas report of the module built for it."""
    arch = request.param
    options = (*OPTIONS, *CUPY_OPTIONS, f"-arch=sm_{arch}", "--ptxas-options=-v")
    return (arch, *compile_ptx(nvrtc, SOURCE.read_text(), options))


def _entry(ptx: str, name: str) -> str:
    match = re.search(rf"\.entry {name}\((.*?)\n}}\n", ptx, re.S)
    assert match, f"kernel {name} missing from the PTX"
    return match.group(1)


def test_kernels_assemble_for_ampere_and_hopper(built: tuple[str, str, str]) -> None:
    arch, _, log = built
    assembled = set(re.findall(rf"Compiling entry function '(\w+)' for 'sm_{arch}'", log))
    assert assembled == {*KERNELS, "sm_ids"}


def test_every_probe_reads_its_sm_and_keeps_its_repeated_work(
    built: tuple[str, str, str],
) -> None:
    _, ptx, _ = built
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


def test_every_block_fits_in_an_sms_register_file(built: tuple[str, str, str]) -> None:
    """A block needs threads x registers <= 65,536, or its launch fails: the 1,024-thread FMA
    blocks (and their fault twin) may use 64 registers a thread at most."""
    _, _, log = built
    used: dict[str, int] = {}
    entry = ""
    for line in log.splitlines():
        if found := re.search(r"Compiling entry function '(\w+)'", line):
            entry = found.group(1)
        elif found := re.search(r"Used (\d+) registers", line):
            used[entry] = int(found.group(1))
    threads = {shape.kernel: shape.threads for shape in _SHAPES.values()}
    for name in KERNELS:
        block = threads[name.removesuffix("_faults")]
        assert used[name] * block <= 65536, f"{name}: {used[name]} registers x {block} threads"
    assert used["fma_probe"] * workloads.LANES <= 65536  # the TMR launch too


def test_the_chain_fault_path_keeps_subnormals_under_cupys_flush_to_zero(
    built: tuple[str, str, str],
) -> None:
    """CuPy compiles with -ftz=true, under which a float instruction reads a subnormal as zero;
    the model on the host does not. The chain kernels' fault code (the range trigger included)
    must therefore use no float instruction that flushes, while the option is in effect."""
    _, ptx, _ = built
    assert ".ftz." in _entry(ptx, "transcendental_probe")  # the option reached the compiler
    for name in ("fma_probe_faults", "tensor_probe_faults"):
        body = _entry(ptx, name)
        assert not re.findall(r"\.ftz\b|setp\.\w+\.f32", body), name
