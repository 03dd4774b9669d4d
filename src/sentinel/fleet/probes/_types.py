"""The probe contract: outcomes, device identity, injected faults and the backend protocol.

Results and probe types are the ``sentinel.v1`` integers (``ProbeType``/``ProbeResult`` from
``sentinel.fleet.types``), so outcomes go onto the wire without translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

FaultKind = Literal["stuck_bit", "flip_bit", "bad_transcendental", "ulp_error"]
FAULT_KINDS: tuple[FaultKind, ...] = ("stuck_bit", "flip_bit", "bad_transcendental", "ulp_error")
REGISTERS = 72
"""Registers per thread that the register-file probe holds patterns in."""


@dataclass(frozen=True)
class SmDetail:
    """Why one SM did not pass."""

    sm_id: int
    result: int
    """A ``ProbeResult`` value."""
    detail: str


@dataclass(frozen=True)
class ProbeOutcome:
    """Result of one probe run on one device, attributed per SM."""

    probe_type: int
    """A ``ProbeType`` value."""
    result: int
    """PASS only when every covered SM was checked and matched; ERROR when the probe raised,
    TIMEOUT when it ran longer than ``timeout_ms`` (its results are then not trusted)."""
    sm_outcomes: bytes
    """``len == sm_count``, index = SM id: a ``ProbeResult`` value, 0 = not covered."""
    details: tuple[SmDetail, ...]
    """One per SM that was checked and failed; a whole-probe ERROR or TIMEOUT says why in
    ``detail`` instead, since no SM is to blame."""
    duration_us: int
    """Device time the probe used, for the overhead budget."""
    detail: str = ""


@dataclass(frozen=True)
class DeviceInfo:
    """Identity of one probed device, as the engine registers it."""

    index: int
    uuid: str
    model: str
    driver_version: str
    firmware_version: str
    sm_count: int


@dataclass(frozen=True)
class FaultSpec:
    """A hardware fault to inject on one SM, so that detection can be demonstrated and measured.

    The plain form corrupts every result word of the SM on every run it fires (``rate``). The
    other fields make it as subtle as faults in real fleets: one lane or register, only some
    operands, one ULP, a per-word rate, only when hot or fast, only in some phases. Whether a
    run is hit is decided once, in ``faults.FaultBook``, for both backends, and so are the
    words a ``per_word`` fault hits: the CPU model applies them, and the GPU backend hands them
    to its FMA, tensor-core and transcendental kernels (the others take whole-SM faults only).
    """

    kind: FaultKind
    """``stuck_bit`` forces ``bit`` to 1 (stuck-at-1), ``flip_bit`` inverts it,
    ``bad_transcendental`` puts sin/cos/exp/log 256 ULP off, ``ulp_error`` puts a result
    ``ulp`` units in the last place off."""
    sm_id: int
    bit: int = 0
    """Bit of a 32-bit result word, 0..31."""
    rate: float = 1.0
    """Probability per probe run; below 1 the fault is intermittent."""
    probe_types: frozenset[int] = frozenset(range(1, 8))
    """Probe types whose runs the fault can hit: the units it lives in."""
    seed: int = 0
    """Seeds every random choice of the fault (runs, words, phase), so it is reproducible."""
    lane: int | None = None
    """Only results computed by this lane of a warp (0..31)."""
    register: int | None = None
    """Only values held in this register of the register-file probe (0..71)."""
    word_rate: float | None = None
    """Probability that one result word (one operation) is hit; ``None``: every word."""
    operand_mask: int = 0
    operand_value: int = 0
    """Only operations whose operand bits satisfy ``operand & operand_mask == operand_value``."""
    operand_range: tuple[float, float] | None = None
    """Only operations whose operand, read as float32, lies in ``[low, high)``."""
    ulp: int = 1
    """Size of an ``ulp_error``, in units in the last place."""
    min_temperature_c: float | None = None
    """Active only while the GPU is at least this hot."""
    min_sm_clock_mhz: float | None = None
    """Active only while the SM clock is at least this fast."""
    on_s: float = 0.0
    off_s: float = 0.0
    """Active ``on_s`` seconds, then dormant ``off_s`` seconds, from a seeded phase; 0: always."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 0 <= self.bit <= 31:
            raise ValueError(f"bit {self.bit} is outside a 32-bit word; use 0..31")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate} is not a probability; use 0..1")
        if self.sm_id < 0:
            raise ValueError(f"sm_id {self.sm_id} is negative")
        if self.lane is not None and not 0 <= self.lane < 32:
            raise ValueError(f"lane {self.lane} is outside a warp; use 0..31")
        if self.register is not None and not 0 <= self.register < REGISTERS:
            raise ValueError(f"register {self.register} is outside 0..{REGISTERS - 1}")
        if self.word_rate is not None and not 0.0 < self.word_rate <= 1.0:
            raise ValueError(f"word_rate {self.word_rate} is not a probability; use (0, 1]")
        if not 0 <= self.operand_mask < 1 << 32 or not 0 <= self.operand_value < 1 << 32:
            raise ValueError("operand_mask and operand_value must be 32-bit words")
        if self.operand_value & ~self.operand_mask:
            raise ValueError(
                f"operand_value {self.operand_value:#x} sets bits outside operand_mask "
                f"{self.operand_mask:#x}, so no operand could match"
            )
        if self.operand_range is not None:
            low, high = self.operand_range
            if not low < high:
                raise ValueError(f"operand_range {self.operand_range} is empty; need low < high")
        if not 1 <= self.ulp < 1 << 23:
            raise ValueError(f"ulp {self.ulp} must be 1..{(1 << 23) - 1}")
        if self.on_s < 0 or self.off_s < 0 or (self.on_s == 0) != (self.off_s == 0):
            raise ValueError(
                f"on_s {self.on_s} and off_s {self.off_s} must both be 0 (always active) "
                "or both be > 0"
            )

    @property
    def per_word(self) -> bool:
        """Whether the fault picks single words (lane, register, operand, ULP, per-word rate)
        rather than masking every result word of its SM."""
        return (
            self.kind == "ulp_error"
            or self.lane is not None
            or self.register is not None
            or self.word_rate is not None
            or self.operand_mask != 0
            or self.operand_range is not None
        )

    @property
    def conditional(self) -> bool:
        """Whether telemetry or the time decide if the fault is active."""
        return (
            self.min_temperature_c is not None
            or self.min_sm_clock_mhz is not None
            or (self.on_s > 0)
        )


class ProbeBackend(Protocol):
    """Runs SDC probes on the devices of one host; the agent's only view of the hardware."""

    def devices(self) -> list[DeviceInfo]:
        """The devices this backend probes, in index order."""
        ...

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
        ...

    def tmr_digest(self, device_index: int, seed: int) -> bytes:
        """SHA-256 of a fixed-seed workload's output: equal on healthy devices of a backend."""
        ...

    def inject(self, device_index: int, fault: FaultSpec) -> None:
        """Add a fault to a device until ``clear_faults``."""
        ...

    def clear_faults(self, device_index: int) -> None:
        """Remove every injected fault from a device."""
        ...
