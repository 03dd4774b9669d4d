"""The CPU backend: NumPy models of devices with ``sm_count`` SMs, for CI, demos and tests.

Each SM computes its own replica (or, for memory, its own slice) of every probe, and injected
faults corrupt exactly the chosen SM's results, so detection and SM attribution are exercised
end to end without a GPU. Healthy SMs compute the same words, so the model computes them once
per run's operands and recomputes only faulty SMs, through their faults; that is what lets it
run the compute probes at the GPU kernels' sizes. Temperature and SM clock are whatever
``set_conditions`` last said, and time is ``clock``, so activation-bound faults can be staged.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import time
import uuid
from collections.abc import Callable, Sequence

import numpy as np

from sentinel.fleet.probes import workloads
from sentinel.fleet.probes._backend import (
    OPERAND_SETS,
    BaseBackend,
    Launch,
    check_aes_reference,
    ulp_violations,
)
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes._types import DeviceInfo
from sentinel.fleet.probes.faults import Conditions, Corruption
from sentinel.fleet.probes.golden import GoldenKey, GoldenStore
from sentinel.fleet.types import ProbeType

_UUID_NAMESPACE = uuid.UUID("5d2c3b9e-8f1a-4c6e-9b7d-2a4e6f8c0d1b")

# (normal, deep) work per probe: iterations, elements or march backgrounds. The compute
# probes' normal sizes are the GPU kernels' (per block); AES and the memory tests stay small.
_TENSOR_ITERS = (1 << 10, 1 << 14)
_AES_BLOCKS = (8, 128)
_SHARED_WORDS = (3072, 12288)
"""12 KiB and 48 KiB of shared memory per SM."""


_PURE = (ProbeType.FMA, ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL, ProbeType.REGISTER_FILE)
"""Probes whose healthy result is the host reference, with no state between runs."""


@functools.lru_cache(maxsize=8)
def _fma_chain(iters: int, seed: int) -> Chain:
    return workloads.fma_chain(iters, workloads.fma_inputs(seed))


@functools.lru_cache(maxsize=OPERAND_SETS + 2)
def _tensor_chain(iters: int, seed: int) -> Chain:
    return workloads.tensor_chain(iters, seed)


@functools.lru_cache(maxsize=OPERAND_SETS + 2)
def _transcendental_golden(n: int, seed: int) -> np.ndarray:
    words = workloads.transcendental_golden(n, seed)
    if errors := ulp_violations(words, seed):
        raise RuntimeError(f"the transcendental model is out of CUDA's bounds: {errors}")
    return words


class CpuBackend(BaseBackend):
    """``n_devices`` simulated GPUs; UUIDs are deterministic per (hostname, index).

    ``firmware_versions`` gives each device its own firmware string (default ``sim-1`` for
    all), so firmware correlation can be staged across simulated hosts. ``clock`` is the time
    that on/off fault phases follow (a simulation passes its own).
    """

    reseeds_operands = True
    """The model computes a tensor chain's path (8 ms) and a transcendental golden (4 ms) once
    per operand set and keeps them; FMA chains cost nothing to set up and never repeat."""

    def __init__(
        self,
        n_devices: int = 1,
        sm_count: int = 16,
        *,
        hostname: str | None = None,
        memory_bytes: int = 1 << 20,
        model: str = "Sentinel CPU-simulated GPU",
        firmware_versions: Sequence[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if n_devices < 0 or sm_count < 1:
            raise ValueError(f"need n_devices >= 0 and sm_count >= 1, got {n_devices}, {sm_count}")
        if memory_bytes < 4 * sm_count:
            raise ValueError(f"memory_bytes {memory_bytes} leaves no 32-bit word per SM")
        if firmware_versions is None:
            firmware_versions = ["sim-1"] * n_devices
        if len(firmware_versions) != n_devices:
            raise ValueError(
                f"firmware_versions has {len(firmware_versions)} entries for {n_devices} "
                "devices; give one per device"
            )
        super().__init__(GoldenStore())
        host = hostname if hostname is not None else socket.gethostname()
        self._devices = [
            DeviceInfo(
                index=i,
                uuid=f"GPU-{uuid.uuid5(_UUID_NAMESPACE, f'{host}/{i}')}",
                model=model,
                driver_version=f"cpu-{np.__version__}",
                firmware_version=firmware,
                sm_count=sm_count,
            )
            for i, firmware in enumerate(firmware_versions)
        ]
        self._slice_words = memory_bytes // 4 // sm_count
        self._memory: dict[int, np.ndarray] = {}
        self._clock = clock
        self._telemetry: dict[int, tuple[float | None, float | None]] = {}

    def devices(self) -> list[DeviceInfo]:
        """The simulated devices, in index order."""
        return list(self._devices)

    def set_conditions(
        self,
        device_index: int,
        *,
        temperature_c: float | None = None,
        sm_clock_mhz: float | None = None,
    ) -> None:
        """What the device's telemetry reads from now on (``None``: unknown)."""
        self._device(device_index)
        self._telemetry[device_index] = (temperature_c, sm_clock_mhz)

    def tmr_digest(self, device_index: int, seed: int) -> bytes:
        """SHA-256 of the TMR FMA chains from seeded inputs on every SM, faults included."""
        sm_count = self._device(device_index).sm_count
        faults = self._draw(device_index, ProbeType.FMA, sm_count)
        words = workloads.chains(np.arange(sm_count), _fma_chain(workloads.TMR_STEPS, seed), faults)
        return hashlib.sha256(words.tobytes()).digest()

    def _conditions(self, device_index: int) -> Conditions:
        temperature, clock = self._telemetry.get(device_index, (None, None))
        return Conditions(self._clock(), temperature, clock)

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
        started = time.perf_counter()
        words: dict[int, np.ndarray] = {}
        computed = sms
        if probe in _PURE:  # healthy SMs compute the reference: share it, compute the rest
            healthy = self._reference(device_index, probe, deep, seed)[None, :]
            computed = [sm for sm in sms if faults.touches(sm)]
            words = dict.fromkeys(sms, healthy)
        if computed:
            rows = self._compute(device_index, probe, np.asarray(computed), deep, faults, seed)
            words |= {sm: rows[i : i + 1] for i, sm in enumerate(computed)}
        duration_us = max(1, round((time.perf_counter() - started) * 1e6))
        return Launch(words, duration_us)

    def _compute(
        self,
        device_index: int,
        probe: ProbeType,
        sms: np.ndarray,
        deep: bool,
        faults: Corruption,
        seed: int,
    ) -> np.ndarray:
        """One row of result words per SM in ``sms``."""
        if probe == ProbeType.FMA:
            return workloads.chains(sms, _fma_chain(workloads.FMA_STEPS[deep], seed), faults)
        if probe == ProbeType.TENSOR_CORE:
            return workloads.chains(sms, _tensor_chain(_TENSOR_ITERS[deep], seed), faults)
        if probe == ProbeType.TRANSCENDENTAL:
            n = workloads.TRANSCENDENTAL_N[deep]
            return workloads.transcendental(sms, n, seed, _transcendental_golden(n, seed), faults)
        if probe == ProbeType.AES:
            return workloads.aes_encrypt(sms, _AES_BLOCKS[deep], faults)
        if probe == ProbeType.REGISTER_FILE:
            return workloads.registers(sms, workloads.REGISTER_ITERS[deep], faults)
        if probe == ProbeType.SHARED_MEMORY:
            cells = np.empty((len(sms), _SHARED_WORDS[deep]), np.uint32)
            return workloads.march(cells, sms, workloads.march_c_minus(1 + deep), faults)
        if device_index not in self._memory:
            shape = (self._devices[device_index].sm_count, self._slice_words)
            self._memory[device_index] = np.zeros(shape, np.uint32)
        memory = self._memory[device_index]
        cells = memory[sms]
        rows = workloads.march(cells, sms, workloads.mats_plus(walking=deep), faults)
        memory[sms] = cells
        return rows

    def _reference(self, device_index: int, probe: ProbeType, deep: bool, seed: int) -> np.ndarray:
        if probe in (ProbeType.MEMORY, ProbeType.SHARED_MEMORY):
            return np.zeros(2, np.uint32)
        if probe == ProbeType.REGISTER_FILE:
            return workloads.register_expected()
        if probe == ProbeType.FMA:
            return _fma_chain(workloads.FMA_STEPS[deep], seed).golden
        if probe == ProbeType.TENSOR_CORE:
            return _tensor_chain(_TENSOR_ITERS[deep], seed).golden
        if probe == ProbeType.TRANSCENDENTAL:
            return _transcendental_golden(workloads.TRANSCENDENTAL_N[deep], seed)
        one_sm = np.zeros(1, np.int64)

        def compute() -> np.ndarray:
            healthy = Corruption.none(1)
            return self._compute(device_index, probe, one_sm, deep, healthy, seed)[0]

        words = self._golden.get_or_compute(
            self._golden_key(device_index, probe, deep, seed), compute
        )
        return check_aes_reference(words) if probe == ProbeType.AES else words

    def _golden_key(self, device_index: int, probe: ProbeType, deep: bool, seed: int) -> GoldenKey:
        sm_count = self._devices[device_index].sm_count
        variant = ("deep" if deep else "normal") + (f"-seed={seed}" if seed else "")
        return GoldenKey(probe.name, "cpu", sm_count, f"numpy{np.__version__}", variant)
