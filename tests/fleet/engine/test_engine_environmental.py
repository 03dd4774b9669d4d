"""A GPU is not condemned by a deep test run while its surroundings are out of limits.

When heat or throttling explains a GPU's errors (the ENVIRONMENTAL finding), its
quarantine waits for the environment to come back within limits before the deep test, and
a deep test that fails in a bad environment sends it back to QUARANTINED, not to CONDEMN.
Errors of the GPU itself (ECC, Xid) and failures in a good environment still condemn.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sentinel_testing import SM_COUNT, probe, register_host

from sentinel.core.db import make_engine, migrate
from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import FleetEngine
from sentinel.fleet.engine.enums import Action, GpuState, Pattern
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

HOT = {"temperature_c": 92.0, "throttle_reasons": 0x20 | 0x40}
COOL = {"temperature_c": 64.0, "throttle_reasons": 0}
HOT_REASON = (
    "environmental: temperature 92 °C above the 85 °C limit; "
    "throttled (SW thermal slowdown, HW thermal slowdown)"
)
WAITS = "its deep test waits until the environment is back within limits"
DELAY_S = 300.0
_ids = itertools.count()


@dataclass
class Fleet:
    engine: FleetEngine
    clock: list[float]
    gpus: list[str]

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds

    def telemetry(self, uuid: str, **reading: float) -> None:
        sample = agent_pb2.GpuTelemetry(gpu_uuid=uuid, power_w=650.0, **reading)  # type: ignore[arg-type]
        ack = self.engine.submit_telemetry([sample]).result(timeout=10)
        assert ack.accepted == 1, ack

    def tick(self) -> None:
        self.engine.tick().result(timeout=10)

    def state(self, uuid: str) -> GpuState:
        return GpuState(self.engine.state.gpus[uuid].state)

    def transitions(self, uuid: str) -> list[types_pb2.StateTransition]:
        request = fleet_pb2.GetGpuHistoryRequest(gpu_uuid=uuid, limit=1000)
        return list(queries.gpu_history(self.engine, request).state_transitions)

    def patterns(self, uuid: str) -> set[str]:
        request = fleet_pb2.GetGpuHistoryRequest(gpu_uuid=uuid, limit=1000)
        history = queries.gpu_history(self.engine, request)
        return {Pattern(c.pattern_type).name for c in history.correlations}

    def directives(self, uuid: str) -> list[types_pb2.QuarantineDirective]:
        return list(queries.list_directives(self.engine, gpu_uuid=uuid).directives)

    def deep_test(self, uuid: str, result: int) -> None:
        report = agent_pb2.ProbeReport(
            report_id=f"deep-{next(_ids)}",
            gpu_uuid=uuid,
            probe_type=types_pb2.PROBE_TYPE_FMA,
            result=result,  # type: ignore[arg-type]
            deep_test=True,
        )
        ack = self.engine.ingest_probe_results([report])
        assert ack.accepted == 1, ack


@pytest.fixture
def fleet(db_url: str) -> Iterator[Fleet]:
    db = make_engine(db_url)
    migrate(db)
    clock = [time.time()]
    policy = EnginePolicy(deep_test_delay_seconds=DELAY_S)
    engine = FleetEngine(db, policy, clock=lambda: clock[0])
    engine.start()
    try:
        yield Fleet(engine, clock, register_host(engine, "hot-node-1", 2))
    finally:
        engine.stop()
        db.dispose()


def _quarantine(fleet: Fleet, uuid: str) -> None:
    probe(fleet.engine, uuid, failing_sm=SM_COUNT - 1, n=3)
    assert fleet.state(uuid) == GpuState.QUARANTINED


def _no_condemn(fleet: Fleet, uuid: str) -> None:
    assert not [d for d in fleet.directives(uuid) if d.action == Action.CONDEMN]
    assert not [d for d in fleet.engine.pending.values() if d.gpu.uuid == uuid]


def test_hot_gpu_waits_in_quarantine_until_its_environment_recovers(fleet: Fleet) -> None:
    uuid = fleet.gpus[0]
    fleet.telemetry(uuid, **HOT)
    _quarantine(fleet, uuid)
    (quarantined,) = fleet.transitions(uuid)
    assert quarantined.reason.startswith("3 probe failures within 3600 s")
    assert f"{HOT_REASON}; {WAITS}" in quarantined.reason
    assert "ENVIRONMENTAL" in fleet.patterns(uuid)

    for _ in range(3):  # long past the drain delay, still hot
        fleet.advance(DELAY_S)
        fleet.telemetry(uuid, **HOT)
        fleet.tick()
        assert fleet.state(uuid) == GpuState.QUARANTINED
    _no_condemn(fleet, uuid)

    fleet.telemetry(uuid, **COOL)
    fleet.tick()
    assert fleet.state(uuid) == GpuState.DEEP_TEST
    assert fleet.directives(uuid)[0].action == Action.SCHEDULE_DEEP_TEST


def test_deep_test_failed_in_a_bad_environment_goes_back_to_quarantine(fleet: Fleet) -> None:
    uuid = fleet.gpus[0]
    delivered: list[types_pb2.QuarantineDirective] = []
    fleet.engine.add_listener(lambda kind, d: delivered.append(d) if kind == "directive" else None)
    fleet.telemetry(uuid, **COOL)
    _quarantine(fleet, uuid)
    fleet.advance(DELAY_S)
    fleet.tick()
    assert fleet.state(uuid) == GpuState.DEEP_TEST

    fleet.telemetry(uuid, **HOT)  # the cooling fails during the deep test
    fleet.deep_test(uuid, types_pb2.PROBE_RESULT_FAIL)

    assert fleet.state(uuid) == GpuState.QUARANTINED
    _no_condemn(fleet, uuid)
    back = fleet.transitions(uuid)[-1]
    assert (back.from_state, back.to_state) == (GpuState.DEEP_TEST, GpuState.QUARANTINED)
    assert back.reason.startswith(HOT_REASON)
    assert "the deep test failed outside the environmental limits and does not count" in back.reason
    assert back.initiated_by == "sentinel-engine"
    # The agent is told, so it stops the deep test.
    told = delivered[-1]
    assert (told.action, told.gpu.uuid, told.reason) == (Action.QUARANTINE, uuid, back.reason)

    fleet.advance(DELAY_S)
    fleet.telemetry(uuid, **HOT)
    fleet.tick()
    assert fleet.state(uuid) == GpuState.QUARANTINED
    fleet.telemetry(uuid, **COOL)
    fleet.tick()
    assert fleet.state(uuid) == GpuState.DEEP_TEST
    assert not fleet.engine.state.gpus[uuid].deep_test_failed  # a fresh deep test

    # Cool, it fails again: now it is the GPU, and CONDEMN waits for an operator.
    fleet.deep_test(uuid, types_pb2.PROBE_RESULT_FAIL)
    (condemn,) = fleet.engine.pending.values()
    assert (condemn.action, condemn.gpu.uuid, condemn.reason) == (
        Action.CONDEMN,
        uuid,
        "deep test failed",
    )


@pytest.mark.parametrize(
    "reading",
    [
        {"temperature_c": 64.0, "xid_events": [79]},
        {"temperature_c": 64.0, "ecc_double_bit": 4},
    ],
    ids=["xid", "ecc"],
)
def test_faults_of_the_gpu_itself_still_condemn(fleet: Fleet, reading: dict[str, object]) -> None:
    uuid = fleet.gpus[1]
    fleet.telemetry(uuid, **COOL)
    _quarantine(fleet, uuid)
    fleet.advance(DELAY_S)
    fleet.tick()
    assert fleet.state(uuid) == GpuState.DEEP_TEST

    fleet.telemetry(uuid, **reading)  # type: ignore[arg-type]
    fleet.deep_test(uuid, types_pb2.PROBE_RESULT_FAIL)
    assert fleet.state(uuid) == GpuState.DEEP_TEST
    (condemn,) = fleet.engine.pending.values()
    assert (condemn.action, condemn.gpu.uuid) == (Action.CONDEMN, uuid)


def test_the_latest_sample_decides_and_a_late_one_does_not(fleet: Fleet) -> None:
    correlator = fleet.engine.correlator
    uuid = fleet.gpus[0]
    assert correlator.environment_out_of_limits(uuid) is None  # no sample yet
    now = fleet.clock[0]

    def sample(ts: float, temperature_c: float) -> None:
        correlator.observe_telemetry(uuid, ts, temperature_c, 500.0, 0, 0, 0, [], f"t{ts}")

    sample(now, 90.0)
    assert correlator.environment_out_of_limits(uuid) == "temperature 90 °C above the 85 °C limit"
    sample(now + 10, 70.0)
    assert correlator.environment_out_of_limits(uuid) is None
    sample(now + 5, 95.0)  # delivered late: older than what is known
    assert correlator.environment_out_of_limits(uuid) is None
