"""The GPU kernels' per-word fault code gives the CPU model's words, bit for bit.

No GPU is needed: nvcc builds the kernels' ``__host__ __device__`` fault functions (the same
source NVRTC compiles) into a host library, and these tests feed it the tables the GPU backend
builds for its ``*_faults`` kernels. The FMA chains round once on both sides (``fmaf`` on the
host, ``fma.rn.f32`` on the GPU, and ``Chain(fused=True)`` in the model).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from sentinel.fleet.probes import DeviceInfo, FaultSpec, GpuBackend, workloads
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes._kernel_faults import (
    MAX_ALWAYS,
    FaultTables,
    chain_tables,
    encode,
    word_tables,
)
from sentinel.fleet.probes.faults import Corruption, FaultBook, LiveFault
from sentinel.fleet.types import ProbeType

SM_COUNT = 8
SMIDS = [14, 2, 9, 0, 11, 5, 7, 3]
"""The %smid of each dense SM: not in order, as on a GPU."""


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


def _corruption(faults: dict[int, list[FaultSpec]], run: int) -> Corruption:
    corruption = Corruption.none(SM_COUNT)
    for sm, specs in faults.items():
        corruption.per_word[sm] = [LiveFault(spec, run) for spec in specs]
    return corruption


def _run_chains(
    host: ctypes.CDLL, tables: FaultTables, slot: int, chain: Chain, x0: np.ndarray
) -> np.ndarray:
    out = np.zeros(len(chain.lanes), np.uint32)
    arrays = [np.ascontiguousarray(v) for v in (x0, chain.a, chain.b)]
    lanes = chain.lanes.astype(np.uint32)
    table, always = tables.table.ravel(), tables.always.ravel()
    host.chains_host(
        *map(_ptr, arrays),
        _ptr(lanes),
        ctypes.c_int(chain.steps),
        ctypes.c_int(len(chain.lanes)),
        _ptr(table),
        _ptr(always),
        _ptr(tables.offsets),
        _ptr(tables.at),
        _ptr(tables.fault),
        ctypes.c_int(slot),
        _ptr(out),
    )
    return out


CHAIN_FAULTS = [
    [FaultSpec("flip_bit", 3, bit=12, word_rate=2e-4, seed=1)],
    [FaultSpec("flip_bit", 3, bit=27, lane=9, seed=2)],
    [FaultSpec("stuck_bit", 3, bit=5, word_rate=1e-3, lane=17, seed=3)],
    [FaultSpec("ulp_error", 3, ulp=2, word_rate=3e-4, seed=4)],
    [FaultSpec("flip_bit", 3, bit=8, word_rate=0.01, operand_mask=0xF, operand_value=6, seed=5)],
    [FaultSpec("ulp_error", 3, operand_range=(2.0**60, np.inf), seed=6)],
    [
        FaultSpec("flip_bit", 3, bit=3, word_rate=5e-4, seed=7),
        FaultSpec("stuck_bit", 3, bit=1, word_rate=0.02, operand_mask=0x3, seed=8),
        FaultSpec("flip_bit", 3, bit=30, lane=4, operand_mask=0x10, operand_value=0x10, seed=9),
    ],
]


@pytest.mark.parametrize("specs", CHAIN_FAULTS)
def test_fma_kernel_chains_end_where_the_fused_model_does(
    host: ctypes.CDLL, specs: list[FaultSpec]
) -> None:
    steps, run = 1501, 4
    inputs = workloads.fma_inputs(21)
    lanes = np.arange(workloads.LANES) % workloads.WARP
    healthy_sm = specs[0].sm_id + 2
    other = FaultSpec("flip_bit", healthy_sm + 1, bit=0, word_rate=1e-3, seed=99)
    tables = chain_tables(
        _corruption({specs[0].sm_id: specs, other.sm_id: [other]}, run),
        list(range(SM_COUNT)),
        SMIDS,
        max(SMIDS) + 1,
        lanes,
        steps,
    )
    assert tables is not None
    assert tables.slot_of[SMIDS[healthy_sm]] == -1
    slot = int(tables.slot_of[SMIDS[specs[0].sm_id]])
    chain = Chain(inputs.x0, inputs.a, inputs.b, steps, lanes, fused=True)
    want = chain.run([LiveFault(spec, run) for spec in specs])
    got = _run_chains(host, tables, slot, chain, inputs.x0)
    assert not np.array_equal(want, chain.golden), "the fault changed some words"
    np.testing.assert_array_equal(got, want)
    no_fault = chain_tables(
        _corruption({}, run), list(range(SM_COUNT)), SMIDS, max(SMIDS) + 1, lanes, steps
    )
    assert no_fault is None


@pytest.mark.parametrize("specs", CHAIN_FAULTS[:4] + CHAIN_FAULTS[6:])
def test_tensor_kernel_accumulators_end_where_the_model_does(
    host: ctypes.CDLL, specs: list[FaultSpec]
) -> None:
    """Each accumulator is a chain ``d + (A @ B)[i, j]`` on the lane that holds it."""
    steps, run = 700, 2
    chain = workloads.tensor_chain(steps, seed=5)
    tables = chain_tables(
        _corruption({specs[0].sm_id: specs}, run),
        list(range(SM_COUNT)),
        SMIDS,
        max(SMIDS) + 1,
        workloads.TENSOR_LANES,
        steps,
    )
    assert tables is not None
    want = chain.run([LiveFault(spec, run) for spec in specs])
    x0 = chain.at(0, np.arange(len(chain.lanes)))
    got = _run_chains(host, tables, int(tables.slot_of[SMIDS[specs[0].sm_id]]), chain, x0)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "specs",
    [
        [FaultSpec("ulp_error", 6, word_rate=1e-3, seed=11)],
        [FaultSpec("bad_transcendental", 6, lane=3, word_rate=0.01, seed=12)],
        [
            FaultSpec("flip_bit", 6, bit=31, operand_range=(0.0, 1e-20), seed=13),
            FaultSpec("stuck_bit", 6, bit=0, operand_mask=0x7, operand_value=0x5, seed=14),
        ],
    ],
)
def test_transcendental_kernel_results_are_hit_as_the_model_hits_them(
    host: ctypes.CDLL, specs: list[FaultSpec]
) -> None:
    n, seed, run, sm = 2048, 3, 7, 6
    golden = workloads.transcendental_golden(n, seed)
    operands = np.concatenate(list(workloads.transcendental_inputs(n, seed).values()))
    tables = word_tables(
        _corruption({sm: specs}, run), [sm, 1], [SMIDS[sm], SMIDS[1]], 16, operands.view(np.uint32)
    )
    assert tables is not None and tables.slot_of[SMIDS[1]] == -1
    want = workloads.transcendental(np.array([sm]), n, seed, golden, _corruption({sm: specs}, run))
    got = golden.copy()
    host.words_host(
        _ptr(got),
        _ptr(tables.table.ravel()),
        _ptr(tables.offsets),
        _ptr(tables.at),
        _ptr(tables.fault),
        ctypes.c_int(int(tables.slot_of[SMIDS[sm]])),
    )
    assert not np.array_equal(got, golden)
    np.testing.assert_array_equal(got, want[0])


def _special_operands() -> np.ndarray:
    """Random words (NaNs among them), and the edges of the float32 number line: zeros of
    both signs, subnormals, the smallest normals, infinities, NaNs and each one's neighbours."""
    edges = np.array(
        [0, 1, 2, 0x7FFFFF, 0x800000, 0x800001, 0x3F800000, 0x7F7FFFFF, 0x7F800000]
        + [0x7F800001, 0x7FC00000, 0x7FFFFFFF],
        np.uint32,
    )
    edges = np.concatenate([edges, edges | np.uint32(1 << 31)])
    near = np.concatenate([edges - np.uint32(1), edges + np.uint32(1), edges])
    spread = np.random.default_rng(5).integers(0, 1 << 32, 20_000, dtype=np.uint64)
    return np.concatenate([near, spread.astype(np.uint32)])


@pytest.mark.parametrize(
    "bounds",
    [
        (0.0, 1e-40),  # subnormals only: a flushing comparison would read them as 0
        (-1e-39, 1e-39),
        (-0.0, 2.0**-126),  # -0 and +0 alike, as IEEE compares them
        (2.0**110, np.inf),
        (-np.inf, -1.5),
        (-3.0, -1e-45),
        (0.1, 0.30000001),  # bounds that float32 rounds, as the fault table does
    ],
)
def test_the_kernels_range_trigger_is_the_models(
    host: ctypes.CDLL, bounds: tuple[float, float]
) -> None:
    """The kernels compare the integers that order float32s (CuPy builds them with -ftz=true,
    which would flush subnormals in a float comparison); they agree with the model's float32
    comparison on every operand, NaN included."""
    spec = FaultSpec("flip_bit", 1, bit=0, operand_range=bounds, seed=3)
    operands = _special_operands()
    got = np.zeros(operands.size, np.uint8)
    row = encode(spec, sfu=False)
    host.triggers_host(_ptr(row), _ptr(operands), ctypes.c_int(operands.size), _ptr(got))
    want = LiveFault(spec, 0).triggered(operands)
    assert 0 < want.sum() < operands.size
    np.testing.assert_array_equal(got.astype(bool), want)


def test_more_faults_on_every_operation_than_the_kernels_hold_are_refused() -> None:
    specs = [FaultSpec("flip_bit", 1, bit=b, lane=b) for b in range(MAX_ALWAYS + 1)]
    lanes = np.arange(workloads.LANES) % workloads.WARP
    with pytest.raises(ValueError, match="at most 4"):
        chain_tables(_corruption({1: specs}, 1), [1], [SMIDS[1]], 16, lanes, 11)


def test_the_gpu_backend_refuses_per_word_faults_its_kernels_cannot_take() -> None:
    backend = object.__new__(GpuBackend)  # no GPU here: inject decides before touching one
    backend._faults = FaultBook()
    backend._devices = [DeviceInfo(0, "GPU-0", "H100", "580", "96.00", 132)]
    chain_units = frozenset({ProbeType.FMA, ProbeType.TENSOR_CORE})
    with pytest.raises(ValueError, match=r"probe_types 1, 2 and 3"):
        backend.inject(0, FaultSpec("flip_bit", 0, lane=4))  # every probe, the memory ones too
    with pytest.raises(ValueError, match="register, memory, AES"):
        backend.inject(0, FaultSpec("stuck_bit", 0, register=7, probe_types=chain_units))
    for bit in range(MAX_ALWAYS):
        backend.inject(0, FaultSpec("flip_bit", 5, bit=bit, lane=bit, probe_types=chain_units))
    with pytest.raises(ValueError, match="already has 4 per-word faults on every operation"):
        backend.inject(0, FaultSpec("flip_bit", 5, bit=9, lane=9, probe_types=chain_units))
    backend.inject(0, FaultSpec("flip_bit", 5, bit=9, word_rate=1e-4, probe_types=chain_units))
    backend.inject(0, FaultSpec("flip_bit", 6, bit=9, lane=9, probe_types=chain_units))
    assert len(backend._faults.armed(0)) == MAX_ALWAYS + 2, "refused faults were not armed"
