"""What every backend shares: coverage, faults, goldens, verdicts, and never raising from ``run``.

Backends only launch the work and say what the exact answer is where the host knows it; all
judgement lives here, so the CPU model and the GPU judge results identically.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from sentinel.fleet.probes import aes, workloads
from sentinel.fleet.probes._types import DeviceInfo, FaultSpec, ProbeOutcome, SmDetail
from sentinel.fleet.probes.coverage import Rotation
from sentinel.fleet.probes.faults import Corruption, FaultBook
from sentinel.fleet.probes.golden import GoldenKey, GoldenStore, consensus
from sentinel.fleet.types import ProbeResult, ProbeType

_CELL_TESTS = (ProbeType.MEMORY, ProbeType.SHARED_MEMORY)


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

    def __init__(self, golden: GoldenStore) -> None:
        self._golden = golden
        self._faults = FaultBook()
        self._rotation = Rotation()
        self._validated: set[GoldenKey] = set()
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

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
    ) -> Launch:
        """Run ``probe`` on the SMs ``sms`` of a device; ``LaunchTimeout`` if it hangs."""

    @abstractmethod
    def _reference(self, device_index: int, probe: ProbeType, deep: bool) -> np.ndarray | None:
        """The exact expected words of one SM where the host knows them, else ``None``."""

    @abstractmethod
    def _golden_key(self, device_index: int, probe: ProbeType, deep: bool) -> GoldenKey:
        """What a hardware-dependent golden of ``probe`` is valid for on this device."""

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
            faults = self._faults.draw(device_index, probe, sm_count)
            with self._lock(device_index):
                launch = self._launch(device_index, probe, sms, deep, faults, timeout_ms)
            duration_us = launch.duration_us
            if duration_us > timeout_ms * 1000:
                detail = f"took {duration_us} us, over the {timeout_ms} ms timeout"
                return _whole(probe_type, ProbeResult.TIMEOUT, sm_count, sms, duration_us, detail)
            failures = self._judge(device_index, probe, deep, launch, sms)
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
        self, device_index: int, probe: ProbeType, deep: bool, launch: Launch
    ) -> np.ndarray:
        """The host reference, else the stored golden, else one established by SM majority."""
        expected = self._reference(device_index, probe, deep)
        if expected is not None and probe != ProbeType.TRANSCENDENTAL:
            return expected
        key = self._golden_key(device_index, probe, deep)
        if expected is None:
            expected = self._golden.get(key)
        established = expected is None
        if expected is None:
            expected = consensus([rows[0] for rows in launch.words.values()])
        if probe == ProbeType.TRANSCENDENTAL and key not in self._validated:
            if errors := _ulp_violations(expected):
                raise RuntimeError(f"the transcendental golden itself is out of bounds: {errors}")
            self._validated.add(key)
        if established:
            self._golden.put(key, expected)
        return expected

    def _judge(
        self, device_index: int, probe: ProbeType, deep: bool, launch: Launch, sms: list[int]
    ) -> dict[int, str]:
        """Failure detail per failing SM; every covered SM must have been checked."""
        unchecked = sorted(set(sms) - set(launch.words))
        if unchecked:
            raise RuntimeError(f"SMs {unchecked} ran no block, so they were not checked")
        expected = self._expected(device_index, probe, deep, launch)
        failures = {}
        for sm, rows in launch.words.items():
            if sm in sms and (detail := _compare(probe, rows, expected)):
                failures[sm] = detail
        return failures


def _compare(probe: ProbeType, rows: np.ndarray, expected: np.ndarray) -> str:
    """Why ``rows`` (blocks of one SM) differ from ``expected``, bit for bit; "" if they do not."""
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
    if probe == ProbeType.AES and wrong[:4].any():
        detail += "; FIPS-197 C.1 known answer wrong"
    if probe == ProbeType.TRANSCENDENTAL:
        for row in rows:
            if violations := _ulp_violations(row):
                detail += f"; {violations}"
                break
    return detail


def _ulp_violations(words: np.ndarray) -> str:
    """The functions whose float32 results exceed their ULP bound against float64, if any."""
    errors = workloads.ulp_errors(words, words.size // 4)
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
