"""Every launch the GPU backend makes fits the kernel it calls.

No GPU is needed, and none can run in CI: stand-ins for CuPy (NumPy arrays as device memory)
and NVML take the backend's calls, and each launch is checked against the kernel's parameters
as ``kernels/probes.cu`` declares them: one argument per parameter, of its element type;
per-SM arrays sized by %nsmid; inputs, outputs and fault tables at least as long as the kernel
indexes them. A wrong argument would otherwise show only on a GPU, as garbage or a crash.
Blocks land on the SMs as ``enter`` places them: ``SMIDS`` round robin, not in order.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sentinel.fleet.probes import FaultSpec, GpuBackend, workloads
from sentinel.fleet.probes._kernel_faults import FAULT_WORDS, MAX_ALWAYS
from sentinel.fleet.probes.faults import Corruption, LiveFault
from sentinel.fleet.probes.gpu import OPTIONS, SKIPPED
from sentinel.fleet.types import ProbeType

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
NREG = 72


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
    grid: int
    block: int
    args: dict[str, Any]
    shared: int


@dataclass
class _Kernel:
    name: str
    launches: list[Launch]
    shared_size_bytes: int = 16
    max_dynamic_shared_size_bytes: int = 0
    claimed: set[int] = field(default_factory=set)

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
        self.launches.append(Launch(self.name, grid[0], block[0], named, shared_mem))
        _check_extents(self.name, grid[0], block[0], named)
        self._enter(grid[0], named)

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


class _Module:
    def __init__(self, code: str, options: tuple[str, ...], launches: list[Launch]) -> None:
        assert code == SOURCE and options == OPTIONS
        self.launches = launches
        self.kernels: dict[str, _Kernel] = {}

    def get_function(self, name: str) -> _Kernel:
        assert name in SIGNATURES, f"no kernel {name} in probes.cu"
        return self.kernels.setdefault(name, _Kernel(name, self.launches))


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
        RawModule=lambda code, options: _Module(code, options, launches),
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
        nvmlDeviceGetTemperature=lambda handle, sensor: 61,
        nvmlDeviceGetClockInfo=lambda handle, clock: 1980,
        NVML_TEMPERATURE_GPU=0,
        NVML_CLOCK_SM=1,
    )
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return GpuBackend(golden_dir=tmp_path, memory_bytes=1 << 20), launches


def _faulty(specs: list[FaultSpec]) -> Corruption:
    corruption = Corruption.none(len(SMIDS))
    for spec in specs:
        corruption.per_word.setdefault(spec.sm_id, []).append(LiveFault(spec, 3))
    return corruption


@pytest.mark.parametrize("probe", [p for p in ProbeType if p != ProbeType.UNSPECIFIED])
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
