"""The CUDA toolkit's compiler, for the tests that build the probe kernels without a GPU."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def nvcc() -> str:
    """nvcc's path; missing, it skips the test, or fails it under CI (whose machine has it)."""
    path = shutil.which("nvcc")
    if path is None:
        msg = "nvcc not found: install the CUDA toolkit to build the probe kernels"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path
