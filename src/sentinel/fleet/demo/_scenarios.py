"""The six demo scenarios: which simulated GPUs they use and which faults they arm.

Positions are fixed (host 0 is the hot node; the single-GPU scenarios and the bad-firmware
GPUs fill the other hosts device by device, round-robin, so they spread over hosts); the
seed picks the faulty SMs and the draws of intermittent faults. Every fault has its own bit
or SM, so two faulty GPUs in one TMR canary never agree on a wrong digest and outvote a
healthy third.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from sentinel.fleet.demo._spec import DemoSpec
from sentinel.fleet.probes import FaultSpec
from sentinel.fleet.types import ProbeType

__all__ = [
    "BAD_FIRMWARE",
    "COMMON_FIRMWARE",
    "INTERMITTENT_RATE",
    "Layout",
    "Position",
    "Scenario",
    "hostname",
    "layout",
    "scenarios",
]

Position = tuple[int, int]
"""(host index, device index)."""

COMMON_FIRMWARE = "sim-96.00.89"
BAD_FIRMWARE = "sim-96.00.61"
INTERMITTENT_RATE = 0.4
"""Share of FMA runs (and of served batches) the intermittent fault corrupts."""
_HOT_RATE = 0.3
_FMA = frozenset({ProbeType.FMA})


@dataclass(frozen=True)
class Scenario:
    """One story the demo tells, for people (the CLI, the dashboard) and for tests."""

    key: str
    """``stuck_bit``, ``intermittent_fma``, ``hot_node``, ``bad_firmware``, ``tmr_outvoted``
    or ``false_alarm``."""
    title: str
    """One line a person reads."""
    gpu_uuids: tuple[str, ...]
    """The GPUs it plays on."""
    pattern: str
    """The correlation pattern(s) it exercises, ``Pattern`` names joined by ", "; ``none`` for
    the false alarm, whose lone signal correlates with nothing."""
    expected: str
    """How its GPUs end up."""


@dataclass(frozen=True)
class Layout:
    """Where each scenario sits and the faults it arms."""

    hot_host: int
    stuck: Position
    intermittent: Position
    tmr: Position
    false_alarm: Position
    bad_firmware: tuple[Position, Position, Position]
    tmr_peers: tuple[Position, Position]
    """Healthy GPUs on other hosts that run the TMR canaries with ``tmr``."""
    faults: dict[Position, FaultSpec]
    """Armed when the faults appear."""
    heat_faults: dict[Position, FaultSpec]
    """Armed once the hot node has heated up."""

    def firmware(self, position: Position) -> str:
        """The firmware version a GPU runs."""
        return BAD_FIRMWARE if position in self.bad_firmware else COMMON_FIRMWARE


def hostname(host: int) -> str:
    """Name of simulated host ``host`` (0-based): ``demo-node-01``, ..."""
    return f"demo-node-{host + 1:02d}"


def layout(spec: DemoSpec) -> Layout:
    """The scenarios' positions and faults for ``spec``; the same for the same spec."""
    rng = random.Random(spec.seed)

    def sm() -> int:
        return rng.randrange(spec.sm_count)

    def seed() -> int:
        return rng.getrandbits(32)

    cool = [(h, d) for d in range(spec.gpus_per_host) for h in range(1, spec.hosts)]
    stuck, intermittent, tmr, false_alarm, *firmware = cool[:7]
    bad = (firmware[0], firmware[1], firmware[2])
    peers = [p for p in cool[7:] if p[0] != tmr[0]][:2]
    faults = {
        stuck: FaultSpec("stuck_bit", sm(), bit=9),
        intermittent: FaultSpec(
            "flip_bit", sm(), bit=30, rate=INTERMITTENT_RATE, probe_types=_FMA, seed=seed()
        ),
        tmr: FaultSpec("flip_bit", sm(), bit=3, probe_types=_FMA),
    }
    for i, p in enumerate(bad):
        kinds = frozenset({ProbeType.FMA, ProbeType.TENSOR_CORE})
        faults[p] = FaultSpec("flip_bit", sm(), bit=12 + i, probe_types=kinds)
    heat = {
        (0, d): FaultSpec("flip_bit", sm(), bit=16 + d % 8, rate=_HOT_RATE, seed=seed())
        for d in range(spec.gpus_per_host)
    }
    return Layout(0, stuck, intermittent, tmr, false_alarm, bad, (peers[0], peers[1]), faults, heat)


def scenarios(
    lay: Layout, spec: DemoSpec, uuid_of: Callable[[Position], str], fma_period_s: float
) -> list[Scenario]:
    """The six scenarios of ``lay``, with their GPUs' UUIDs."""

    def where(p: Position) -> str:
        return f"GPU {p[1]} of {hostname(p[0])}"

    stuck = lay.faults[lay.stuck]
    hot = hostname(lay.hot_host)
    bad_hosts = ", ".join(sorted({hostname(h) for h, _ in lay.bad_firmware}))
    return [
        Scenario(
            "stuck_bit",
            f"{where(lay.stuck)}: bit {stuck.bit} stuck at 1 on SM {stuck.sm_id}; every probe "
            "covering that SM fails",
            (uuid_of(lay.stuck),),
            "SM_LOCALIZED",
            f"QUARANTINED within 3 FMA periods ({3 * fma_period_s:g} s); its deep test fails "
            "and CONDEMN waits for an operator's approval",
        ),
        Scenario(
            "intermittent_fma",
            f"{where(lay.intermittent)}: intermittent FMA bit flip ({INTERMITTENT_RATE:.0%} of "
            "runs) that also corrupts the logits of the model it serves",
            (uuid_of(lay.intermittent),),
            "MULTI_SIGNAL",
            "QUARANTINED",
        ),
        Scenario(
            "hot_node",
            f"{hot}: cooling fails; all {spec.gpus_per_host} GPUs pass 85 °C, throttle and "
            "start to err",
            tuple(uuid_of((lay.hot_host, d)) for d in range(spec.gpus_per_host)),
            "ENVIRONMENTAL, NODE_CORRELATED",
            "QUARANTINED for the environment; their deep tests wait until the node is back "
            "within limits, so none is condemned",
        ),
        Scenario(
            "bad_firmware",
            f"3 GPUs on {bad_hosts} run firmware {BAD_FIRMWARE} (the rest {COMMON_FIRMWARE}), "
            "whose FMA and tensor results are wrong",
            tuple(uuid_of(p) for p in lay.bad_firmware),
            "FIRMWARE_CORRELATED",
            "QUARANTINED",
        ),
        Scenario(
            "tmr_outvoted",
            f"{where(lay.tmr)}: FMA bit flip; TMR canaries with two healthy peers outvote it",
            (uuid_of(lay.tmr),),
            "TMR_CONFIRMED",
            "QUARANTINED",
        ),
        Scenario(
            "false_alarm",
            f"{where(lay.false_alarm)}: the logits of its model drift for a moment; no "
            "hardware fault",
            (uuid_of(lay.false_alarm),),
            "none",
            "SUSPECT, then recovers to HEALTHY on its own; never quarantined",
        ),
    ]
