"""The demo fleet against a real server: each scenario plays out as its title says."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sentinel_testing import OPERATOR_TOKEN

import sentinel.fleet.demo
from sentinel.core.settings import ServerSettings
from sentinel.fleet.demo import (
    DemoFleet,
    DemoSpec,
    DemoTooLarge,
    Scenario,
    check_capacity,
    demo_policy,
)
from sentinel.fleet.engine import queries
from sentinel.fleet.engine.enums import Action, GpuState, Pattern
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.probes import CpuBackend
from sentinel.fleet.service import FleetSettings
from sentinel.server.app import SentinelServer
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

FAST = DemoSpec(hosts=4, gpus_per_host=4, schedule_scale=0.02, fault_delay_s=4.0)
"""16 GPUs, FMA every 1.2 s, faults 4 s after start."""
_GiB = 1 << 30
T = TypeVar("T")


@dataclasses.dataclass
class Demo:
    server: SentinelServer
    fleet: DemoFleet

    def scenario(self, key: str) -> Scenario:
        return next(s for s in self.fleet.scenarios if s.key == key)

    def history(self, uuid: str) -> fleet_pb2.GpuHistoryResponse:
        request = fleet_pb2.GetGpuHistoryRequest(gpu_uuid=uuid, limit=10_000)
        return queries.gpu_history(self.server.engine, request)

    def state(self, uuid: str) -> GpuState:
        return GpuState(queries.gpu_health(self.server.engine, uuid, with_sm=False).state)


def _await(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
    return value


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run, shared by the scenario tests: a real server and the fast fleet."""
    tmp = tmp_path_factory.mktemp("demo")
    settings = ServerSettings(
        grpc_port=0,
        http_port=0,
        data_dir=tmp / "data",
        operator_tokens=(f"alice:{OPERATOR_TOKEN}",),
        domain_settings={"fleet": FleetSettings(demo_overrides=demo_policy(FAST))},
    )
    server = SentinelServer(settings).start()
    fleet = DemoFleet(
        server.address,
        FAST,
        data_dir=tmp / "agents",
        canary=server.engine.create_tmr_canary,
        agent_token=lambda host: server.tokens.create("agent", host=host)[1],
    )
    fleet.start()
    try:
        yield Demo(server, fleet)
    finally:
        fleet.stop()
        server.stop()


# -- the scenarios, on one run (tests run in file order; the last checks the whole run) -----


def test_scenarios_cover_the_fleet(demo: Demo) -> None:
    fleet = demo.fleet
    assert [s.key for s in fleet.scenarios] == [
        "stuck_bit",
        "intermittent_fma",
        "hot_node",
        "bad_firmware",
        "tmr_outvoted",
        "false_alarm",
    ]
    touched = [u for s in fleet.scenarios for u in s.gpu_uuids]
    assert len(touched) == len(set(touched)) == 4 + 3 + 4
    assert set(fleet.all_uuids) == set(touched) | fleet.healthy_uuids
    assert len(fleet.all_uuids) == FAST.gpus
    gpus = demo.server.engine.state.gpus
    _await(lambda: len(gpus) == FAST.gpus, "every host to register")
    firmware = {u: gpus[u].firmware_version for u in fleet.all_uuids}
    bad = set(demo.scenario("bad_firmware").gpu_uuids)
    assert len({firmware[u] for u in bad}) == 1
    assert {firmware[u] for u in bad}.isdisjoint(firmware[u] for u in set(firmware) - bad)
    assert len({gpus[u].hostname for u in bad}) >= 2
    assert {gpus[u].model for u in fleet.all_uuids} == {"Sentinel simulated H100 (CPU)"}


def test_stuck_bit_is_quarantined_within_three_fma_periods(demo: Demo) -> None:
    (uuid,) = demo.scenario("stuck_bit").gpu_uuids
    quarantined = (GpuState.QUARANTINED, GpuState.DEEP_TEST, GpuState.CONDEMNED)
    _await(lambda: demo.state(uuid) in quarantined, "the stuck-bit GPU to be quarantined")
    (q,) = [t for t in demo.history(uuid).state_transitions if t.to_state == GpuState.QUARANTINED]
    started = demo.fleet.fault_started_at
    assert started is not None
    quarantined_at = q.timestamp.ToNanoseconds() / 1e9
    filters = fleet_pb2.AuditQueryFilters(
        gpu=types_pb2.GpuIdentifier(uuid=uuid),
        entry_type=types_pb2.AUDIT_ENTRY_TYPE_PROBE_RESULT,
        limit=1000,
    )
    filters.start_time.FromNanoseconds(int(started * 1e9))
    reports = [
        agent_pb2.ProbeReport.FromString(e.data)
        for e in queries.audit_trail(demo.server.engine, filters).entries
    ]
    fma_runs = [
        r
        for r in reports
        if r.probe_type == types_pb2.PROBE_TYPE_FMA
        and started <= r.timestamp.ToNanoseconds() / 1e9 <= quarantined_at
    ]
    # One FMA run per period: quarantined by the third run after the fault appeared.
    assert 1 <= len(fma_runs) <= 3, [types_pb2.ProbeResult.Name(r.result) for r in fma_runs]
    assert all(r.result == types_pb2.PROBE_RESULT_FAIL for r in fma_runs)
    assert "probe failures" in q.reason


def test_every_pattern_appears_on_its_scenario(demo: Demo) -> None:
    def missing() -> list[str]:
        found = {
            (Pattern(c.pattern_type).name, c.attributed_gpu.uuid)
            for u in demo.fleet.all_uuids
            for c in demo.history(u).correlations
        }
        return [
            f"{pattern} on {s.key}"
            for s in demo.fleet.scenarios
            if s.pattern != "none"
            for pattern in s.pattern.split(", ")
            if not any((pattern, u) in found for u in s.gpu_uuids)
        ]

    _await(lambda: not missing(), "every scenario's pattern")
    patterns = {p for s in demo.fleet.scenarios for p in s.pattern.split(", ")} - {"none"}
    assert patterns == {p.name for p in Pattern}


def test_hot_node_waits_for_its_cooling_instead_of_a_condemn(demo: Demo) -> None:
    """The hot node's errors are the environment's: its GPUs are held, never condemned."""
    engine = demo.server.engine
    hot = demo.scenario("hot_node").gpu_uuids

    def quarantines() -> list[Any] | None:
        if not all(u in engine.state.gpus for u in hot):
            return None  # not registered yet
        found = [
            [t for t in demo.history(u).state_transitions if t.to_state == GpuState.QUARANTINED]
            for u in hot
        ]
        return [q[0] for q in found] if all(found) else None

    held = _await(quarantines, "every GPU of the hot node to be quarantined", timeout=90)
    for q in held:
        assert "probe failures" in q.reason and "environmental: temperature" in q.reason
        assert "its deep test waits until the environment is back within limits" in q.reason
    # Long enough for the deep tests to have started and failed, were they not held.
    last = max(q.timestamp.ToNanoseconds() / 1e9 for q in held)
    until = last + engine.policy.deep_test_delay_seconds + 3 * 5.0  # three engine ticks
    _await(lambda: time.time() > until, "the deep-test delay to pass", timeout=60)
    for uuid in hot:
        assert demo.state(uuid) == GpuState.QUARANTINED, uuid
        listed = queries.list_directives(engine, gpu_uuid=uuid).directives
        assert not [d for d in listed if d.action == Action.CONDEMN], uuid
        assert [(t.from_state, t.to_state) for t in demo.history(uuid).state_transitions] == [
            (GpuState.HEALTHY, GpuState.QUARANTINED)
        ]


def test_false_alarm_goes_suspect_and_recovers_unquarantined(demo: Demo) -> None:
    (uuid,) = demo.scenario("false_alarm").gpu_uuids

    def path() -> list[tuple[GpuState, GpuState]] | None:
        moves = [
            (GpuState(t.from_state), GpuState(t.to_state))
            for t in demo.history(uuid).state_transitions
        ]
        return moves if moves and moves[-1][1] == GpuState.HEALTHY else None

    moves = _await(path, "the false alarm's GPU to recover")
    assert moves == [
        (GpuState.HEALTHY, GpuState.SUSPECT),
        (GpuState.SUSPECT, GpuState.HEALTHY),
    ]
    assert demo.state(uuid) == GpuState.HEALTHY


def test_healthy_gpus_never_left_healthy(demo: Demo) -> None:
    assert demo.fleet.fault_started_at is not None  # the run above has played out
    for uuid in demo.fleet.healthy_uuids:
        assert list(demo.history(uuid).state_transitions) == [], uuid
        assert demo.state(uuid) == GpuState.HEALTHY


# -- spec, capacity and policy -------------------------------------------------------------


def test_exported_names() -> None:
    assert sentinel.fleet.demo.__all__ == [
        "DemoFleet",
        "DemoSpec",
        "DemoTooLarge",
        "Scenario",
        "check_capacity",
        "demo_policy",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hosts": 2}, "at least 3 hosts"),
        ({"gpus_per_host": 1}, "at least 2 GPUs to fail together"),
        ({"hosts": 3, "gpus_per_host": 4}, "too small to stage every scenario"),
        ({"sm_count": 0}, "expected 1..4096 SMs"),
        ({"schedule_scale": 0.0}, "expected a factor > 0"),
        ({"schedule_scale": float("inf")}, "expected a factor > 0"),
        ({"fault_delay_s": -1.0}, "expected seconds >= 0"),
    ],
)
def test_spec_refuses_what_cannot_stage_the_scenarios(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DemoSpec(**changes)


def test_big_fleets_run_a_stretched_schedule() -> None:
    assert DemoSpec().effective_scale == 0.1
    big = DemoSpec(hosts=256, gpus_per_host=8)
    # About 100 reports a second from 2048 GPUs, each reporting four probes a minute and more.
    assert 1.2 < big.effective_scale < 2.0
    assert DemoSpec(hosts=256, gpus_per_host=8, schedule_scale=2.0).effective_scale == 2.0


def test_capacity_refuses_an_absurd_fleet() -> None:
    spec = DemoSpec(hosts=1_250_000, gpus_per_host=8)
    with pytest.raises(DemoTooLarge) as info:
        check_capacity(spec)
    text = str(info.value)
    assert "a demo of 10,000,000 GPUs (1,250,000 hosts x 8)" in text
    assert "GiB of memory" in text and "is available" in text
    assert "the largest that fits is" in text


def test_capacity_names_the_largest_fleet_that_fits() -> None:
    spec = DemoSpec(hosts=1000, gpus_per_host=8)
    check_capacity(spec, available=64 * _GiB)
    with pytest.raises(DemoTooLarge, match=r"only 1\.0 GiB is available") as info:
        check_capacity(spec, available=1 * _GiB)
    largest = int(str(info.value).split("fits is ")[1].split(" hosts")[0].replace(",", ""))
    assert largest >= 3
    check_capacity(dataclasses.replace(spec, hosts=largest), available=1 * _GiB)
    with pytest.raises(DemoTooLarge):
        check_capacity(dataclasses.replace(spec, hosts=largest + 1), available=1 * _GiB)
    with pytest.raises(DemoTooLarge, match="no demo fleet fits"):
        check_capacity(spec, available=1 << 20)


def test_capacity_accepts_the_default_fleet() -> None:
    check_capacity(DemoSpec())


def test_demo_policy_scales_the_engine_windows() -> None:
    default = EnginePolicy()
    policy = default.with_overrides(demo_policy())
    assert policy.rate_window_seconds == 360
    assert policy.deep_test_delay_seconds == 30
    assert policy.suspect_below < policy.suspect_recover_score < default.suspect_recover_score
    fast = default.with_overrides(demo_policy(FAST))
    assert fast.correlation_window_seconds == pytest.approx(3600 * FAST.schedule_scale)


def test_layout_is_fixed_by_the_spec(tmp_path: Path) -> None:
    def titles(spec: DemoSpec) -> list[tuple[str, tuple[str, ...]]]:
        fleet = DemoFleet("127.0.0.1:1", spec, data_dir=tmp_path / str(spec.seed))
        fleet.stop()
        return [(s.title, s.gpu_uuids) for s in fleet.scenarios]

    assert titles(FAST) == titles(FAST)
    other = titles(dataclasses.replace(FAST, seed=7))
    assert [u for _, u in other] == [u for _, u in titles(FAST)]  # positions are fixed
    assert [t for t, _ in other] != [t for t, _ in titles(FAST)]  # faulty SMs are not


def test_cpu_backend_takes_a_firmware_version_per_device() -> None:
    backend = CpuBackend(2, 4, hostname="h", firmware_versions=["fw-a", "fw-b"])
    assert [d.firmware_version for d in backend.devices()] == ["fw-a", "fw-b"]
    assert {d.firmware_version for d in CpuBackend(2, 4, hostname="h").devices()} == {"sim-1"}
    with pytest.raises(ValueError, match="one per device"):
        CpuBackend(2, 4, hostname="h", firmware_versions=["fw-a"])
