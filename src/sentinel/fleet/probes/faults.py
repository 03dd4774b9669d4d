"""Injected faults: which runs they hit, and what they do to the words those runs compute.

``FaultBook.draw`` decides once per run, for both backends, which armed faults are active
(their per-run ``rate``, temperature, clock and on/off phase). Whole-SM faults become per-SM
bit masks, which the GPU kernels apply on the target SM and the CPU model applies to the SM's
result words. ``per_word`` faults (one lane or register, an operand trigger, a ULP error, a
per-word rate) come with their own random stream for the run and pick single operations: the
CPU model applies them where the unit would, inside FMA and tensor chains, to each
transcendental result, to each register access and to each memory read, and the GPU backend
hands the same picks to its FMA, tensor-core and transcendental kernels (``_kernel_faults``).
What a hit does to a word is ``effect``, one rule for both.

Every random choice is drawn from the fault's ``seed`` and the run's number, so a curve
measured over many runs can be reproduced exactly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import numpy as np

from sentinel.fleet.probes._types import FaultSpec

SFU_PERTURBATION = np.uint32(0x100)
"""XORed into a bad transcendental unit's float32 results: a 256 ULP error."""
WARP = 32


@dataclass(frozen=True)
class Conditions:
    """The device as a run starts: what temperature-, clock- and phase-bound faults depend on."""

    now: float = 0.0
    """Seconds on the backend's clock."""
    temperature_c: float | None = None
    """``None`` when unknown; a fault that needs heat is then dormant."""
    sm_clock_mhz: float | None = None


class LiveFault:
    """A ``per_word`` fault active in one run, with the random stream that picks its words."""

    def __init__(self, spec: FaultSpec, run: int) -> None:
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, run])
        self.triggers = spec.operand_mask != 0 or spec.operand_range is not None
        """Whether an operand decides if a picked operation is hit."""
        self._effects = {sfu: effect(spec, sfu=sfu) for sfu in (False, True)}

    def pick(self, n: int) -> np.ndarray:
        """Sorted indices of the operations hit among ``n`` candidates."""
        rate = self.spec.word_rate
        if rate is None:
            return np.arange(n)
        hits = self.rng.binomial(n, rate)
        if hits == 0:
            return np.zeros(0, np.int64)
        return np.unique(self.rng.integers(0, n, hits))

    def in_scope(self, lanes: np.ndarray, registers: np.ndarray | None) -> np.ndarray:
        """Which of the words (their lanes and registers) the fault can reach."""
        scope = np.ones(lanes.shape, bool)
        if self.spec.lane is not None:
            scope &= lanes == self.spec.lane
        if self.spec.register is not None:
            scope &= False if registers is None else registers == self.spec.register
        return scope

    def triggered(self, operands: np.ndarray) -> np.ndarray:
        """Which operations, by their operand's uint32 bits, trip the fault's trigger."""
        spec = self.spec
        if not self.triggers:
            return np.ones(operands.shape, bool)
        hit = (operands & np.uint32(spec.operand_mask)) == np.uint32(spec.operand_value)
        if spec.operand_range is not None:  # float32 bounds, as the kernels' fault table
            low, high = np.array(spec.operand_range, np.float32)
            with np.errstate(invalid="ignore"):
                values = operands.view(np.float32)
                hit &= (values >= low) & (values < high)
        return np.asarray(hit)

    def words(self, operands: np.ndarray, registers: np.ndarray | None = None) -> np.ndarray:
        """Which words of a row (one operation each, on lane ``index % 32``) the fault hits,
        given what each operation read and, where that applies, the register it was held in."""
        lanes = np.arange(operands.size) % WARP
        candidates = np.flatnonzero(self.in_scope(lanes, registers))
        picked = candidates[self.pick(candidates.size)]
        return picked[self.triggered(operands[picked])]

    def hit(self, words: np.ndarray, *, sfu: bool) -> np.ndarray:
        """``words`` as the faulty unit computes them (uint32)."""
        or_bits, xor_bits, add = self._effects[sfu]
        if or_bits:
            words = words | np.uint32(or_bits)
        if xor_bits:
            words = words ^ np.uint32(xor_bits)
        if add:
            words = words + np.uint32(add)
        return words


@dataclass(frozen=True)
class Corruption:
    """What the faults active in one run do: per-SM masks, and per-word faults by SM."""

    or_mask: np.ndarray
    """Stuck-at-1 bits, ORed into every result word of the SM."""
    xor_mask: np.ndarray
    """Flipped bits, XORed into every result word of the SM."""
    sfu_xor: np.ndarray
    """Perturbation of the SM's transcendental results."""
    per_word: dict[int, list[LiveFault]] = field(default_factory=dict)
    """SM id -> the per-word faults active on it."""

    @classmethod
    def none(cls, sm_count: int) -> Corruption:
        """No fault on any SM."""
        zeros = [np.zeros(sm_count, np.uint32) for _ in range(3)]
        return cls(zeros[0], zeros[1], zeros[2])

    @property
    def masked(self) -> bool:
        """Whether any SM has a whole-word mask (what every GPU kernel applies)."""
        return bool(self.or_mask.any() or self.xor_mask.any() or self.sfu_xor.any())

    @property
    def active(self) -> bool:
        """Whether any SM is hit, so healthy runs can skip the fault work."""
        return self.masked or bool(self.per_word)

    def touches(self, sm: int) -> bool:
        """Whether any fault of this run reaches ``sm``."""
        masked = self.or_mask[sm] | self.xor_mask[sm] | self.sfu_xor[sm]
        return bool(masked) or sm in self.per_word

    def on(self, sm: int) -> list[LiveFault]:
        """The per-word faults active on ``sm`` in this run."""
        return self.per_word.get(sm, [])

    def mask(self, words: np.ndarray, sms: np.ndarray, *, sfu: bool = False) -> np.ndarray:
        """``words`` (one row per SM in ``sms``) through the whole-word masks only."""
        if not self.masked:
            return words
        shape = (len(sms),) + (1,) * (words.ndim - 1)
        if sfu:
            words = words ^ self.sfu_xor[sms].reshape(shape)
        return (words | self.or_mask[sms].reshape(shape)) ^ self.xor_mask[sms].reshape(shape)

    def apply(
        self,
        words: np.ndarray,
        sms: np.ndarray,
        *,
        sfu: bool = False,
        operands: np.ndarray | None = None,
        registers: np.ndarray | None = None,
    ) -> np.ndarray:
        """``words`` (one row per SM in ``sms``) as the faulty SMs produced them, each word one
        operation: masks first, then every per-word fault on its SM's row.

        ``operands`` (same shape as a row, default the words themselves) are what the
        operations read, for operand triggers; a row's words run on lanes ``index % 32``, and
        ``registers`` says which register each word was held in, where that applies.
        """
        healthy = words
        words = self.mask(words, sms, sfu=sfu)
        if not self.per_word:
            return words
        words = words.copy()
        for row, sm in enumerate(np.asarray(sms).tolist()):
            for fault in self.on(sm):
                flat = words[row].reshape(-1)
                ops = (healthy[row] if operands is None else operands).reshape(-1)
                picked = fault.words(ops, None if registers is None else registers.reshape(-1))
                flat[picked] = fault.hit(flat[picked], sfu=sfu)
                words[row] = flat.reshape(words[row].shape)
        return words


def effect(spec: FaultSpec, *, sfu: bool) -> tuple[int, int, int]:
    """What a hit does to a result word: OR, then XOR, then ADD (mod 2^32); ``sfu`` for a
    transcendental result, the only kind a bad transcendental unit touches."""
    if spec.kind == "stuck_bit":
        return 1 << spec.bit, 0, 0
    if spec.kind == "flip_bit":
        return 0, 1 << spec.bit, 0
    if spec.kind == "ulp_error":
        return 0, 0, spec.ulp
    return 0, int(SFU_PERTURBATION) if sfu else 0, 0


def awake(fault: FaultSpec, conditions: Conditions) -> bool:
    """Whether heat, clock and the on/off phase (drawn from the seed) let ``fault`` act now."""
    if fault.min_temperature_c is not None and (
        conditions.temperature_c is None or conditions.temperature_c < fault.min_temperature_c
    ):
        return False
    if fault.min_sm_clock_mhz is not None and (
        conditions.sm_clock_mhz is None or conditions.sm_clock_mhz < fault.min_sm_clock_mhz
    ):
        return False
    if fault.on_s > 0:
        cycle = fault.on_s + fault.off_s
        phase = random.Random(fault.seed ^ 0x5EED).uniform(0, cycle)
        return (conditions.now + phase) % cycle < fault.on_s
    return True


class _Armed:
    """An injected fault and the random stream that decides which runs it hits."""

    def __init__(self, fault: FaultSpec) -> None:
        self.fault = fault
        self.draws = random.Random(fault.seed)
        self.runs = 0

    def fires(self, probe_type: int, conditions: Conditions) -> bool:
        """Whether this run is hit; the per-run draw is taken only when the fault is awake."""
        fault = self.fault
        if probe_type not in fault.probe_types or not awake(fault, conditions):
            return False
        return fault.rate >= 1.0 or self.draws.random() < fault.rate


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

    def armed(self, device_index: int) -> list[FaultSpec]:
        """The faults armed on a device, in the order they were injected."""
        with self._lock:
            return [a.fault for a in self._armed.get(device_index, [])]

    def conditional(self, device_index: int) -> bool:
        """Whether any armed fault of the device waits on telemetry or time."""
        with self._lock:
            return any(a.fault.conditional for a in self._armed.get(device_index, []))

    def draw(
        self,
        device_index: int,
        probe_type: int,
        sm_count: int,
        conditions: Conditions | None = None,
    ) -> Corruption:
        """What the faults that hit this run do; each armed fault draws once per run."""
        conditions = conditions or Conditions()
        corruption = Corruption.none(sm_count)
        with self._lock:
            hits = []
            for armed in self._armed.get(device_index, []):
                if armed.fires(probe_type, conditions):
                    armed.runs += 1
                    hits.append((armed.fault, armed.runs))
        for fault, run in hits:
            if fault.sm_id >= sm_count:
                continue
            if fault.per_word:
                corruption.per_word.setdefault(fault.sm_id, []).append(LiveFault(fault, run))
            elif fault.kind == "stuck_bit":
                corruption.or_mask[fault.sm_id] |= np.uint32(1 << fault.bit)
            elif fault.kind == "flip_bit":
                corruption.xor_mask[fault.sm_id] ^= np.uint32(1 << fault.bit)
            else:
                corruption.sfu_xor[fault.sm_id] = SFU_PERTURBATION
        return corruption
