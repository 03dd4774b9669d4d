"""The host's fused multiply-add matches C's ``fmaf`` bit for bit, so the GPU backend can check
FMA probes with new operands every run against host goldens.

The reference is the C library's ``fmaf`` (correctly rounded by C99), called through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np
import pytest

from sentinel.fleet.probes import GpuBackend, workloads
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes._fused import fma32
from sentinel.fleet.types import ProbeType

_U32 = np.uint32


@pytest.fixture(scope="module")
def fmaf() -> ctypes._CFuncPtr:
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    fn = libm.fmaf
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float] * 3
    return fn


def _c(fmaf: ctypes._CFuncPtr, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([fmaf(*map(float, t)) for t in zip(x, a, b, strict=True)], np.float32)


def _bits(v: np.ndarray) -> np.ndarray:
    """uint32 words with every NaN folded to one, since C and NumPy may pick other payloads."""
    return np.where(np.isnan(v), _U32(0x7FC00000), v.view(_U32))


def test_random_words_of_every_kind_round_as_c_fmaf(fmaf: ctypes._CFuncPtr) -> None:
    """Random bit patterns (subnormals, huge and tiny, both signs), half of them with an addend
    that nearly cancels the product."""
    rng = np.random.default_rng(7)
    n = 40_000

    def words() -> np.ndarray:
        v = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(_U32).view(np.float32)
        return np.where(np.isfinite(v), v, np.float32(1.5))

    x, a = words(), words()
    with np.errstate(over="ignore"):
        near = (-(x.astype(np.float64) * a)).astype(np.float32)
    b = np.where((rng.random(n) < 0.5) | ~np.isfinite(near), words(), near)
    np.testing.assert_array_equal(_bits(fma32(x, a, b)), _bits(_c(fmaf, x, a, b)))


def test_sums_that_round_twice_to_a_tie_are_rounded_once(fmaf: ctypes._CFuncPtr) -> None:
    """(1 + i/4096)(1 + j/4096) with i, j odd lies exactly halfway between two float32 values;
    an addend far below float64's precision decides the rounding, which float64 arithmetic
    then float32 rounding gets wrong half the time."""
    i, j = np.meshgrid(np.arange(1, 64, 2), np.arange(1, 64, 2))
    x = (1 + i.ravel() * 2.0**-12).astype(np.float32)
    a = (1 + j.ravel() * 2.0**-12).astype(np.float32)
    sign = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0)
    b = (sign * 2.0 ** -(60 + np.arange(x.size) % 40)).astype(np.float32)
    want = _c(fmaf, x, a, b).view(_U32)
    twice = (x.astype(np.float64) * a + b).astype(np.float32).view(_U32)
    assert (twice != want).sum() >= x.size // 4, "the cases do need the single rounding"
    np.testing.assert_array_equal(fma32(x, a, b).view(_U32), want)


def _stepwise(fmaf: ctypes._CFuncPtr, x0: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
    x = x0.copy()
    for _ in range(n):
        x = _c(fmaf, x, a, b)
    return x.view(_U32)


def _golden(x0: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """The healthy final words of fused chains, as the GPU backend's reference computes them."""
    return Chain(x0, a, b, steps, np.arange(len(x0)) % 32, fused=True).golden


@pytest.mark.parametrize("steps", [1, 2, 301, 302])
def test_chains_settled_or_alternating_end_as_every_step_computed(
    fmaf: ctypes._CFuncPtr, steps: int
) -> None:
    """The probe's chains settle at a fixed point; ``x <- 1 - x`` alternates; the shortcut
    takes the step count's parity into account, rounding once or (the CPU model) twice."""
    inputs = workloads.fma_inputs(3)
    lanes = np.r_[0:24, 1000:1024]
    x0 = np.r_[inputs.x0[lanes], np.float32([0.25, -3.5])]
    a = np.r_[inputs.a[lanes], np.float32([-1, -1])]
    b = np.r_[inputs.b[lanes], np.float32([1, 2])]
    got = _golden(x0, a, b, steps)
    np.testing.assert_array_equal(got, _stepwise(fmaf, x0, a, b, steps))
    assert got[-2] == np.float32(0.75 if steps % 2 else 0.25).view(_U32)
    x = x0.copy()
    for _ in range(steps):
        x = np.add(np.multiply(x, a), b)
    twice = Chain(x0, a, b, steps, np.arange(len(x0)) % 32).golden
    np.testing.assert_array_equal(twice, x.view(_U32))


def test_the_gpu_backend_checks_each_run_against_the_operands_it_launches(
    fmaf: ctypes._CFuncPtr,
) -> None:
    """The FMA launch arguments and the host golden of a run come from the same seed, and
    each run's seed brings other operands. No GPU here: NumPy stands in for CuPy's arrays."""
    backend = object.__new__(GpuBackend)
    backend._cp = np
    backend._seeds = {}
    backend._locks_guard = threading.Lock()
    seeds = [backend._seed(0, ProbeType.FMA) for _ in range(3)]
    assert seeds == [1, 2, 3], "every FMA run draws a new seed"
    steps = 101
    for seed in seeds[:2]:
        (x0, a, b, n), width, _ = backend._probe_args(None, ProbeType.FMA, steps, seed)
        assert int(n) == steps and width == workloads.LANES
        golden = _golden(x0, a, b, steps)
        np.testing.assert_array_equal(_stepwise(fmaf, x0[:32], a[:32], b[:32], steps), golden[:32])
        reference = GpuBackend._reference(backend, 0, ProbeType.FMA, False, seed)
        assert reference is not None
        inputs = workloads.fma_inputs(seed)
        np.testing.assert_array_equal(
            reference, _golden(inputs.x0, inputs.a, inputs.b, workloads.FMA_STEPS[0])
        )
        np.testing.assert_array_equal(x0, inputs.x0)
    first, second = (workloads.fma_inputs(s).x0 for s in seeds[:2])
    assert not np.array_equal(first, second)
