"""The agent against a real server: registration, probes, directives, config, deep test, TMR."""

from __future__ import annotations

import json
import logging
import stat
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sentinel.fleet import NotFoundError, SentinelClient
from sentinel.fleet.probes import FaultSpec
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

QUARANTINED, DEEP_TEST, HEALTHY = 3, 4, 1
ALL_TYPES = sum(1 << t for t in range(1, 8))
_UNREGISTERED = SimpleNamespace(state=0, probe_pass_count=0, deep_test_types=0)


def _gpu(server: Any, agent: Any, index: int) -> Any:
    """The engine's record of one of the agent's GPUs (a stand-in before registration)."""
    return server.engine.state.gpus.get(agent.devices[index].uuid, _UNREGISTERED)


def _agent_row(server: Any, hostname: str) -> Any:
    return server.engine.state.agents[str(uuid.uuid5(uuid.NAMESPACE_DNS, hostname))]


def _registered(server: Any, agent: Any) -> bool:
    """Whether the engine has the agent and its acknowledgement of the first config."""
    found = server.engine.state.agents.get(str(uuid.uuid5(uuid.NAMESPACE_DNS, agent.hostname)))
    return found is not None and found.config_version == agent.settings.version


def test_registers_heartbeats_and_reports(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    agent, _ = make_agent(fleet_server.address)
    wait_for(lambda: agent.stats.heartbeats >= 1, "a heartbeat")
    assert fleet_server.engine.active_agents() == 1
    wait_for(
        lambda: all(_gpu(fleet_server, agent, i).probe_pass_count >= 5 for i in (0, 1)),
        "5 passes on each GPU",
    )
    g = _gpu(fleet_server, agent, 1)
    assert (g.hostname, g.device_index, g.sm_count) == ("node-a", 1, 8)
    assert _agent_row(fleet_server, "node-a").config_version == 1  # defaults acknowledged


def test_stuck_bit_quarantines_runs_hook_and_writes_state(
    fleet_server: Any, make_agent: Any, tmp_path: Path, wait_for: Any
) -> None:
    out = tmp_path / "hook.out"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$1|$2|$3|$SENTINEL_STATE_FILE" >> {out}\n')
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    agent, backend = make_agent(fleet_server.address, start=False, action_hook=str(hook))
    backend.inject(0, FaultSpec("stuck_bit", sm_id=3, bit=7))
    agent.start()

    g = wait_for(
        lambda: (g := _gpu(fleet_server, agent, 0)).state == QUARANTINED and g, "quarantine"
    )
    fails = g.sm[3]  # per-SM failure counts
    assert fails[3] > 0 and fails.sum() == fails[3], "the failures are SM 3's alone"
    assert _gpu(fleet_server, agent, 1).state == HEALTHY

    uuid0 = agent.devices[0].uuid
    line = wait_for(lambda: out.exists() and out.read_text().strip(), "the hook to run")
    got_uuid, action, reason, state_file = line.split("|")
    assert (got_uuid, action) == (uuid0, "quarantine")
    assert "probe failures" in reason
    state = json.loads(Path(state_file).read_text())
    assert state["state"] == "QUARANTINED" and state["gpu_uuid"] == uuid0
    assert state["directive_id"] and state["reason"] == reason
    assert Path(state_file) == agent.data_dir / "state" / f"{uuid0}.json"


def test_config_update_is_applied_and_acknowledged(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    agent, _ = make_agent(fleet_server.address)
    wait_for(lambda: _registered(fleet_server, agent), "registration and its config ack")
    schedule = types_pb2.ProbeScheduleUpdate(
        entries=[
            types_pb2.ProbeScheduleEntry(
                type=1, period_seconds=30, sm_coverage=0.5, priority=1, enabled=True, timeout_ms=500
            )
        ]
    )
    ack = fleet_server.engine.update_config(
        types_pb2.ConfigUpdate(probe_schedule=schedule, reason="test")
    ).result()
    wait_for(
        lambda: _agent_row(fleet_server, "node-a").config_version == ack.config_version,
        "the agent's ack",
    )
    assert agent.settings.version == ack.config_version
    assert [(e.probe_type, e.sm_coverage, e.timeout_ms) for e in agent.settings.schedule] == [
        (1, 0.5, 500)
    ]
    with SentinelClient.connect(fleet_server.address) as client:
        acks = client.list_config_acks(ack.update_id)
        assert (acks.update_id, acks.config_version) == (ack.update_id, ack.config_version)
        assert [(a.component_id, a.applied, a.config_version) for a in acks.acks] == [
            ("node-a", True, ack.config_version)
        ]
        agent.stop()
        later = fleet_server.engine.update_config(
            types_pb2.ConfigUpdate(
                overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=2), reason="test"
            )
        ).result()
        pending = client.list_config_acks()
        assert (pending.update_id, pending.config_version) == (
            later.update_id,
            later.config_version,
        )
        assert [(a.component_id, a.applied, a.error, a.config_version) for a in pending.acks] == [
            ("node-a", False, "", ack.config_version)
        ]
        with pytest.raises(NotFoundError, match="no-such-update"):
            client.list_config_acks("no-such-update")


def test_unknown_probe_type_is_refused_and_the_schedule_kept(
    fleet_server: Any, make_agent: Any, caplog: pytest.LogCaptureFixture, wait_for: Any
) -> None:
    agent, _ = make_agent(fleet_server.address)
    wait_for(lambda: _registered(fleet_server, agent), "registration and its config ack")
    before = agent.settings
    bad = agent_pb2.AgentConfig()
    bad.CopyFrom(fleet_server.engine.config)
    bad.config_version += 1
    bad.update_id = "bad-update"
    bad.probe_schedule.add(type=9, period_seconds=60, sm_coverage=1.0, enabled=True, timeout_ms=5)
    with caplog.at_level(logging.ERROR, "sentinel.fleet.agent"):
        ack = agent.apply_config(bad)
    assert not ack.applied and ack.update_id == "bad-update" and ack.component_id == "node-a"
    assert "unknown probe type 9" in ack.error
    assert ack.config_version == before.version
    assert agent.settings is before
    assert "refused config" in caplog.text
    row = wait_for(lambda: (r := _agent_row(fleet_server, "node-a")).config_error and r, "the NACK")
    assert "unknown probe type 9" in row.config_error and row.config_version == before.version


def test_deep_test_reports_every_type_and_ends_in_reinstatement(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    agent, _ = make_agent(fleet_server.address)
    wait_for(lambda: agent.agent_id and agent.stats.results["PASS"], "the agent to run")
    uuid0 = agent.devices[0].uuid
    resp = fleet_server.engine.issue_directive(
        fleet_pb2.IssueQuarantineRequest(
            gpu_uuid=uuid0, action=types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST, reason="check"
        )
    ).result()
    assert resp.accepted
    wait_for(lambda: _gpu(fleet_server, agent, 0).deep_test_types == ALL_TYPES, "7 deep types")
    wait_for(lambda: _gpu(fleet_server, agent, 0).state == HEALTHY, "reinstatement", 30)
    assert agent.stats.deep_reports >= 7
    state_file = agent.data_dir / "state" / f"{uuid0}.json"
    state = wait_for(
        lambda: (st := json.loads(state_file.read_text()))["state"] == "HEALTHY" and st,
        "the REINSTATE directive",
    )
    assert state["action"] == "reinstate"


def test_tmr_assignment_yields_one_digest_per_local_gpu(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    agent, _ = make_agent(fleet_server.address, devices=3)
    wait_for(lambda: agent.agent_id, "registration")
    wait_for(lambda: agent._registered.is_set() and agent._stream is not None, "the stream")
    uuids = [d.uuid for d in agent.devices]
    canary = fleet_server.engine.create_tmr_canary(uuids).result()
    wait_for(lambda: canary not in fleet_server.engine.canaries, "the canary to close")
    assert agent.stats.tmr_reports >= 3
    edges = [e for e in fleet_server.engine.trust.edges() if {e.gpu_a, e.gpu_b} <= set(uuids)]
    assert len(edges) == 3 and all(e.disagreement_count == 0 for e in edges)


def test_probe_that_raises_or_hangs_is_reported_and_the_agent_goes_on(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    agent, backend = make_agent(fleet_server.address, start=False)
    release = threading.Event()
    real_run = backend.run

    def run(device: int, probe_type: int, **kw: Any) -> Any:
        if probe_type == 1 and device == 0:
            release.wait(30)  # hangs past any timeout
        if probe_type == 1 and device == 1:
            raise RuntimeError("driver exploded")
        return real_run(device, probe_type, **kw)

    backend.run = run  # type: ignore[method-assign]
    agent.start()
    try:
        wait_for(lambda: agent.stats.results["TIMEOUT"] >= 1, "a TIMEOUT", 20)
        wait_for(lambda: agent.stats.results["ERROR"] >= 2, "ERRORs")
        passes = _gpu(fleet_server, agent, 1).probe_pass_count
        wait_for(lambda: _gpu(fleet_server, agent, 1).probe_pass_count > passes, "more passes")
        wait_for(lambda: not len(agent.buffer), "delivery")
    finally:
        release.set()


def test_a_suspect_gpu_is_probed_fully_until_it_is_cleared(
    fleet_server: Any, make_agent: Any, wait_for: Any
) -> None:
    from sentinel.fleet.probes import CpuBackend

    runs: list[tuple[int, float]] = []

    class Recorded(CpuBackend):
        """The CPU backend, noting the device and coverage of each scheduled run."""

        def run(self, device_index: int, probe_type: int, **kwargs: Any) -> Any:
            if not kwargs.get("deep"):
                runs.append((device_index, kwargs["sm_coverage"]))
            return super().run(device_index, probe_type, **kwargs)

    agent, _ = make_agent(fleet_server.address, backend=Recorded(2, 8, hostname="node-a"))
    wait_for(lambda: _registered(fleet_server, agent), "registration and its config ack")
    entry = types_pb2.ProbeScheduleEntry(
        type=1, period_seconds=30, sm_coverage=0.25, priority=1, enabled=True, timeout_ms=500
    )
    ack = fleet_server.engine.update_config(
        types_pb2.ConfigUpdate(probe_schedule=types_pb2.ProbeScheduleUpdate(entries=[entry]))
    ).result()
    wait_for(lambda: agent.settings.version == ack.config_version, "the new schedule")

    def change(state: int) -> None:
        gpu = types_pb2.GpuIdentifier(uuid=agent.devices[0].uuid, hostname="node-a")
        fleet_server.engine.emit(
            "state", agent_pb2.GpuStateChange(gpu=gpu, state=state, reason="test")
        )

    def runs_after(mark: int, device: int, coverage: float) -> bool:
        return (device, coverage) in runs[mark:]

    # The runner is one thread: once a run used the new schedule, all later ones do.
    wait_for(lambda: (1, 0.25) in runs, "a run on the new schedule")
    start = len(runs)
    change(2)  # SUSPECT
    wait_for(lambda: runs_after(start, 0, 1.0), "a full-coverage run on the suspect GPU")
    mark = len(runs)
    wait_for(lambda: runs_after(mark, 1, 0.25), "a scheduled run on the other GPU")
    assert (1, 1.0) not in runs[start:], "the healthy GPU keeps its partial coverage"
    change(HEALTHY)
    mark = len(runs)
    wait_for(lambda: runs_after(mark, 0, 0.25), "the cleared GPU back on its schedule")


def _suspect_at_first_failure(server: Any) -> None:
    """Raise ``suspect_below`` above one failure's score (prior 100/101), so it shows."""
    for parameter, value in (("suspect_recover_score", 0.99), ("suspect_below", 0.985)):
        threshold = types_pb2.ThresholdUpdate(component="engine", parameter=parameter, value=value)
        server.engine.update_config(types_pb2.ConfigUpdate(threshold=threshold)).result()


def test_the_engine_tells_the_agent_when_its_gpu_turns_suspect_and_back(
    fleet_server: Any, make_agent: Any, wait_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _suspect_at_first_failure(fleet_server)
    agent, backend = make_agent(fleet_server.address, start=False)
    backend.inject(0, FaultSpec("stuck_bit", sm_id=3, bit=7))
    with caplog.at_level(logging.INFO, "sentinel.fleet.agent"):
        agent.start()
        wait_for(lambda: _gpu(fleet_server, agent, 0).state == QUARANTINED, "quarantine")
        wait_for(lambda: "is no longer SUSPECT" in caplog.text, "the end of the watch")
    assert f"GPU {agent.devices[0].uuid} (device 0) is SUSPECT (reliability" in caplog.text


def test_suspect_gpus_are_replayed_to_a_subscribing_agent(fleet_server: Any) -> None:
    from sentinel_testing import probe, register_host

    from sentinel.fleet.engine import queries

    _suspect_at_first_failure(fleet_server)
    healthy, suspect = register_host(fleet_server.engine, "node-r", 2)
    probe(fleet_server.engine, suspect, failing_sm=1)

    changes = queries.suspect_gpus(fleet_server.engine, "node-r")
    assert [(c.gpu.uuid, c.gpu.hostname, c.state) for c in changes] == [
        (suspect, "node-r", types_pb2.GPU_HEALTH_STATE_SUSPECT)
    ]
    assert "below 0.985" in changes[0].reason
    assert queries.suspect_gpus(fleet_server.engine, "node-other") == []
    assert healthy not in [c.gpu.uuid for c in changes]
