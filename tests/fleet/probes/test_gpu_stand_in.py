"""The GPU backend, launch by launch and run by run, on a stand-in for the GPU.

No GPU is needed, and none can run in CI: stand-ins for CuPy (NumPy arrays as device memory)
and NVML take the backend's calls, and each launch is checked against the kernel's parameters
as ``kernels/probes.cu`` declares them: one argument per parameter, of its element type;
per-SM arrays sized by %nsmid; inputs, outputs and fault tables at least as long as the kernel
indexes them. A wrong argument would otherwise show only on a GPU, as garbage or a crash.
Blocks land on the SMs as ``enter`` places them: ``SMIDS`` round robin, not in order.

The stand-in kernels also compute: healthy words as the CPU model does (the tensor cores'
rounding aside, which the backend's per-set goldens absorb), whole-SM masks as ``corrupt``
applies them, and per-word faults through the kernels' own fault code, built for the host by
nvcc. So ``GpuBackend.run`` goes its whole way here (reseeded operands, host and stored
goldens, judging), and an injected fault fails its SM as it should on a GPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import re
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sentinel.fleet.probes import FaultSpec, GpuBackend, aes, workloads
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes._kernel_faults import FAULT_WORDS, MAX_ALWAYS
from sentinel.fleet.probes.faults import Corruption, LiveFault
from sentinel.fleet.probes.gpu import _SHAPES, OPTIONS, SKIPPED
from sentinel.fleet.types import ProbeResult, ProbeType

SOURCE = files("sentinel.fleet.probes").joinpath("kernels/probes.cu").read_text()
SMIDS = [14, 2, 9, 0, 11, 5, 7, 3]
"""The %smid of each SM the stand-in GPU has, in the order blocks land on them; %nsmid is 16."""
NSMID = 16
PHYSICAL = sorted(SMIDS)
"""SM ``k`` of the backend is the ``k``-th smallest %smid."""
PER_SMID = {"selected", "or_mask", "xor_mask", "sfu_xor", "slot_of", "rank", "claimed"}
ELEMENT = {
    "float": np.float32,
    "u32": np.uint32,
    "u16": np.uint16,
    "u8": np.uint8,
    "int": np.int32,
    "long long": np.int64,
}
NREG = len(workloads.REGISTER_PATTERNS)
RUN_PROBES = [p for p in ProbeType if p != ProbeType.UNSPECIFIED]
TELEMETRY = {"temperature_c": 61, "sm_clock_mhz": 1980}
"""What the stand-in NVML reads; a test may change it (the fixture puts it back)."""


def _signatures(source: str) -> dict[str, list[tuple[str, bool, str]]]:
    """Kernel name -> its parameters: (element type, pointer, name)."""
    found = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\((.*?)\)\s*\{', source, re.S):
        parsed = []
        for param in params.split(","):
            match = re.fullmatch(r"(?:const )?(\w+(?: long)?)\s*(\*?)\s*(\w+)", param.strip())
            assert match, f"{name}: cannot read parameter {param!r}"
            parsed.append((match.group(1), bool(match.group(2)), match.group(3)))
        found[name] = parsed
    return found


SIGNATURES = _signatures(SOURCE)


class _Memory(np.ndarray):
    """Device memory: a NumPy array that CuPy's ``get`` copies back."""

    def get(self) -> np.ndarray:
        return np.array(self)


def _device(array: Any) -> _Memory:
    return np.array(array).view(_Memory)


@dataclass
class Launch:
    name: str
    block: int
    args: dict[str, Any]


@dataclass
class _Kernel:
    name: str
    launches: list[Launch]
    host: ctypes.CDLL | None
    shared_size_bytes: int = 16
    max_dynamic_shared_size_bytes: int = 0

    def __call__(
        self, grid: tuple[int], block: tuple[int], args: tuple, shared_mem: int = 0
    ) -> None:
        params = SIGNATURES[self.name]
        assert len(args) == len(params), f"{self.name}: {len(args)} args for {len(params)}"
        named = {}
        for arg, (element, pointer, pname) in zip(args, params, strict=True):
            want = ELEMENT[element]
            if pointer:
                assert isinstance(arg, _Memory), f"{self.name}.{pname}: {type(arg)}, not memory"
                assert arg.dtype == want, f"{self.name}.{pname}: {arg.dtype}, not {want}"
            else:
                assert type(arg) is want, f"{self.name}.{pname}: {type(arg)}, not {want}"
            if pname in PER_SMID:
                assert arg.size == NSMID, f"{self.name}.{pname} has {arg.size} SMs, not {NSMID}"
            named[pname] = arg
        assert block[0] <= 1024 and shared_mem <= max(self.max_dynamic_shared_size_bytes, 48 << 10)
        self.launches.append(Launch(self.name, block[0], named))
        _check_extents(self.name, grid[0], block[0], named)
        self._enter(grid[0], named)
        if self.host is not None and self.name != "sm_ids":
            _compute(self.host, self.name, block[0], named)

    def _enter(self, grid: int, args: dict[str, Any]) -> None:
        """Each block records its SM, or SKIPPED where the SM is not selected (or, for the
        memory probe, already claimed by an earlier block)."""
        for b in range(grid):
            sm = SMIDS[b % len(SMIDS)]
            if self.name == "sm_ids":
                args["block_sm"][b] = sm
                args["nsmid"][0] = NSMID
                continue
            on = bool(args["selected"][sm])
            if on and self.name == "memory_probe":
                on = not args["claimed"][sm]
                args["claimed"][sm] = 1
            args["block_sm"][b] = sm if on else SKIPPED


def _check_extents(name: str, grid: int, block: int, a: dict[str, Any]) -> None:
    """The elements each array must hold, as the kernel indexes it."""
    base = name.removesuffix("_faults")
    need: dict[str, int] = {"block_sm": grid}
    if base == "fma_probe":
        need |= {"x0": block, "a": block, "b": block, "out": grid * block}
    elif base == "tensor_probe":
        assert block == workloads.WARP
        need |= {"a": 256, "b": 128, "c0": 128, "out": grid * 128}
    elif base == "transcendental_probe":
        n = int(a["n"])
        need |= {"xs": n, "xc": n, "xe": n, "xl": n, "out": grid * 4 * n}
    elif base == "aes_probe":
        need |= {"plain": 16 * int(a["n"]), "round_keys": 176, "sbox_in": 256}
        need["out"] = grid * 4 * int(a["n"])
    elif base == "register_probe":
        need |= {"patterns": NREG, "out": grid * block * NREG}
    elif base == "memory_probe":
        need |= {"mem": len(SMIDS) * int(a["words"]), "out": grid * 2}
        assert int(a["rank"].max()) == len(SMIDS) - 1
    elif base == "shared_probe":
        need["out"] = grid * 2
    for pname, count in need.items():
        assert a[pname].size >= count, f"{name}.{pname}: {a[pname].size} < {count}"
    if name.endswith("_faults"):
        _check_tables(name, block, a)


def _check_tables(name: str, block: int, a: dict[str, Any]) -> None:
    """The fault tables index as the kernel walks them: a slot per faulty SM, CSR offsets per
    (slot, chain) or per slot, events inside the run."""
    faults = a["table"].size // FAULT_WORDS
    assert a["table"].size == faults * FAULT_WORDS and faults > 0
    slots = int((a["slot_of"] >= 0).sum())
    assert sorted(a["slot_of"][a["slot_of"] >= 0]) == list(range(slots))
    offsets, events = a["offsets"], a["ev_fault"].size - 1  # one padding element
    if name == "transcendental_probe_faults":
        assert offsets.size == slots + 1
        assert (a["ev_word"][:events] < 4 * int(a["n"])).all()
    else:
        chains = block if name == "fma_probe_faults" else 128
        assert offsets.size == slots * chains + 1
        assert a["always"].size == slots * MAX_ALWAYS
        assert (a["always"] < faults).all()
        assert (a["ev_step"][:events] < int(a["iters"])).all()
    assert offsets[0] == 0 and offsets[-1] == events and (np.diff(offsets) >= 0).all()
    assert ((a["ev_fault"][:events] >= 0) & (a["ev_fault"][:events] < faults)).all()


def _compute(host: ctypes.CDLL, name: str, block: int, a: dict[str, Any]) -> None:
    """Write each working block's words as the kernel would."""
    base = name.removesuffix("_faults")
    healthy = _healthy(base, block, a)
    width = healthy.size
    slot_of = a.get("slot_of")
    done: dict[int, np.ndarray] = {}  # the blocks of one SM compute the same words
    for b, sm in enumerate(a["block_sm"]):
        if sm == SKIPPED:
            continue
        if sm in done:
            a["out"][b * width : (b + 1) * width] = done[sm]
            continue
        if base in _INSIDE:  # masks that act inside the work: the CPU model's computation
            masks = Corruption(a["or_mask"][[sm]], a["xor_mask"][[sm]], np.zeros(1, np.uint32))
            a["out"][b * width : (b + 1) * width] = done[sm] = _INSIDE[base](a, masks)
            continue
        words = (healthy | a["or_mask"][sm]) ^ a["xor_mask"][sm]
        if base == "transcendental_probe":
            words = ((healthy ^ a["sfu_xor"][sm]) | a["or_mask"][sm]) ^ a["xor_mask"][sm]
        if slot_of is not None and slot_of[sm] >= 0:
            words = _hit_words(host, base, block, a, int(slot_of[sm]), words, sm)
        a["out"][b * width : (b + 1) * width] = done[sm] = words


def _aes(a: dict[str, Any], masks: Corruption) -> np.ndarray:
    """AES-128 with the SM's masks on the state after round 5, where the kernel applies them."""
    plain = np.array(a["plain"]).reshape(-1, 16)[: int(a["n"])]
    keys = np.array(a["round_keys"]).reshape(11, 16)

    def tamper(state: np.ndarray) -> np.ndarray:
        words = state.reshape(1, -1).view(np.uint32)
        return masks.apply(words, np.zeros(1, int)).view(np.uint8).reshape(-1, 16)

    return aes.encrypt(plain, keys, tamper).reshape(-1).view(np.uint32)


def _cells(march: list[tuple[str, int]], words: int, masks: Corruption) -> np.ndarray:
    """A march test's report of one SM's cells read through its masks: misreads, bits."""
    return workloads.march(np.empty((1, words), np.uint32), np.zeros(1, int), march, masks)[0]


_INSIDE = {
    "aes_probe": _aes,
    "memory_probe": lambda a, m: _cells(
        workloads.mats_plus(bool(a["walking"])), int(a["words"]), m
    ),
    "shared_probe": lambda a, m: _cells(
        workloads.march_c_minus(int(a["backgrounds"])), int(a["words"]), m
    ),
}


def _healthy(base: str, block: int, a: dict[str, Any]) -> np.ndarray:
    """One block's words with no fault: the CPU model's computation of the same operands."""
    if base == "fma_probe":
        lanes = np.arange(block) % workloads.WARP
        return Chain(a["x0"], a["a"], a["b"], int(a["iters"]), lanes, fused=True).golden
    if base == "tensor_probe":
        return _tensor(a).golden
    if base == "transcendental_probe":
        args = [a[k].astype(np.float64) for k in ("xs", "xc", "xe", "xl")]
        results = [f(x) for f, x in zip((np.sin, np.cos, np.exp, np.log), args, strict=True)]
        return np.concatenate(results).astype(np.float32).view(np.uint32)
    if base == "register_probe":
        assert block == workloads.WARP  # an even number of inversions leaves each pattern
        return workloads.register_expected()
    return _INSIDE[base](a, Corruption.none(1))  # AES and the cell tests


def _tensor(a: dict[str, Any]) -> Chain:
    """The accumulators as chains ``d + (A @ B)[i, j]``, as ``workloads.tensor_chain``."""
    mat_a = np.array(a["a"]).view(np.float16).astype(np.float32).reshape(16, 16)
    mat_b = np.array(a["b"]).view(np.float16).astype(np.float32).reshape(16, 8)
    product = (mat_a @ mat_b).reshape(-1)
    iters = int(a["iters"])
    c0 = np.array(a["c0"]).reshape(-1)
    return Chain(c0, np.ones_like(product), product, iters, workloads.TENSOR_LANES)


def _hit_words(
    host: ctypes.CDLL,
    base: str,
    block: int,
    a: dict[str, Any],
    slot: int,
    words: np.ndarray,
    sm: int,
) -> np.ndarray:
    """The words of a block whose SM has per-word faults, through the kernels' fault code."""
    ptr = [ctypes.c_void_p(x.ctypes.data) for x in (a["table"], a["offsets"], a["ev_fault"])]
    if base == "transcendental_probe":
        words = np.ascontiguousarray(words)
        at = ctypes.c_void_p(a["ev_word"].ctypes.data)
        host.words_host(ctypes.c_void_p(words.ctypes.data), ptr[0], ptr[1], at, ptr[2], slot)
        return words
    if base == "fma_probe":
        lanes = (np.arange(block) % workloads.WARP).astype(np.uint32)
        chain = (np.array(a["x0"]), np.array(a["a"]), np.array(a["b"]))
    else:
        tensor = _tensor(a)
        lanes = workloads.TENSOR_LANES.astype(np.uint32)
        chain = (np.array(a["c0"]).reshape(-1), tensor.a, tensor.b)
    out = np.zeros(lanes.size, np.uint32)
    x0, mul, add = (np.ascontiguousarray(x, np.float32) for x in chain)  # alive for the call
    host.chains_host(
        *(ctypes.c_void_p(x.ctypes.data) for x in (x0, mul, add)),
        ctypes.c_void_p(lanes.ctypes.data),
        ctypes.c_int(int(a["iters"])),
        ctypes.c_int(lanes.size),
        ptr[0],
        ctypes.c_void_p(a["always"].ctypes.data),
        ptr[1],
        ctypes.c_void_p(a["ev_step"].ctypes.data),
        ptr[2],
        ctypes.c_int(slot),
        ctypes.c_void_p(out.ctypes.data),
    )
    return (out | a["or_mask"][sm]) ^ a["xor_mask"][sm]


class _Module:
    def __init__(
        self,
        code: str,
        options: tuple[str, ...],
        launches: list[Launch],
        host: ctypes.CDLL | None,
    ) -> None:
        assert code == SOURCE and options == OPTIONS
        self.launches = launches
        self.host = host
        self.kernels: dict[str, _Kernel] = {}

    def get_function(self, name: str) -> _Kernel:
        assert name in SIGNATURES, f"no kernel {name} in probes.cu"
        return self.kernels.setdefault(name, _Kernel(name, self.launches, self.host))


class _Device:
    pci_bus_id = "0000:41:00.0"
    compute_capability = "90"
    attributes = {"MultiProcessorCount": len(SMIDS)}

    def __init__(self, index: int = 0) -> None:
        assert index == 0

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Event:
    done = True

    def record(self) -> None:
        return None


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[GpuBackend, list[Launch]]:
    """A backend on the stand-in GPU, whose kernels check their launches only."""
    return _stand_in(monkeypatch, tmp_path, None)


@pytest.fixture
def computing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: ctypes.CDLL
) -> tuple[GpuBackend, list[Launch]]:
    """A backend on the stand-in GPU, whose kernels also compute their words."""
    return _stand_in(monkeypatch, tmp_path, host)


def _stand_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: ctypes.CDLL | None
) -> tuple[GpuBackend, list[Launch]]:
    launches: list[Launch] = []
    runtime = SimpleNamespace(
        getDeviceCount=lambda: 1,
        CUDARuntimeError=RuntimeError,
        cudaDevAttrMaxSharedMemoryPerBlockOptin=97,
        deviceGetAttribute=lambda attribute, index: 232_448,
        runtimeGetVersion=lambda: 13000,
    )
    cupy = SimpleNamespace(
        __version__="14.2.0",
        uint32=np.uint32,
        zeros=lambda n, dtype: _device(np.zeros(n, dtype)),
        full=lambda n, value, dtype: _device(np.full(n, value, dtype)),
        asarray=_device,
        RawModule=lambda code, options: _Module(code, options, launches, host),
        cuda=SimpleNamespace(
            Device=_Device,
            Event=_Event,
            get_elapsed_time=lambda start, stop: 0.25,
            runtime=runtime,
            nvrtc=SimpleNamespace(getVersion=lambda: (13, 0)),
        ),
    )
    nvml = SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByPciBusId=lambda bus: bus,
        nvmlDeviceGetUUID=lambda handle: "GPU-5e1f",
        nvmlDeviceGetName=lambda handle: b"Stand-in H100",
        nvmlSystemGetDriverVersion=lambda: "580.159.04",
        nvmlDeviceGetVbiosVersion=lambda handle: "96.00.99.00.01",
        nvmlDeviceGetTemperature=lambda handle, sensor: TELEMETRY["temperature_c"],
        nvmlDeviceGetClockInfo=lambda handle, clock: TELEMETRY["sm_clock_mhz"],
        NVML_TEMPERATURE_GPU=0,
        NVML_CLOCK_SM=1,
    )
    monkeypatch.setattr(sys.modules[__name__], "TELEMETRY", dict(TELEMETRY))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return GpuBackend(golden_dir=tmp_path, memory_bytes=1 << 20), launches


def _faulty(specs: list[FaultSpec]) -> Corruption:
    corruption = Corruption.none(len(SMIDS))
    for spec in specs:
        corruption.per_word.setdefault(spec.sm_id, []).append(LiveFault(spec, 3))
    return corruption


@pytest.mark.parametrize("probe", RUN_PROBES)
@pytest.mark.parametrize("deep", [False, True])
def test_every_probe_launch_fits_its_kernel_and_reaches_the_sms_asked_for(
    gpu: tuple[GpuBackend, list[Launch]], probe: ProbeType, deep: bool
) -> None:
    backend, launches = gpu
    sms = [0, 2, 3, 6]
    done = backend._launch(0, probe, sms, deep, Corruption.none(len(SMIDS)), 60_000, seed=5)
    assert sorted(done.words) == sms
    ran = [launch for launch in launches if launch.name != "sm_ids"]
    assert [launch.name for launch in ran] == [ran[0].name] and ran[0].name.endswith("probe")
    selected = ran[0].args["selected"]
    assert sorted(np.flatnonzero(selected)) == [PHYSICAL[sm] for sm in sms]


@pytest.mark.parametrize("probe", [ProbeType.FMA, ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL])
def test_per_word_faults_reach_the_fault_twin_with_tables_it_can_walk(
    gpu: tuple[GpuBackend, list[Launch]], probe: ProbeType
) -> None:
    backend, launches = gpu
    specs = [
        FaultSpec("flip_bit", 1, bit=4, word_rate=1e-3, seed=1),
        FaultSpec("ulp_error", 1, lane=7, seed=2),
        FaultSpec("stuck_bit", 5, bit=9, word_rate=0.01, operand_mask=0x3, seed=3),
    ]
    done = backend._launch(0, probe, list(range(len(SMIDS))), False, _faulty(specs), 60_000, 9)
    assert sorted(done.words) == list(range(len(SMIDS)))
    launch = launches[-1]
    assert launch.name.endswith("_faults")
    slot_of = launch.args["slot_of"]
    assert sorted(np.flatnonzero(slot_of >= 0)) == [PHYSICAL[1], PHYSICAL[5]]
    assert launch.args["table"].size == len(specs) * FAULT_WORDS


def test_the_tmr_digest_launch_fits_the_fma_kernel(gpu: tuple[GpuBackend, list[Launch]]) -> None:
    backend, launches = gpu
    assert len(backend.tmr_digest(0, seed=4)) == 32
    assert launches[-1].name == "fma_probe" and launches[-1].block == workloads.LANES


def test_the_stand_in_catches_an_argument_out_of_place(
    gpu: tuple[GpuBackend, list[Launch]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above can fail: an FMA launch with its step count moved is refused."""
    backend, _ = gpu
    probe_args = GpuBackend._probe_args

    def moved(self: GpuBackend, state: Any, probe: ProbeType, size: int, seed: int) -> Any:
        args, width, shared = probe_args(self, state, probe, size, seed)
        return (args[-1], *args[:-1]), width, shared

    monkeypatch.setattr(GpuBackend, "_probe_args", moved)
    with pytest.raises(AssertionError, match=r"fma_probe\.x0: .*not memory"):
        backend._launch(0, ProbeType.FMA, [0], False, Corruption.none(len(SMIDS)), 60_000, 1)


def test_healthy_runs_pass_with_new_operands_and_one_stored_golden_per_set(
    computing: tuple[GpuBackend, list[Launch]], tmp_path: Path
) -> None:
    """Every probe passes run after run; the FMA probe is checked against the host's fused
    chains for each run's operands, and the tensor-core and transcendental probes store one
    golden per operand set, established on its first run and read back after; the deep
    test's sizes pass too."""
    backend, launches = computing
    cycle = backend.seed_cycles[ProbeType.TENSOR_CORE]
    for probe in RUN_PROBES:
        runs = cycle + 2 if probe in backend.seed_cycles else 2
        outcomes = [backend.run(0, probe, timeout_ms=60_000) for _ in range(runs)]
        details = [
            o.detail or o.details[0].detail for o in outcomes if o.result != ProbeResult.PASS
        ]
        assert not details, f"{probe.name}: {details[:2]}"
        assert all(o.duration_us == 250 for o in outcomes)
        deep = backend.run(0, probe, deep=True, timeout_ms=60_000)
        assert deep.result == ProbeResult.PASS, (probe.name, deep.detail, deep.details[:1])
    fma = [launch.args["x0"] for launch in launches if launch.name == "fma_probe"]
    assert len({bytes(x) for x in fma}) == len(fma), "FMA runs repeated their operands"
    stored = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    for probe in (ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL):
        for size, count in zip(_SHAPES[probe].size, (cycle, 1), strict=True):
            found = [n for n in stored if n.startswith(probe.name) and f"size_{size}-" in n]
            assert len(found) == count, stored


def _healthy_then(backend: GpuBackend, probes: list[ProbeType], fault: FaultSpec) -> None:
    """Healthy runs store the goldens of the first operand sets; then the same sets again,
    with ``fault`` injected."""
    for probe in probes:
        assert backend.run(0, probe, timeout_ms=60_000).result == ProbeResult.PASS
    backend._seeds.clear()
    backend.inject(0, fault)


def test_a_whole_sm_fault_fails_that_sm_alone(
    computing: tuple[GpuBackend, list[Launch]],
) -> None:
    backend, _ = computing
    probes = [ProbeType.FMA, ProbeType.TENSOR_CORE, ProbeType.REGISTER_FILE]
    _healthy_then(backend, probes, FaultSpec("stuck_bit", 6, bit=17))
    for probe in probes:
        outcome = backend.run(0, probe, timeout_ms=60_000)
        assert outcome.result == ProbeResult.FAIL, (probe.name, outcome.detail)
        assert [d.sm_id for d in outcome.details] == [6], probe.name


@pytest.mark.parametrize(
    ("probe", "fault", "named"),
    [
        (ProbeType.FMA, FaultSpec("flip_bit", 5, bit=25, lane=11, word_rate=1e-5, seed=9), "11"),
        (ProbeType.TENSOR_CORE, FaultSpec("ulp_error", 5, lane=3, word_rate=1e-3, seed=4), "3"),
        (ProbeType.TRANSCENDENTAL, FaultSpec("ulp_error", 5, lane=7, word_rate=1e-3, seed=2), "7"),
    ],
)
def test_an_injected_per_word_fault_fails_its_sm_and_names_its_lane(
    computing: tuple[GpuBackend, list[Launch]], probe: ProbeType, fault: FaultSpec, named: str
) -> None:
    """The agent's path: ``inject``, then ``run``; the kernels' own fault code hits the words,
    and the backend blames the SM and the lane."""
    backend, launches = computing
    _healthy_then(backend, [probe], dataclasses.replace(fault, probe_types=frozenset({probe})))
    outcome = backend.run(0, probe, timeout_ms=60_000)
    assert launches[-1].name.endswith("_faults")
    assert outcome.result == ProbeResult.FAIL, outcome.detail
    assert [d.sm_id for d in outcome.details] == [5]
    assert outcome.details[0].detail.endswith(f"lanes {named}"), outcome.details[0].detail


def _device_check() -> Any:
    """``bench/gpu_device_check.py``, the script a GPU session runs, as a module."""
    path = Path(__file__).parents[3] / "bench" / "gpu_device_check.py"
    spec = importlib.util.spec_from_file_location("gpu_device_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_device_check_script_runs_its_sections_on_the_gpu_backend(
    computing: tuple[GpuBackend, list[Launch]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A rehearsal of the GPU session's one command, on ``GpuBackend`` rather than the CPU
    backend: every section that needs no NVML or nvcc finishes and reports what a healthy,
    correct GPU would (the stand-in computes as the model does)."""
    backend, _ = computing
    check = _device_check()
    healthy = check.healthy_runs(backend, 0, 3, 60.0)
    assert healthy["total_not_passed"] == 0 and healthy["total_runs"] == 3 * len(RUN_PROBES)
    assert check.schedule_share(backend, 0, 2)["device_time_pct"] > 0
    deep = check.deep_test(backend, 0, 1)["passes"][0]["probes"]
    assert {row["result"] for row in deep.values()} == {"PASS"}
    detection = check.detection(backend, 0, 10)
    assert detection["caught_right_sm"] == detection["cases"] > 0, detection["missed"][:2]
    intermittent = detection["intermittent"]
    assert intermittent["caught"] == intermittent["fired"] > 0
    assert intermittent["blamed_wrong_sm"] == intermittent["caught_other_runs_than_fired"] == 0
    per_word = check.per_word(backend, 0)
    assert all(case["bit_exact"] and case["healthy_sms_exact"] for case in per_word["fma"])
    assert all(case["same_words"] for case in per_word["tensor_transcendental"])
    end_to_end = per_word["end_to_end"]
    assert end_to_end["failed"] > 0 and not end_to_end["errors"]
    assert end_to_end["blamed"] == [len(SMIDS) // 2 + 1] and end_to_end["lanes_named"] == ["11"]
    tmr = check.tmr(backend, 0)
    assert tmr["healthy_digest_stable"] and tmr["seeds_give_distinct_digests"]
    assert tmr["faulty_sm_dissents"] and tmr["digest_after_clear_matches"]
    assert "MISSED" not in capsys.readouterr().out


def test_a_heat_bound_fault_wakes_with_the_temperature_nvml_reads(
    computing: tuple[GpuBackend, list[Launch]],
) -> None:
    """The backend reads temperature and SM clock from NVML only for faults that need them,
    by the device's PCI bus id, and the fault acts only while the GPU is hot enough."""
    backend, _ = computing
    hot = FaultSpec("flip_bit", 2, bit=30, min_temperature_c=80.0, probe_types=frozenset({1}))
    _healthy_then(backend, [ProbeType.FMA], hot)
    assert backend.run(0, ProbeType.FMA, timeout_ms=60_000).result == ProbeResult.PASS  # 61 °C
    TELEMETRY["temperature_c"] = 85
    outcome = backend.run(0, ProbeType.FMA, timeout_ms=60_000)
    assert outcome.result == ProbeResult.FAIL and [d.sm_id for d in outcome.details] == [2]
