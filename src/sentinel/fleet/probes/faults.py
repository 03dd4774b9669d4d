"""Injected faults, turned into the per-SM bit masks that a probe run applies to its results.

Both backends consume the same masks: the CPU backend applies them to the NumPy results of the
SM, the GPU kernels take them as arguments and apply them on the target SM, so detection is
verified the same way on real hardware.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import numpy as np

from sentinel.fleet.probes._types import FaultSpec

SFU_PERTURBATION = np.uint32(0x100)
"""XORed into a bad transcendental unit's float32 results: a 256 ULP error."""


@dataclass(frozen=True)
class Corruption:
    """Per-SM masks for one run; index = SM id."""

    or_mask: np.ndarray
    """Stuck-at-1 bits, ORed into every result word of the SM."""
    xor_mask: np.ndarray
    """Flipped bits, XORed into every result word of the SM."""
    sfu_xor: np.ndarray
    """Perturbation of the SM's transcendental results."""

    @classmethod
    def none(cls, sm_count: int) -> Corruption:
        """No fault on any SM."""
        return cls(*(np.zeros(sm_count, np.uint32) for _ in range(3)))

    @property
    def active(self) -> bool:
        """Whether any SM is hit, so healthy runs can skip the masking work."""
        return bool(self.or_mask.any() or self.xor_mask.any() or self.sfu_xor.any())

    def apply(self, words: np.ndarray, sms: np.ndarray, *, sfu: bool = False) -> np.ndarray:
        """``words`` (one row per SM in ``sms``) as the faulty SMs would have produced them."""
        if not self.active:
            return words
        shape = (len(sms),) + (1,) * (words.ndim - 1)
        if sfu:
            words = words ^ self.sfu_xor[sms].reshape(shape)
        return (words | self.or_mask[sms].reshape(shape)) ^ self.xor_mask[sms].reshape(shape)


class _Armed:
    """An injected fault and the random stream that decides which runs it hits."""

    def __init__(self, fault: FaultSpec) -> None:
        self.fault = fault
        self.draws = random.Random(fault.seed)

    def fires(self, probe_type: int) -> bool:
        if probe_type not in self.fault.probe_types:
            return False
        return self.fault.rate >= 1.0 or self.draws.random() < self.fault.rate


class FaultBook:
    """Faults injected per device; thread-safe, since the agent probes from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, list[_Armed]] = {}

    def inject(self, device_index: int, fault: FaultSpec) -> None:
        """Arm ``fault`` on a device."""
        with self._lock:
            self._armed.setdefault(device_index, []).append(_Armed(fault))

    def clear(self, device_index: int) -> None:
        """Disarm every fault of a device."""
        with self._lock:
            self._armed.pop(device_index, None)

    def draw(self, device_index: int, probe_type: int, sm_count: int) -> Corruption:
        """The masks of the faults that hit this run; each armed fault draws once per run."""
        corruption = Corruption.none(sm_count)
        with self._lock:
            hits = [a.fault for a in self._armed.get(device_index, []) if a.fires(probe_type)]
        for fault in hits:
            if fault.sm_id >= sm_count:
                continue
            if fault.kind == "stuck_bit":
                corruption.or_mask[fault.sm_id] |= np.uint32(1 << fault.bit)
            elif fault.kind == "flip_bit":
                corruption.xor_mask[fault.sm_id] ^= np.uint32(1 << fault.bit)
            else:
                corruption.sfu_xor[fault.sm_id] = SFU_PERTURBATION
        return corruption
