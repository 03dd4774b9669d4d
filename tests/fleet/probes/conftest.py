"""The CUDA compilers, for the tests that build the probe kernels without a GPU."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import _nvrtc
import pytest


def _missing(msg: str) -> None:
    """Skip the test, or fail it under CI, whose machine has the compilers."""
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def nvcc() -> str:
    """nvcc's path, for host builds of the kernels' ``__host__ __device__`` code."""
    path = shutil.which("nvcc")
    if path is None:
        _missing("nvcc not found: install the CUDA toolkit to build the probe kernels")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def nvrtc() -> ctypes.CDLL:
    """libnvrtc from the ``nvidia-cuda-nvrtc`` wheel: the compiler CuPy uses on a GPU host."""
    lib = _nvrtc.library()
    if lib is None:
        _missing("libnvrtc not found: pip install 'nvidia-cuda-nvrtc~=13.0.0'")
    assert lib is not None
    return lib


KERNELS = Path(str(files("sentinel.fleet.probes").joinpath("kernels")))
HARNESS = r"""
#include <math.h>
#include "probes.cu"

extern "C" void chains_host(const float* x0, const float* a, const float* b, const u32* lanes,
                            int iters, int chains, const u32* table, const int* always,
                            const int* offsets, const int* ev_step, const int* ev_fault,
                            int slot, u32* out) {
    for (int k = 0; k < chains; ++k) {
        ChainFaults c = chain_faults(table, always, offsets, ev_step, ev_fault, slot, chains, k,
                                     lanes[k]);
        out[k] = float_bits(fma_chain_faults(x0[k], a[k], b[k], iters, c));
    }
}

extern "C" void triggers_host(const u32* row, const u32* operands, int n, unsigned char* out) {
    for (int i = 0; i < n; ++i) out[i] = triggers(row, operands[i]);
}

extern "C" void words_host(u32* o, const u32* table, const int* offsets, const int* ev_word,
                           const int* ev_fault, int slot) {
    word_hits(o, table, offsets, ev_word, ev_fault, slot);
}
"""


@pytest.fixture(scope="session")
def host(nvcc: str, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The kernels' ``__host__ __device__`` fault code (the source NVRTC compiles), built by
    nvcc into a host library with entry points that walk it as the kernels do."""
    tmp = tmp_path_factory.mktemp("harness")
    (tmp / "harness.cu").write_text(HARNESS)
    lib = tmp / "libharness.so"
    done = subprocess.run(
        [nvcc, "-shared", "-O3", "-Xcompiler", "-fPIC", "-std=c++14", "-arch=sm_90"]
        + ["-I", str(KERNELS), "-o", str(lib), str(tmp / "harness.cu")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return ctypes.CDLL(str(lib))
