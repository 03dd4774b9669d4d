"""The GPU backend: the probe kernels compiled by NVRTC through CuPy, devices named by NVML.

CuPy and NVML are imported when a ``GpuBackend`` is constructed, never when this module is,
so hosts without the ``gpu`` extra can import the probes package.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sentinel.fleet.probes import aes, workloads
from sentinel.fleet.probes._backend import BaseBackend, Launch, LaunchTimeout, check_aes_reference
from sentinel.fleet.probes._kernel_faults import (
    GPU_PROBES,
    MAX_ALWAYS,
    FaultTables,
    chain_tables,
    word_tables,
)
from sentinel.fleet.probes._types import DeviceInfo, FaultSpec
from sentinel.fleet.probes.faults import Conditions, Corruption
from sentinel.fleet.probes.golden import GoldenKey, GoldenStore
from sentinel.fleet.types import ProbeType

SKIPPED = 0xFFFFFFFF
OPTIONS = ("--std=c++14",)
"""NVRTC options of the probe module; CuPy adds ``-ftz=true`` and the device's ``-arch``."""
_NO_GPU = (
    "no NVIDIA GPU is visible to CUDA; check `nvidia-smi` and CUDA_VISIBLE_DEVICES, "
    "or use the CPU backend (open_backend('cpu'))"
)


@dataclass(frozen=True)
class _Shape:
    """Launch geometry and work of one probe: (normal, deep) sizes."""

    kernel: str
    threads: int
    size: tuple[int, int]
    """Iterations, elements or march backgrounds, by ``deep``."""


_SHAPES = {
    ProbeType.FMA: _Shape("fma_probe", workloads.LANES, workloads.FMA_STEPS),
    ProbeType.TENSOR_CORE: _Shape("tensor_probe", workloads.WARP, (1 << 10, 1 << 16)),
    ProbeType.TRANSCENDENTAL: _Shape("transcendental_probe", 256, workloads.TRANSCENDENTAL_N),
    ProbeType.AES: _Shape("aes_probe", 128, (256, 4096)),
    ProbeType.MEMORY: _Shape("memory_probe", 1024, (0, 1)),
    ProbeType.REGISTER_FILE: _Shape("register_probe", workloads.WARP, workloads.REGISTER_ITERS),
    ProbeType.SHARED_MEMORY: _Shape("shared_probe", 256, (1, 2)),
}


@dataclass
class _Device:
    """What the backend learnt about one device on first use."""

    module: Any
    arch: str
    nsmid: int
    physical: list[int]
    """Dense SM index -> %smid."""
    rank: np.ndarray
    """%smid -> dense SM index, -1 where no SM has that id; length %nsmid."""
    memory: Any
    slice_words: int
    """32-bit words of ``memory`` per SM."""
    shared_words: int
    """32-bit words of shared memory the SHARED_MEMORY probe tests: all a block may opt in to."""
    version: str


class GpuBackend(BaseBackend):
    """Probes every visible NVIDIA GPU; SM ids in outcomes are dense indices over %smid values.

    Every FMA run takes new operands, checked against the host's exact fused-multiply-add
    chains (``workloads.fma_chain(fused=True)``); the tensor-core and transcendental probes
    cycle through ``OPERAND_SETS`` operand sets, each with a golden established once by SM
    majority (the transcendental one also within CUDA's ULP bounds) and kept.
    """

    reseeds_operands = True

    def __init__(
        self,
        *,
        memory_bytes: int = 256 << 20,
        golden_dir: Path | None = None,
        blocks_per_sm: int = 2,
    ) -> None:
        """Open the visible GPUs.

        Args:
            memory_bytes: Slice of free device memory the MEMORY probe tests per device.
            golden_dir: Where goldens are cached; ``$XDG_CACHE_HOME/sentinel/golden`` by default.
            blocks_per_sm: Blocks launched per SM, so that every SM receives at least one.

        Raises:
            ImportError: CuPy or nvidia-ml-py is missing.
            RuntimeError: No GPU is visible.
        """
        try:
            import cupy
            import pynvml
        except ImportError as exc:
            raise ImportError(
                f"GpuBackend needs CuPy and nvidia-ml-py ({exc.name} is missing); "
                "install them with: pip install 'sentinel[gpu]'"
            ) from exc
        super().__init__(GoldenStore(golden_dir or _default_golden_dir()))
        self._cp = cupy
        self._memory_bytes = memory_bytes
        self._blocks_per_sm = blocks_per_sm
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as exc:
            raise RuntimeError(f"{_NO_GPU} ({exc})") from exc
        if count == 0:
            raise RuntimeError(_NO_GPU)
        pynvml.nvmlInit()
        self._nvml = pynvml
        self._devices = [self._describe(i, pynvml) for i in range(count)]
        self._state: dict[int, _Device] = {}

    def devices(self) -> list[DeviceInfo]:
        """The visible GPUs in CUDA order, identified through NVML by PCI bus id."""
        return list(self._devices)

    def tmr_digest(self, device_index: int, seed: int) -> bytes:
        """SHA-256 of ``workloads.TMR_STEPS`` FMA steps from seeded inputs in every block."""
        device = self._device(device_index)
        faults = self._draw(device_index, ProbeType.FMA, device.sm_count)
        state = self._setup(device_index)
        with self._lock(device_index), self._cp.cuda.Device(device_index):
            selected = np.zeros(state.nsmid, np.uint8)
            selected[state.physical] = 1
            inputs = workloads.fma_inputs(seed)
            args = (*self._arrays(inputs.x0, inputs.a, inputs.b), np.int32(workloads.TMR_STEPS))
            sms = list(range(len(state.physical)))
            tables = self._fault_tables(
                state, ProbeType.FMA, faults, sms, workloads.TMR_STEPS, seed
            )
            _, out, _ = self._kernel(
                state,
                "fma_probe" + ("_faults" if tables else ""),
                workloads.LANES,
                workloads.LANES,
                args,
                selected,
                self._masks(state, faults),
                60_000,
                extra=self._fault_args(ProbeType.FMA, tables),
            )
        return hashlib.sha256(out.tobytes()).digest()

    def _describe(self, index: int, nvml: Any) -> DeviceInfo:
        cp = self._cp
        with cp.cuda.Device(index) as device:
            handle = nvml.nvmlDeviceGetHandleByPciBusId(device.pci_bus_id)
            sm_count = int(device.attributes["MultiProcessorCount"])
        return DeviceInfo(
            index=index,
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            model=_text(nvml.nvmlDeviceGetName(handle)),
            driver_version=_text(nvml.nvmlSystemGetDriverVersion()),
            firmware_version=_text(nvml.nvmlDeviceGetVbiosVersion(handle)),
            sm_count=sm_count,
        )

    def _setup(self, device_index: int) -> _Device:
        """Compile the kernels and learn the SM ids of a device, once."""
        if device_index in self._state:
            return self._state[device_index]
        cp = self._cp
        sm_count = self._devices[device_index].sm_count
        source = resources.files(__package__).joinpath("kernels/probes.cu").read_text()
        with cp.cuda.Device(device_index) as device:
            module = cp.RawModule(code=source, options=OPTIONS)
            observed: set[int] = set()
            nsmid = cp.zeros(1, cp.uint32)
            for factor in (4, 16, 64):
                blocks = cp.zeros(factor * sm_count, cp.uint32)
                module.get_function("sm_ids")((blocks.size,), (32,), (blocks, nsmid))
                observed |= {int(x) for x in blocks.get()}
                if len(observed) >= sm_count:
                    break
            n = int(nsmid.get()[0])
            physical = sorted(observed)[:sm_count]
            rank = np.full(n, -1, np.int32)
            rank[physical] = np.arange(len(physical), dtype=np.int32)
            slice_words = self._memory_bytes // 4 // sm_count
            # Past 48 KiB a block must opt in, and static shared memory counts against the limit
            # (asking for 48 KiB of dynamic on top of report_cells' words failed on an H100).
            optin = cp.cuda.runtime.deviceGetAttribute(
                cp.cuda.runtime.cudaDevAttrMaxSharedMemoryPerBlockOptin, device_index
            )
            static = module.get_function("shared_probe").shared_size_bytes
            state = _Device(
                module=module,
                arch=str(device.compute_capability),
                nsmid=n,
                physical=physical,
                rank=rank,
                memory=cp.zeros(sm_count * slice_words, cp.uint32),
                slice_words=slice_words,
                shared_words=(optin - static) // 4,
                version=(
                    f"cupy{cp.__version__}-cuda{cp.cuda.runtime.runtimeGetVersion()}"
                    f"-nvrtc{'.'.join(map(str, cp.cuda.nvrtc.getVersion()))}"
                ),
            )
        self._state[device_index] = state
        return state

    def inject(self, device_index: int, fault: FaultSpec) -> None:
        """Add a fault, its per-run rate, heat, clock and phase conditions included.

        Whole-SM faults reach every probe. Per-word faults (one lane, an operand trigger, a ULP
        error, a per-operation rate) reach the FMA, tensor-core and transcendental probes,
        whose ``_faults`` kernels hit the operations the host draws for them as the CPU model
        draws them.

        Raises:
            ValueError: A per-word fault on a register or on another probe, or more than
                ``MAX_ALWAYS`` per-word faults on every operation of one SM.
        """
        if fault.per_word and (fault.register is not None or not fault.probe_types <= GPU_PROBES):
            raise ValueError(
                "per-word faults reach the GPU's FMA, tensor-core and transcendental probes "
                "(probe_types 1, 2 and 3), whose kernels take per-operation fault tables; "
                "register, memory, AES and shared-memory ones need CpuBackend"
            )
        if fault.per_word and fault.word_rate is None:
            every = [f for f in self._faults.armed(device_index) if f.sm_id == fault.sm_id]
            if sum(f.per_word and f.word_rate is None for f in every) >= MAX_ALWAYS:
                raise ValueError(
                    f"SM {fault.sm_id} already has {MAX_ALWAYS} per-word faults on every "
                    "operation, the most the kernels hold; give this one a word_rate"
                )
        super().inject(device_index, fault)

    def _conditions(self, device_index: int) -> Conditions:
        """Temperature and SM clock from NVML, read only while a fault depends on them."""
        nvml = self._nvml
        with self._cp.cuda.Device(device_index) as device:
            handle = nvml.nvmlDeviceGetHandleByPciBusId(device.pci_bus_id)
        temperature = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        clock = nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)
        return Conditions(time.monotonic(), float(temperature), float(clock))

    def _launch(
        self,
        device_index: int,
        probe: ProbeType,
        sms: list[int],
        deep: bool,
        faults: Corruption,
        timeout_ms: int,
        seed: int,
    ) -> Launch:
        state = self._setup(device_index)
        shape = _SHAPES[probe]
        size = shape.size[deep]
        masks = self._masks(state, faults)
        words: dict[int, list[np.ndarray]] = {}
        pending = [sm for sm in sms if sm < len(state.physical)]
        elapsed_us = 0
        with self._cp.cuda.Device(device_index):
            args, width, shared = self._probe_args(state, probe, size, seed)
            tables = self._fault_tables(state, probe, faults, pending, size, seed)
            kernel = shape.kernel + ("_faults" if tables else "")
            extra = self._fault_args(probe, tables)
            for _ in range(3):
                selected = np.zeros(state.nsmid, np.uint8)
                selected[[state.physical[sm] for sm in pending]] = 1
                if probe == ProbeType.MEMORY:
                    args = (*args[:4], self._cp.zeros(state.nsmid, self._cp.uint32))
                block_sm, out, took_us = self._kernel(
                    state,
                    kernel,
                    shape.threads,
                    width,
                    args,
                    selected,
                    masks,
                    timeout_ms - elapsed_us // 1000,
                    shared,
                    extra,
                )
                elapsed_us += took_us
                for block, sm in enumerate(block_sm):
                    if sm != SKIPPED:
                        words.setdefault(int(state.rank[sm]), []).append(out[block])
                pending = [sm for sm in pending if sm not in words]
                if not pending:
                    break
        return Launch({sm: np.stack(rows) for sm, rows in words.items()}, elapsed_us)

    def _fault_tables(
        self,
        state: _Device,
        probe: ProbeType,
        faults: Corruption,
        sms: list[int],
        size: int,
        seed: int,
    ) -> FaultTables | None:
        """The per-word faults of this run on ``sms``, drawn as the CPU model draws them."""
        if not faults.per_word or probe not in GPU_PROBES:
            return None
        smids = [state.physical[sm] for sm in sms]
        if probe == ProbeType.TRANSCENDENTAL:
            arguments = workloads.transcendental_inputs(size, seed).values()
            operands = np.concatenate(list(arguments)).view(np.uint32)
            return word_tables(faults, sms, smids, state.nsmid, operands)
        lanes = workloads.TENSOR_LANES
        if probe == ProbeType.FMA:
            lanes = np.arange(workloads.LANES) % workloads.WARP
        return chain_tables(faults, sms, smids, state.nsmid, lanes, size)

    def _fault_args(self, probe: ProbeType, tables: FaultTables | None) -> tuple:
        """The ``_faults`` kernel's extra arguments, on the device."""
        if tables is None:
            return ()
        args = tables.word_args() if probe == ProbeType.TRANSCENDENTAL else tables.chain_args()
        return tuple(self._arrays(*args))

    def _probe_args(
        self, state: _Device, probe: ProbeType, size: int, seed: int
    ) -> tuple[tuple, int, int]:
        """Kernel arguments before the common ones, result words per block, dynamic shared."""
        if probe == ProbeType.FMA:
            inputs = workloads.fma_inputs(seed)
            arrays = self._arrays(inputs.x0, inputs.a, inputs.b)
            return (*arrays, np.int32(size)), workloads.LANES, 0
        if probe == ProbeType.TENSOR_CORE:
            if int(state.arch) < 80:
                raise RuntimeError(
                    f"the tensor-core probe needs compute capability 8.0+, not {state.arch}"
                )
            a, b, c0 = workloads.tensor_inputs(seed)
            arrays = self._arrays(a.view(np.uint16), b.view(np.uint16), c0)
            return (*arrays, np.int32(size)), 128, 0
        if probe == ProbeType.TRANSCENDENTAL:
            arguments = workloads.transcendental_inputs(size, seed).values()
            return (*self._arrays(*arguments), np.int32(size)), 4 * size, 0
        if probe == ProbeType.AES:
            arrays = self._arrays(
                workloads.aes_plaintexts(size), workloads.AES_ROUND_KEYS, aes.SBOX
            )
            return (arrays[0], np.int32(size), *arrays[1:]), 4 * size, 0
        if probe == ProbeType.REGISTER_FILE:
            return (*self._arrays(workloads.REGISTER_PATTERNS), np.int32(size)), 2304, 0
        if probe == ProbeType.SHARED_MEMORY:
            return (np.int32(state.shared_words), np.int32(size)), 2, 4 * state.shared_words
        rank = self._arrays(state.rank)[0]
        return (state.memory, np.int64(state.slice_words), np.int32(size), rank, None), 2, 0

    def _kernel(
        self,
        state: _Device,
        name: str,
        threads: int,
        width: int,
        args: tuple,
        selected: np.ndarray,
        masks: tuple[Any, Any, Any],
        timeout_ms: int,
        shared: int = 0,
        extra: tuple = (),
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Launch ``name`` on ``blocks_per_sm`` blocks per SM; block SM ids, words, device us."""
        cp = self._cp
        blocks = self._blocks_per_sm * len(state.physical)
        block_sm = cp.full(blocks, SKIPPED, cp.uint32)
        out = cp.zeros(blocks * width, cp.uint32)
        or_mask, xor_mask, sfu_xor = masks
        common: tuple = (cp.asarray(selected), or_mask, xor_mask)
        if name.startswith("transcendental_probe"):
            common = (*common, sfu_xor)
        kernel = state.module.get_function(name)
        if shared:
            kernel.max_dynamic_shared_size_bytes = shared
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        kernel((blocks,), (threads,), (*args, *common, *extra, block_sm, out), shared_mem=shared)
        stop.record()
        deadline = time.monotonic() + max(timeout_ms, 0) / 1000
        while not stop.done:
            if time.monotonic() > deadline:
                raise LaunchTimeout(max(timeout_ms, 0) * 1000)
            time.sleep(0.0002)
        took_us = round(cp.cuda.get_elapsed_time(start, stop) * 1000)
        return block_sm.get(), out.get().reshape(blocks, width), took_us

    def _masks(self, state: _Device, faults: Corruption) -> tuple[Any, Any, Any]:
        """The per-SM masks indexed by %smid, as the kernels read them."""
        by_smid = []
        for dense in (faults.or_mask, faults.xor_mask, faults.sfu_xor):
            physical = np.zeros(state.nsmid, np.uint32)
            physical[state.physical] = dense[: len(state.physical)]
            by_smid.append(self._cp.asarray(physical))
        return by_smid[0], by_smid[1], by_smid[2]

    def _arrays(self, *arrays: np.ndarray) -> list[Any]:
        return [self._cp.asarray(np.ascontiguousarray(a)) for a in arrays]

    def _reference(
        self, device_index: int, probe: ProbeType, deep: bool, seed: int
    ) -> np.ndarray | None:
        size = _SHAPES[probe].size[deep]
        if probe in (ProbeType.MEMORY, ProbeType.SHARED_MEMORY):
            return np.zeros(2, np.uint32)
        if probe == ProbeType.REGISTER_FILE:
            return workloads.register_expected()
        if probe == ProbeType.AES:
            blocks = aes.encrypt(workloads.aes_plaintexts(size), workloads.AES_ROUND_KEYS)
            return check_aes_reference(blocks.reshape(-1).view(np.uint32))
        if probe == ProbeType.FMA:
            return workloads.fma_chain(size, workloads.fma_inputs(seed), fused=True).golden
        return None

    def _golden_key(self, device_index: int, probe: ProbeType, deep: bool, seed: int) -> GoldenKey:
        state = self._setup(device_index)
        sm_count = self._devices[device_index].sm_count
        variant = f"size={_SHAPES[probe].size[deep]}"
        if probe in (ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL):  # one golden per set
            variant += f"-inputs=3-seed={seed}"
        return GoldenKey(probe.name, state.arch, sm_count, state.version, variant)


def _default_golden_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "sentinel" / "golden"


def _text(value: str | bytes) -> str:
    """NVML strings are bytes in older nvidia-ml-py releases."""
    return value.decode() if isinstance(value, bytes) else value
