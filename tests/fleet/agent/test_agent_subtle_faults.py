"""Subtle faults through a real agent and server: a rare lane fault and a hot-only fault are
quarantined, on the right SM, by the default schedule (sped up)."""

from __future__ import annotations

import time
from typing import Any

from sentinel.fleet.probes import CpuBackend, FaultSpec, workloads
from sentinel.fleet.types import ProbeType

QUARANTINED, HEALTHY = 3, 1


def _gpu(server: Any, agent: Any, index: int) -> Any:
    return server.engine.state.gpus.get(agent.devices[index].uuid)


def test_a_rare_lane_fault_is_quarantined_on_its_sm(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    backend = CpuBackend(1, 8, hostname="node-rare")
    ops = workloads.LANES // 32 * workloads.FMA_STEPS[0]  # the lane's FMA operations per run
    spec = FaultSpec(
        "flip_bit",
        sm_id=6,
        bit=17,
        lane=11,
        word_rate=0.4 / ops,  # about one run in three fails
        probe_types=frozenset({ProbeType.FMA}),
        seed=3,
    )
    backend.inject(0, spec)
    agent, _ = make_agent(fleet_server.address, hostname="node-rare", backend=backend)
    g = wait_for(
        lambda: (g := _gpu(fleet_server, agent, 0)) and g.state == QUARANTINED and g,
        "quarantine",
        timeout=60,
    )
    fails = g.sm[3]
    assert fails[6] >= 3 and fails.sum() == fails[6], "the failures are SM 6's alone"


def test_a_hot_only_fault_waits_for_the_heat(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    backend = CpuBackend(1, 8, hostname="node-hot")
    backend.set_conditions(0, temperature_c=60.0, sm_clock_mhz=1980.0)
    backend.inject(0, FaultSpec("flip_bit", sm_id=2, bit=9, min_temperature_c=80.0))
    agent, _ = make_agent(fleet_server.address, hostname="node-hot", backend=backend)
    wait_for(lambda: (g := _gpu(fleet_server, agent, 0)) and g.probe_pass_count >= 20, "passes")
    time.sleep(0.5)
    g = _gpu(fleet_server, agent, 0)
    assert g.state == HEALTHY and g.probe_fail_count == 0, "cool: the fault sleeps"
    backend.set_conditions(0, temperature_c=84.0, sm_clock_mhz=1980.0)
    g = wait_for(
        lambda: (g := _gpu(fleet_server, agent, 0)).state == QUARANTINED and g, "quarantine"
    )
    assert g.sm[3][2] > 0 and g.sm[3].sum() == g.sm[3][2]
