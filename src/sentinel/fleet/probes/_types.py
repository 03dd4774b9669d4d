"""The probe contract: outcomes, device identity, injected faults and the backend protocol.

Results and probe types are the ``sentinel.v1`` integers (``ProbeType``/``ProbeResult`` from
``sentinel.fleet.types``), so outcomes go onto the wire without translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

FaultKind = Literal["stuck_bit", "flip_bit", "bad_transcendental"]
FAULT_KINDS: tuple[FaultKind, ...] = ("stuck_bit", "flip_bit", "bad_transcendental")


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
    """A hardware fault to inject on one SM, so that detection can be demonstrated and tested."""

    kind: FaultKind
    """``stuck_bit`` forces ``bit`` to 1 in the SM's results (stuck-at-1), ``flip_bit`` inverts
    it, ``bad_transcendental`` puts the SM's sin/cos/exp/log 256 ULP off."""
    sm_id: int
    bit: int = 0
    """Bit of a 32-bit result word, 0..31."""
    rate: float = 1.0
    """Probability per probe run; below 1 the fault is intermittent."""
    probe_types: frozenset[int] = frozenset(range(1, 8))
    """Probe types whose runs the fault can hit."""
    seed: int = 0
    """Seeds the choice of runs an intermittent fault hits, so it is reproducible."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 0 <= self.bit <= 31:
            raise ValueError(f"bit {self.bit} is outside a 32-bit word; use 0..31")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate} is not a probability; use 0..1")
        if self.sm_id < 0:
            raise ValueError(f"sm_id {self.sm_id} is negative")


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
