"""The CUDA compilers, for the tests that build the probe kernels without a GPU."""

from __future__ import annotations

import ctypes
import os
import shutil

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
