"""What every backend shares: coverage, faults, goldens, verdicts, and never raising from ``run``.

Backends only launch the work and say what the exact answer is where the host knows it; all
judgement lives here, so the CPU model and the GPU judge results identically.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sentinel.fleet.probes import aes, workloads
from sentinel.fleet.probes._types import DeviceInfo, FaultSpec, ProbeOutcome, SmDetail
from sentinel.fleet.probes.coverage import Rotation
from sentinel.fleet.probes.faults import Conditions, Corruption, FaultBook
from sentinel.fleet.probes.golden import GoldenKey, GoldenStore, consensus
from sentinel.fleet.types import ProbeResult, ProbeType

_CELL_TESTS = (ProbeType.MEMORY, ProbeType.SHARED_MEMORY)
_SEEDED = (ProbeType.FMA, ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL)
"""Probes whose operands a backend that reseeds draws anew for every run."""
OPERAND_SETS = 16
"""Operand sets the tensor-core and transcendental probes cycle through when reseeding: each
costs real work once (the CPU model's chain path and golden, the GPU's stored golden)."""


class LaunchTimeout(Exception):
    """The launch was still running at its deadline; its results cannot be trusted."""

    def __init__(self, duration_us: int) -> None:
        super().__init__(f"still running after {duration_us} us")
        self.duration_us = duration_us


@dataclass(frozen=True)
class Launch:
    """What one probe launch produced."""

    words: dict[int, np.ndarray]
    """SM id -> result words, one row per block that ran on the SM."""
    duration_us: int


class BaseBackend(ABC):
    """Shared probe logic; subclasses provide devices, launches and host references."""

    reseeds_operands: ClassVar[bool] = False
    """Whether the FMA, tensor and transcendental probes draw new operands for every run (seed
    = the run's number), so data-dependent faults meet a fresh sample of the bit space."""
    seed_cycles: ClassVar[dict[int, int]] = {
        ProbeType.TENSOR_CORE: OPERAND_SETS,
        ProbeType.TRANSCENDENTAL: OPERAND_SETS,
    }
    """Probe type -> how many operand seeds it cycles through when reseeding; the others
    (FMA, whose golden costs nothing to compute) never repeat one."""

    def __init__(self, golden: GoldenStore) -> None:
        self._golden = golden
        self._faults = FaultBook()
        self._rotation = Rotation()
        self._validated: set[GoldenKey] = set()
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._seeds: dict[tuple[int, int], int] = {}

    @abstractmethod
    def devices(self) -> list[DeviceInfo]:
        """The devices this backend probes, in index order."""

    @abstractmethod
    def tmr_digest(self, device_index: int, seed: int) -> bytes:
        """SHA-256 of a fixed-seed workload's output: equal on healthy devices of a backend."""

    @abstractmethod
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
        """Run ``probe`` on the SMs ``sms`` of a device with operands from ``seed``;
        ``LaunchTimeout`` if it hangs."""

    @abstractmethod
    def _reference(
        self, device_index: int, probe: ProbeType, deep: bool, seed: int
    ) -> np.ndarray | None:
        """The exact expected words of one SM where the host knows them, else ``None``."""

    def _conditions(self, device_index: int) -> Conditions:
        """Time and telemetry that temperature-, clock- and phase-bound faults depend on."""
        return Conditions(now=time.monotonic())

    @abstractmethod
    def _golden_key(self, device_index: int, probe: ProbeType, deep: bool, seed: int) -> GoldenKey:
        """What a hardware-dependent golden of ``probe`` with operands from ``seed`` is valid
        for on this device."""

    def inject(self, device_index: int, fault: FaultSpec) -> None:
        """Add a fault to a device until ``clear_faults``."""
        device = self._device(device_index)
        if fault.sm_id >= device.sm_count:
            raise ValueError(f"sm_id {fault.sm_id} is outside 0..{device.sm_count - 1}")
        self._faults.inject(device_index, fault)

    def clear_faults(self, device_index: int) -> None:
        """Remove every injected fault from a device."""
        self._device(device_index)
        self._faults.clear(device_index)

    def run(
        self,
        device_index: int,
        probe_type: int,
        *,
        sm_coverage: float = 1.0,
        timeout_ms: int = 5000,
        deep: bool = False,
    ) -> ProbeOutcome:
        """Run one probe; never raises (a failure to run is an ERROR outcome)."""
        sm_count, sms, duration_us = 0, [], 0
        try:
            sm_count = self._device(device_index).sm_count
            if probe_type not in range(1, 8):
                raise ValueError(f"probe type {probe_type} is not a ProbeType (1..7)")
            probe = ProbeType(probe_type)
            sms = self._rotation.take(device_index, probe, sm_count, sm_coverage, deep)
            faults = self._draw(device_index, probe, sm_count)
            seed = self._seed(device_index, probe)
            with self._lock(device_index):
                launch = self._launch(device_index, probe, sms, deep, faults, timeout_ms, seed)
            duration_us = launch.duration_us
            if duration_us > timeout_ms * 1000:
                detail = f"took {duration_us} us, over the {timeout_ms} ms timeout"
                return _whole(probe_type, ProbeResult.TIMEOUT, sm_count, sms, duration_us, detail)
            failures = self._judge(device_index, probe, deep, launch, sms, seed)
        except LaunchTimeout as exc:
            detail = f"{exc}, over the {timeout_ms} ms timeout"
            return _whole(probe_type, ProbeResult.TIMEOUT, sm_count, sms, exc.duration_us, detail)
        except Exception as exc:  # run must never raise; the outcome says why
            detail = f"{type(exc).__name__}: {exc}"
            return _whole(probe_type, ProbeResult.ERROR, sm_count, sms, duration_us, detail)
        outcomes = bytearray(sm_count)
        for sm in sms:
            outcomes[sm] = ProbeResult.FAIL if sm in failures else ProbeResult.PASS
        details = tuple(SmDetail(sm, ProbeResult.FAIL, failures[sm]) for sm in sorted(failures))
        result = ProbeResult.FAIL if failures else ProbeResult.PASS
        return ProbeOutcome(probe_type, result, bytes(outcomes), details, duration_us)

    def _draw(self, device_index: int, probe: ProbeType, sm_count: int) -> Corruption:
        """The faults that hit this run; telemetry is read only when a fault depends on it."""
        conditions = None
        if self._faults.conditional(device_index):
            conditions = self._conditions(device_index)
        return self._faults.draw(device_index, probe, sm_count, conditions)

    def _seed(self, device_index: int, probe: ProbeType) -> int:
        """The operand seed of this run: its number when reseeding, else the fixed 0."""
        if not self.reseeds_operands or probe not in _SEEDED:
            return 0
        with self._locks_guard:
            run = self._seeds.get((device_index, probe), 0) + 1
            self._seeds[(device_index, probe)] = run
        cycle = self.seed_cycles.get(probe)
        return run if cycle is None else (run - 1) % cycle + 1

    def _device(self, device_index: int) -> DeviceInfo:
        devices = self.devices()
        if not 0 <= device_index < len(devices):
            raise IndexError(f"no device {device_index}; this host has {len(devices)}")
        return devices[device_index]

    def _lock(self, device_index: int) -> threading.Lock:
        """One probe at a time per device, as on the hardware."""
        with self._locks_guard:
            return self._locks.setdefault(device_index, threading.Lock())

    def _expected(
        self, device_index: int, probe: ProbeType, deep: bool, launch: Launch, seed: int
    ) -> np.ndarray:
        """The host reference, else the stored golden, else one established by SM majority."""
        expected = self._reference(device_index, probe, deep, seed)
        if expected is not None:
            return expected
        key = self._golden_key(device_index, probe, deep, seed)
        expected = self._golden.get(key)
        established = expected is None
        if expected is None:
            expected = consensus([rows[0] for rows in launch.words.values()])
        if probe == ProbeType.TRANSCENDENTAL and key not in self._validated:
            if errors := ulp_violations(expected, seed):
                raise RuntimeError(f"the transcendental golden itself is out of bounds: {errors}")
            self._validated.add(key)
        if established:
            self._golden.put(key, expected)
        return expected

    def _judge(
        self,
        device_index: int,
        probe: ProbeType,
        deep: bool,
        launch: Launch,
        sms: list[int],
        seed: int,
    ) -> dict[int, str]:
        """Failure detail per failing SM; every covered SM must have been checked."""
        unchecked = sorted(set(sms) - set(launch.words))
        if unchecked:
            raise RuntimeError(f"SMs {unchecked} ran no block, so they were not checked")
        expected = self._expected(device_index, probe, deep, launch, seed)
        failures = {}
        judged: dict[int, str] = {}  # SMs that share one result array are compared once
        for sm, rows in launch.words.items():
            if sm not in sms:
                continue
            if id(rows) not in judged:
                judged[id(rows)] = _compare(probe, rows, expected, seed)
            if detail := judged[id(rows)]:
                failures[sm] = detail
        return failures


def _compare(probe: ProbeType, rows: np.ndarray, expected: np.ndarray, seed: int) -> str:
    """Why ``rows`` (blocks of one SM) differ from ``expected``, bit for bit; "" if they do not.

    Every word is checked on its own, so a single wrong lane, register or result is enough,
    and the detail names the lanes (or threads and registers) it came from.
    """
    diff = rows ^ expected
    if not diff.any():
        return ""
    if probe in _CELL_TESTS:
        bad, bits = int(rows[:, 0].sum()), int(np.bitwise_or.reduce(rows[:, 1]))
        return f"{bad} cell reads wrong, bits {bits:#010x}"
    wrong = np.any(diff != 0, axis=0)
    detail = (
        f"{int(wrong.sum())} of {expected.size} words differ from the golden, "
        f"bits {int(np.bitwise_or.reduce(diff, axis=None)):#010x}"
    )
    if len(rows) > 1:
        detail += f", in {int(np.any(diff != 0, axis=1).sum())} of {len(rows)} blocks"
    detail += _where(probe, np.flatnonzero(wrong))
    if probe == ProbeType.AES and wrong[:4].any():
        detail += "; FIPS-197 C.1 known answer wrong"
    if probe == ProbeType.TRANSCENDENTAL:
        for row in rows:
            if violations := ulp_violations(row, seed):
                detail += f"; {violations}"
                break
    return detail


def _where(probe: ProbeType, words: np.ndarray) -> str:
    """The lanes (threads and registers, for the register file) of the wrong words."""
    if probe == ProbeType.REGISTER_FILE:
        threads = np.unique(workloads.REGISTER_LANES[words])
        registers = np.unique(workloads.REGISTER_IDS[words])
        return f"; threads {_few(threads)}, registers {_few(registers)}"
    if probe == ProbeType.TENSOR_CORE and words.max() < workloads.TENSOR_LANES.size:
        return f"; lanes {_few(np.unique(workloads.TENSOR_LANES[words]))}"
    if probe in (ProbeType.FMA, ProbeType.TRANSCENDENTAL):
        return f"; lanes {_few(np.unique(words % workloads.WARP))}"
    return ""


def _few(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    return shown + (f" and {values.size - limit} more" if values.size > limit else "")


def ulp_violations(words: np.ndarray, seed: int) -> str:
    """The functions whose float32 results exceed their ULP bound against float64, if any."""
    errors = workloads.ulp_errors(words, words.size // 4, seed)
    return ", ".join(
        f"{name} off by {err:.0f} ULP (bound {workloads.ULP_BOUNDS[name]:.0f})"
        for name, err in errors.items()
        if err > workloads.ULP_BOUNDS[name]
    )


def _whole(
    probe_type: int, result: int, sm_count: int, sms: list[int], duration_us: int, detail: str
) -> ProbeOutcome:
    """An outcome that concerns the whole probe, not a particular SM."""
    outcomes = bytearray(sm_count)
    for sm in sms:
        outcomes[sm] = result
    return ProbeOutcome(probe_type, result, bytes(outcomes), (), duration_us, detail)


def check_aes_reference(words: np.ndarray) -> np.ndarray:
    """``words`` (one SM's AES result) after checking the FIPS-197 C.1 known answer.

    Raises:
        RuntimeError: The host AES is wrong, so nothing it says can be trusted.
    """
    if words[:4].tobytes() != aes.FIPS197_CIPHERTEXT:
        raise RuntimeError("the host AES reference fails the FIPS-197 C.1 known answer")
    return words
