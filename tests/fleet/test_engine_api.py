"""The fleet API end to end: a real server, real gRPC, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from sentinel_testing import OPERATOR_TOKEN, agent_token
from sqlalchemy import text

from sentinel.fleet._bearer import with_token
from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, types_pb2

HOST = "gpu-rack-01-node-1"
SM = 16
_ids = itertools.count()


def gpu_uuid(n: int) -> str:
    return f"GPU-{n:08x}-2222-3333-4444-555566667777"


class Fleet:
    """Raw-stub access to a server: the agent side and the client side.

    ``api`` calls carry no credentials unless a test passes ``metadata=fleet.op``;
    ``agent`` reports as the operator (for GPUs of any host), ``agent_of(host)`` as the
    agent of one host.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.address)
        self.op = [("authorization", f"Bearer {server.operator_token}")]
        self.agent = agent_pb2_grpc.AgentServiceStub(
            with_token(self.channel, server.operator_token)
        )
        self.api = fleet_pb2_grpc.FleetServiceStub(self.channel)
        self._agents: dict[str, Any] = {}

    def agent_of(self, host: str) -> Any:
        """An agent stub presenting an agent token of ``host``."""
        if host not in self._agents:
            token = agent_token(self.server, host)
            self._agents[host] = agent_pb2_grpc.AgentServiceStub(with_token(self.channel, token))
        return self._agents[host]

    def register(
        self, host: str = HOST, n: int = 4, start: int = 0, firmware: str = "96.00"
    ) -> str:
        req = agent_pb2.RegisterAgentRequest(hostname=host, agent_version="test")
        for i in range(n):
            reg = req.gpus.add(sm_count=SM)
            reg.gpu.uuid = gpu_uuid(start + i)
            reg.gpu.hostname = host
            reg.gpu.device_index = i
            reg.gpu.model = "NVIDIA H100 80GB HBM3"
            reg.gpu.driver_version = "535.129.03"
            reg.gpu.firmware_version = firmware
        return str(self.agent_of(host).RegisterAgent(req).agent_id)

    def probe(self, uuid: str, result: int, bad_sm: int | None = None, n: int = 1) -> Any:
        reports = []
        for _ in range(n):
            outcomes = bytearray([types_pb2.PROBE_RESULT_PASS] * SM)
            if bad_sm is not None:
                outcomes[bad_sm] = types_pb2.PROBE_RESULT_FAIL
            reports.append(
                agent_pb2.ProbeReport(
                    report_id=f"r-{next(_ids)}",
                    gpu_uuid=uuid,
                    probe_type=types_pb2.PROBE_TYPE_FMA,
                    result=result,
                    sm_outcomes=bytes(outcomes),
                )
            )
        return self.agent.ReportProbeResults(agent_pb2.ProbeReportBatch(reports=reports))

    def health(self, uuid: str) -> types_pb2.GpuHealth:
        return self.api.QueryGpuHealth(fleet_pb2.QueryGpuHealthRequest(gpu_uuid=uuid))

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def fleet(db_server: Any) -> Iterator[Fleet]:
    f = Fleet(db_server)
    f.register()
    yield f
    f.close()


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def _ledger_len(fleet: Fleet) -> int:
    return int(fleet.api.QueryAuditTrail(fleet_pb2.AuditQueryFilters(limit=1)).total_count)


def test_probe_failures_on_one_sm_quarantine_and_localize(fleet: Fleet) -> None:
    bad = gpu_uuid(1)
    assert fleet.probe(bad, types_pb2.PROBE_RESULT_PASS, n=5).accepted == 5
    ack = fleet.probe(bad, types_pb2.PROBE_RESULT_FAIL, bad_sm=7, n=3)
    assert ack.accepted == 3
    h = fleet.health(bad)
    assert h.state == types_pb2.GPU_HEALTH_STATE_QUARANTINED
    assert h.probe_fail_count == 3 and h.probe_pass_count == 5
    assert h.reliability_score == pytest.approx(105 / 109)
    assert h.probe_failure_rate == pytest.approx(3.0)
    sm7 = h.sm_health[7]
    assert sm7.probe_fail_count == 3 and sm7.disabled
    assert all(s.probe_fail_count == 0 for s in h.sm_health if s.sm.sm_id != 7)
    hist = fleet.api.GetGpuHistory(fleet_pb2.GetGpuHistoryRequest(gpu_uuid=bad))
    assert [(t.from_state, t.to_state) for t in hist.state_transitions] == [
        (types_pb2.GPU_HEALTH_STATE_HEALTHY, types_pb2.GPU_HEALTH_STATE_QUARANTINED)
    ]
    assert "3 probe failures" in hist.state_transitions[0].reason
    sm_loc = [c for c in hist.correlations if c.pattern_type == types_pb2.PATTERN_TYPE_SM_LOCALIZED]
    assert sm_loc and sm_loc[0].attributed_sm.sm_id == 7
    assert hist.reliability_history
    summary = fleet.api.QueryFleetHealth(fleet_pb2.QueryFleetHealthRequest())
    assert (summary.total_gpus, summary.healthy, summary.quarantined) == (4, 3, 1)
    assert summary.overall_sdc_rate == pytest.approx(3 / 4)
    assert summary.active_agents == 1


def test_duplicate_reports_are_dropped(fleet: Fleet) -> None:
    r = agent_pb2.ProbeReport(
        report_id="dup-1", gpu_uuid=gpu_uuid(0), probe_type=1, result=types_pb2.PROBE_RESULT_FAIL
    )
    batch = agent_pb2.ProbeReportBatch(reports=[r, r])
    ack = fleet.agent.ReportProbeResults(batch)
    assert (ack.accepted, ack.duplicates) == (1, 1)
    assert fleet.health(gpu_uuid(0)).probe_fail_count == 1


def test_fleet_filters(fleet: Fleet) -> None:
    fleet.register(host="gpu-rack-02-node-1", n=2, start=100)
    fleet.probe(gpu_uuid(100), types_pb2.PROBE_RESULT_FAIL, n=3)
    rack2 = fleet.api.QueryFleetHealth(
        fleet_pb2.QueryFleetHealthRequest(hostname_prefix="gpu-rack-02")
    )
    assert (rack2.total_gpus, rack2.quarantined) == (2, 1)
    q = fleet.api.QueryFleetHealth(
        fleet_pb2.QueryFleetHealthRequest(
            model_filter="H100", state_filter=[types_pb2.GPU_HEALTH_STATE_QUARANTINED]
        )
    )
    assert (q.total_gpus, q.quarantined, q.healthy) == (1, 1, 0)
    none = fleet.api.QueryFleetHealth(fleet_pb2.QueryFleetHealthRequest(model_filter="A100"))
    assert none.total_gpus == 0
    fleet.probe(gpu_uuid(0), types_pb2.PROBE_RESULT_FAIL)
    for prefix, states, total, rate in (
        ("", [types_pb2.GPU_HEALTH_STATE_QUARANTINED], 1, 3.0),
        ("", [types_pb2.GPU_HEALTH_STATE_HEALTHY], 5, 1 / 5),
        ("gpu-rack-02", [types_pb2.GPU_HEALTH_STATE_HEALTHY], 1, 0.0),
        ("gpu-rack-01", [], 4, 1 / 4),
        ("gpu-rack-0", [], 6, 4 / 6),
    ):
        s = fleet.api.QueryFleetHealth(
            fleet_pb2.QueryFleetHealthRequest(hostname_prefix=prefix, state_filter=states)
        )
        assert (s.total_gpus, round(s.overall_sdc_rate, 6)) == (total, round(rate, 6))
    everything = fleet.api.QueryFleetHealth(fleet_pb2.QueryFleetHealthRequest())
    by_gpu = [
        fleet.health(g.gpu.uuid).reliability_score
        for g in fleet.api.ListGpus(fleet_pb2.ListGpusRequest(limit=100)).gpus
    ]
    assert everything.average_reliability_score == pytest.approx(sum(by_gpu) / len(by_gpu))
    page = fleet.api.ListGpus(fleet_pb2.ListGpusRequest(limit=4))
    assert page.total_count == 6 and len(page.gpus) == 4 and page.next_page_token
    rest = fleet.api.ListGpus(fleet_pb2.ListGpusRequest(limit=4, page_token=page.next_page_token))
    assert [g.gpu.uuid for g in [*page.gpus, *rest.gpus]] == sorted(
        [gpu_uuid(i) for i in range(4)] + [gpu_uuid(100), gpu_uuid(101)]
    )


def test_bad_input_is_refused_and_changes_nothing(fleet: Fleet) -> None:
    before = _ledger_len(fleet)
    # A query names no GPU with an id that is malformed as much as with an unknown one.
    code, msg = _code(lambda: fleet.health("GPU-nonexistent-uuid"))
    assert code == grpc.StatusCode.NOT_FOUND and "GPU-xxxxxxxx-xxxx" in msg
    code, msg = _code(lambda: fleet.health(gpu_uuid(999)))
    assert code == grpc.StatusCode.NOT_FOUND and gpu_uuid(999) in msg
    # An argument wrong whatever the fleet holds is refused first, even for an unknown GPU.
    for uuid in (gpu_uuid(0), gpu_uuid(999), "GPU-nonexistent-uuid"):
        hist = fleet_pb2.GetGpuHistoryRequest(gpu_uuid=uuid)
        hist.start_time.FromSeconds(2_000_000_000)
        hist.end_time.FromSeconds(1_000_000_000)
        code, msg = _code(lambda hist=hist: fleet.api.GetGpuHistory(hist))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "after end_time" in msg
    hist = fleet_pb2.GetGpuHistoryRequest(gpu_uuid=gpu_uuid(999))
    assert _code(lambda: fleet.api.GetGpuHistory(hist))[0] == grpc.StatusCode.NOT_FOUND
    # Writes still refuse an id that cannot be a GPU's.
    bad = fleet_pb2.IssueQuarantineRequest(
        gpu_uuid="GPU-nonexistent-uuid", action=types_pb2.QUARANTINE_ACTION_QUARANTINE, reason="r"
    )
    code, msg = _code(lambda: fleet.api.IssueQuarantine(bad, metadata=fleet.op))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "malformed GPU UUID" in msg
    forged = fleet_pb2.AuditQueryFilters(limit=1, page_token="eyJmb3JnZWQiOnRydWV9.AAAA")
    assert _code(lambda: fleet.api.QueryAuditTrail(forged))[0] == grpc.StatusCode.INVALID_ARGUMENT
    page = fleet.api.ListGpus(fleet_pb2.ListGpusRequest(limit=1))
    stale = fleet_pb2.ListGpusRequest(limit=1, hostname_prefix="x", page_token=page.next_page_token)
    code, msg = _code(lambda: fleet.api.ListGpus(stale))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in msg
    for update, needle in (
        (types_pb2.ConfigUpdate(update_id="none"), "exactly one"),
        (
            types_pb2.ConfigUpdate(
                overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=1.0),
                threshold=types_pb2.ThresholdUpdate(component="c", parameter="p", value=1.0),
            ),
            "got 2",
        ),
        (
            types_pb2.ConfigUpdate(overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=0)),
            "(0, 100]",
        ),
        (
            types_pb2.ConfigUpdate(overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=101)),
            "(0, 100]",
        ),
        (
            types_pb2.ConfigUpdate(
                probe_schedule=types_pb2.ProbeScheduleUpdate(
                    entries=[
                        types_pb2.ProbeScheduleEntry(
                            type=1, period_seconds=30, sm_coverage=1.5, timeout_ms=100
                        )
                    ]
                )
            ),
            "sm_coverage",
        ),
    ):
        code, msg = _code(lambda u=update: fleet.api.UpdateConfig(u, metadata=fleet.op))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg
    healthy = fleet.api.IssueQuarantine(
        fleet_pb2.IssueQuarantineRequest(
            gpu_uuid=gpu_uuid(0), action=types_pb2.QUARANTINE_ACTION_REINSTATE, reason="test"
        ),
        metadata=fleet.op,
    )
    assert not healthy.accepted and "already HEALTHY" in healthy.rejection_reason
    assert _ledger_len(fleet) == before
    assert fleet.health(gpu_uuid(0)).state == types_pb2.GPU_HEALTH_STATE_HEALTHY


def test_directives_approval_and_operator_identity(fleet: Fleet) -> None:
    target = gpu_uuid(2)
    req = fleet_pb2.IssueQuarantineRequest(
        gpu_uuid=target,
        action=types_pb2.QUARANTINE_ACTION_QUARANTINE,
        reason="Repeated FMA probe failures on SM 42",
        evidence=["probe-exec-001"],
        requires_approval=True,
    )
    assert _code(lambda: fleet.api.IssueQuarantine(req))[0] == grpc.StatusCode.UNAUTHENTICATED
    resp = fleet.api.IssueQuarantine(req, metadata=fleet.op)
    assert resp.accepted and resp.resulting_state == "HEALTHY"
    pending = fleet.api.ListDirectives(fleet_pb2.ListDirectivesRequest(pending_only=True))
    assert [d.directive_id for d in pending.directives] == [resp.directive_id]
    review = fleet_pb2.ReviewDirectiveRequest(directive_id=resp.directive_id, approve=True)
    code, msg = _code(lambda: fleet.api.ReviewDirective(review))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "operator" in msg
    assert fleet.health(target).state == types_pb2.GPU_HEALTH_STATE_HEALTHY
    bad_token = [("authorization", "Bearer nope")]
    code, _ = _code(lambda: fleet.api.ReviewDirective(review, metadata=bad_token))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    read = fleet_pb2.QueryFleetHealthRequest()
    code, msg = _code(lambda: fleet.api.QueryFleetHealth(read, metadata=bad_token))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "unknown token" in msg
    events = fleet.api.StreamEvents(fleet_pb2.StreamEventsRequest(), metadata=bad_token)
    assert _code(lambda: next(events))[0] == grpc.StatusCode.UNAUTHENTICATED
    done = fleet.api.ReviewDirective(review, metadata=fleet.op)
    assert done.accepted and done.resulting_state == "QUARANTINED"
    assert fleet.health(target).state == types_pb2.GPU_HEALTH_STATE_QUARANTINED
    again = _code(lambda: fleet.api.ReviewDirective(review, metadata=fleet.op))
    assert again[0] == grpc.StatusCode.NOT_FOUND
    condemn = fleet_pb2.IssueQuarantineRequest(
        gpu_uuid=target, action=types_pb2.QUARANTINE_ACTION_CONDEMN, reason="replace"
    )
    assert _code(lambda: fleet.api.IssueQuarantine(condemn))[0] == grpc.StatusCode.UNAUTHENTICATED
    out = fleet.api.IssueQuarantine(condemn, metadata=fleet.op)
    assert out.accepted and out.resulting_state == "CONDEMNED"
    after = fleet.api.IssueQuarantine(
        fleet_pb2.IssueQuarantineRequest(
            gpu_uuid=target, action=types_pb2.QUARANTINE_ACTION_REINSTATE, reason="oops"
        ),
        metadata=fleet.op,
    )
    assert not after.accepted and "CONDEMNED" in after.rejection_reason
    hist = fleet.api.GetGpuHistory(fleet_pb2.GetGpuHistoryRequest(gpu_uuid=target))
    assert [t.initiated_by for t in hist.state_transitions] == ["alice", "alice"]
    trail = fleet.api.QueryAuditTrail(
        fleet_pb2.AuditQueryFilters(
            gpu=types_pb2.GpuIdentifier(uuid=target),
            entry_type=types_pb2.AUDIT_ENTRY_TYPE_QUARANTINE_ACTION,
            descending=True,
        )
    )
    statuses = [types_pb2.QuarantineRecord.FromString(e.data).status for e in trail.entries]
    assert statuses == ["applied", "applied", "pending"]


def test_deep_test_reinstates_or_condemns(fleet: Fleet) -> None:
    good, bad = gpu_uuid(0), gpu_uuid(1)
    for uuid in (good, bad):
        r = fleet.api.IssueQuarantine(
            fleet_pb2.IssueQuarantineRequest(
                gpu_uuid=uuid,
                action=types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST,
                reason="investigate",
            ),
            metadata=fleet.op,
        )
        assert r.resulting_state == "DEEP_TEST"

    def deep(uuid: str, fail_type: int = 0) -> None:
        reports = [
            agent_pb2.ProbeReport(
                report_id=f"deep-{next(_ids)}",
                gpu_uuid=uuid,
                probe_type=t,
                result=types_pb2.PROBE_RESULT_FAIL
                if t == fail_type
                else types_pb2.PROBE_RESULT_PASS,
                sm_outcomes=bytes([types_pb2.PROBE_RESULT_PASS] * SM),
                deep_test=True,
            )
            for t in range(1, 8)
        ]
        ack = fleet.agent_of(HOST).ReportProbeResults(agent_pb2.ProbeReportBatch(reports=reports))
        assert ack.accepted == len(reports)

    for _ in range(9):  # 9 rounds x 7 probes x 16 SMs > 1,000 passes
        deep(good)
    assert fleet.health(good).state == types_pb2.GPU_HEALTH_STATE_HEALTHY
    deep(bad, fail_type=types_pb2.PROBE_TYPE_AES)
    assert fleet.health(bad).state == types_pb2.GPU_HEALTH_STATE_DEEP_TEST
    pending = fleet.api.ListDirectives(fleet_pb2.ListDirectivesRequest(pending_only=True))
    assert [(d.gpu.uuid, d.action) for d in pending.directives] == [
        (bad, types_pb2.QUARANTINE_ACTION_CONDEMN)
    ]
    review = fleet_pb2.ReviewDirectiveRequest(
        directive_id=pending.directives[0].directive_id, approve=True, comment="replace it"
    )
    assert fleet.api.ReviewDirective(review, metadata=fleet.op).resulting_state == "CONDEMNED"


def test_config_update_is_versioned_pushed_and_acknowledged(fleet: Fleet) -> None:
    agent_id = fleet.register()
    stream = fleet.agent.Subscribe(agent_pb2.SubscribeRequest(agent_id=agent_id, config_version=1))
    ack = fleet.api.UpdateConfig(
        types_pb2.ConfigUpdate(
            update_id="cfg-002",
            initiated_by="auto-tuner",
            reason="peak training",
            overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=1.0),
        ),
        metadata=fleet.op,
    )
    assert ack.applied and ack.update_id == "cfg-002" and ack.config_version == 2
    cmd = next(stream)
    assert cmd.config.config_version == 2 and cmd.config.overhead_budget_pct == 1.0
    stream.cancel()
    fleet.agent.AckConfig(
        types_pb2.ConfigAck(update_id="cfg-002", applied=True, component_id=HOST, config_version=2)
    )
    engine = fleet.server.engine
    assert engine.state.agents[agent_id].config_version == 2
    engine_threshold = types_pb2.ConfigUpdate(
        threshold=types_pb2.ThresholdUpdate(
            component="engine", parameter="fail_quarantine_count", value=5
        )
    )
    assert fleet.api.UpdateConfig(engine_threshold, metadata=fleet.op).config_version == 3
    assert engine.policy.fail_quarantine_count == 5
    fleet.probe(gpu_uuid(3), types_pb2.PROBE_RESULT_FAIL, n=3)
    assert fleet.health(gpu_uuid(3)).state != types_pb2.GPU_HEALTH_STATE_QUARANTINED
    bad = types_pb2.ConfigUpdate(
        threshold=types_pb2.ThresholdUpdate(component="engine", parameter="nope", value=1)
    )
    code, msg = _code(lambda: fleet.api.UpdateConfig(bad, metadata=fleet.op))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in msg


def test_tmr_canary_builds_trust_graph_and_confirms(fleet: Fleet) -> None:
    engine = fleet.server.engine
    trio = [gpu_uuid(0), gpu_uuid(1), gpu_uuid(2)]
    canary = engine.create_tmr_canary(trio).result()
    fleet.probe(gpu_uuid(2), types_pb2.PROBE_RESULT_FAIL, bad_sm=3)
    reports = [
        agent_pb2.TmrReport(
            report_id=f"tmr-{u}", canary_id=canary, gpu_uuid=u, digest=b"bad" if i == 2 else b"ok"
        )
        for i, u in enumerate(trio)
    ]
    ack = fleet.agent.ReportTmrResults(agent_pb2.TmrReportBatch(reports=reports))
    assert ack.accepted == 3
    graph = fleet.api.GetTrustGraph(fleet_pb2.GetTrustGraphRequest())
    assert graph.total_gpus == 4 and len(graph.edges) == 3
    assert graph.coverage_pct == pytest.approx(50.0)
    assert graph.min_trust_score == 0.0 and graph.mean_trust_score == pytest.approx(1 / 3)
    hist = fleet.api.GetGpuHistory(fleet_pb2.GetGpuHistoryRequest(gpu_uuid=gpu_uuid(2)))
    assert types_pb2.PATTERN_TYPE_TMR_CONFIRMED in [c.pattern_type for c in hist.correlations]
    late = agent_pb2.TmrReport(canary_id=canary, gpu_uuid=gpu_uuid(0), digest=b"ok")
    ack = fleet.agent.ReportTmrResults(agent_pb2.TmrReportBatch(reports=[late]))
    assert ack.accepted == 0 and "unknown or closed canary" in ack.rejected[0]


def test_stream_events_filters_directives(fleet: Fleet) -> None:
    fleet.register(host="other-host", n=1, start=50)
    stream = fleet.api.StreamEvents(
        fleet_pb2.StreamEventsRequest(
            hostname_filter=HOST, action_filter=types_pb2.QUARANTINE_ACTION_QUARANTINE
        )
    )
    for uuid, action in (
        (gpu_uuid(50), types_pb2.QUARANTINE_ACTION_QUARANTINE),
        (gpu_uuid(0), types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST),
        (gpu_uuid(1), types_pb2.QUARANTINE_ACTION_QUARANTINE),
    ):
        fleet.api.IssueQuarantine(
            fleet_pb2.IssueQuarantineRequest(gpu_uuid=uuid, action=action, reason="stream"),
            metadata=fleet.op,
        )
    got = next(stream)
    stream.cancel()
    assert (got.gpu.uuid, got.action) == (gpu_uuid(1), types_pb2.QUARANTINE_ACTION_QUARANTINE)


def test_state_survives_restart(tmp_path: Any, db_url: str) -> None:
    from sentinel_testing import start_server

    server = start_server(tmp_path, db_url)
    server.operator_token = OPERATOR_TOKEN
    f = Fleet(server)
    f.register()
    f.probe(gpu_uuid(1), types_pb2.PROBE_RESULT_FAIL, bad_sm=2, n=3)
    f.api.UpdateConfig(
        types_pb2.ConfigUpdate(
            threshold=types_pb2.ThresholdUpdate(
                component="engine", parameter="fail_quarantine_count", value=7
            )
        ),
        metadata=f.op,
    )
    before = f.health(gpu_uuid(1))
    f.close()
    server.stop()
    server = start_server(tmp_path, db_url)
    server.operator_token = OPERATOR_TOKEN
    f = Fleet(server)
    try:
        after = f.health(gpu_uuid(1))
        assert after.state == before.state == types_pb2.GPU_HEALTH_STATE_QUARANTINED
        assert after.reliability_score == pytest.approx(before.reliability_score)
        assert after.sm_health[2].probe_fail_count == 3 and after.sm_health[2].disabled
        assert server.engine.policy.fail_quarantine_count == 7
        assert server.engine.config.config_version == 2
        dup = agent_pb2.ProbeReport(report_id="r-dup", gpu_uuid=gpu_uuid(0), probe_type=1, result=1)
        f.agent.ReportProbeResults(agent_pb2.ProbeReportBatch(reports=[dup]))
        ack = f.agent.ReportProbeResults(agent_pb2.ProbeReportBatch(reports=[dup]))
        assert ack.duplicates == 1
        verify = fleet_pb2.VerifyChainRequest(verify_merkle_roots=True)
        assert f.api.VerifyChain(verify, metadata=f.op).valid
    finally:
        f.close()
        server.stop()


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder"])
def test_verify_chain_finds_tampering(fleet: Fleet, tamper: str) -> None:
    for i in range(4):
        fleet.probe(gpu_uuid(i), types_pb2.PROBE_RESULT_PASS, n=5)
    ok = fleet.api.VerifyChain(
        fleet_pb2.VerifyChainRequest(verify_merkle_roots=True), metadata=fleet.op
    )
    assert ok.valid and ok.entries_verified >= 20
    db = fleet.server.engine.db
    with db.begin() as conn:
        if tamper == "edit":
            conn.execute(
                text("UPDATE ledger_entries SET gpu_uuid = 'GPU-forged' WHERE entry_id = 10")
            )
        elif tamper == "delete":
            conn.execute(text("DELETE FROM ledger_entries WHERE entry_id = 10"))
        elif tamper == "insert":
            conn.execute(
                text("UPDATE ledger_entries SET entry_id = entry_id + 1000 WHERE entry_id >= 10")
            )
            conn.execute(
                text(
                    "INSERT INTO ledger_entries (entry_id, entry_type, timestamp, gpu_uuid, data, "
                    "previous_hash, entry_hash, merkle_root) SELECT 10, entry_type, timestamp, "
                    "gpu_uuid, data, previous_hash, entry_hash, merkle_root FROM ledger_entries "
                    "WHERE entry_id = 9"
                )
            )
            conn.execute(
                text("UPDATE ledger_entries SET entry_id = entry_id - 999 WHERE entry_id >= 1010")
            )
        else:
            rows = conn.execute(
                text("SELECT entry_id, data FROM ledger_entries WHERE entry_id IN (10, 11)")
            ).all()
            data = {r[0]: r[1] for r in rows}
            for a, b in ((10, 11), (11, 10)):
                conn.execute(
                    text("UPDATE ledger_entries SET data = :d WHERE entry_id = :i"),
                    {"d": data[b], "i": a},
                )
    full = fleet_pb2.VerifyChainRequest(start_entry_id=1, verify_merkle_roots=True)
    bad = fleet.api.VerifyChain(full, metadata=fleet.op)
    assert not bad.valid
    assert bad.first_invalid_entry_id in (10, 11)
    assert bad.failure_description


def test_tick_schedules_tmr_and_deep_tests(fleet: Fleet) -> None:
    engine = fleet.server.engine
    engine.tick().result()
    assert len(engine.canaries) == 1
    canary = next(iter(engine.canaries.values()))
    assert len(set(canary["participants"])) == 3
    fleet.probe(gpu_uuid(3), types_pb2.PROBE_RESULT_FAIL, n=3)
    assert fleet.health(gpu_uuid(3)).state == types_pb2.GPU_HEALTH_STATE_QUARANTINED
    engine.tick().result()
    assert fleet.health(gpu_uuid(3)).state == types_pb2.GPU_HEALTH_STATE_QUARANTINED
    engine.clock = lambda: time.time() + 400  # past deep_test_delay_seconds
    engine.tick().result()
    assert fleet.health(gpu_uuid(3)).state == types_pb2.GPU_HEALTH_STATE_DEEP_TEST


def _patterns(fleet: Fleet, uuid: str) -> set[int]:
    hist = fleet.api.GetGpuHistory(fleet_pb2.GetGpuHistoryRequest(gpu_uuid=uuid))
    return {c.pattern_type for c in hist.correlations}


def test_every_anomaly_type_and_source_is_accepted(fleet: Fleet) -> None:
    reports = [
        agent_pb2.AnomalyReport(
            report_id=f"a-{t}-{s}",
            gpu_uuid=gpu_uuid(0),
            anomaly_type=t,
            source=s,
            severity=types_pb2.SEVERITY_INFO,
            score=1.0,
        )
        for t in range(1, 9)
        for s in range(1, 4)
    ]
    ack = fleet.agent.ReportAnomalies(agent_pb2.AnomalyReportBatch(reports=reports))
    assert ack.accepted == 24 and not ack.rejected
    h = fleet.health(gpu_uuid(0))
    assert h.anomaly_count == 24 and h.anomaly_rate == pytest.approx(24.0)
    assert h.beta == pytest.approx(1 + 24 * 0.3 * 0.25)
    bad = [
        agent_pb2.AnomalyReport(report_id="b1", gpu_uuid=gpu_uuid(0), anomaly_type=9, source=1),
        agent_pb2.AnomalyReport(report_id="b2", gpu_uuid=gpu_uuid(0), anomaly_type=1, source=0),
        agent_pb2.AnomalyReport(report_id="b3", gpu_uuid=gpu_uuid(99), anomaly_type=1, source=1),
        agent_pb2.AnomalyReport(
            report_id="b4", gpu_uuid=gpu_uuid(0), anomaly_type=1, source=1, has_sm=True, sm_id=SM
        ),
    ]
    ack = fleet.agent.ReportAnomalies(agent_pb2.AnomalyReportBatch(reports=bad))
    assert ack.accepted == 0 and len(ack.rejected) == 4
    assert fleet.health(gpu_uuid(0)).anomaly_count == 24


def test_multi_signal_and_environmental_patterns(fleet: Fleet) -> None:
    target = gpu_uuid(0)
    telemetry = [
        agent_pb2.GpuTelemetry(gpu_uuid=target, temperature_c=60, power_w=300),
        agent_pb2.GpuTelemetry(
            gpu_uuid=target, temperature_c=92, power_w=700, throttle_reasons=0x40
        ),
    ]
    assert fleet.agent.ReportTelemetry(agent_pb2.TelemetryBatch(samples=telemetry)).accepted == 2
    fleet.probe(target, types_pb2.PROBE_RESULT_FAIL, bad_sm=5)
    anomaly = agent_pb2.AnomalyReport(
        report_id="env-a",
        gpu_uuid=target,
        anomaly_type=types_pb2.ANOMALY_TYPE_LOGIT_DRIFT,
        source=types_pb2.ANOMALY_SOURCE_INFERENCE_MONITOR,
        severity=types_pb2.SEVERITY_HIGH,
    )
    fleet.agent.ReportAnomalies(agent_pb2.AnomalyReportBatch(reports=[anomaly]))
    found = _patterns(fleet, target)
    assert types_pb2.PATTERN_TYPE_ENVIRONMENTAL in found
    assert types_pb2.PATTERN_TYPE_MULTI_SIGNAL in found
    calm = gpu_uuid(1)
    fleet.agent.ReportTelemetry(
        agent_pb2.TelemetryBatch(
            samples=[agent_pb2.GpuTelemetry(gpu_uuid=calm, temperature_c=55, power_w=250)] * 2
        )
    )
    fleet.probe(calm, types_pb2.PROBE_RESULT_FAIL, bad_sm=1)
    assert types_pb2.PATTERN_TYPE_ENVIRONMENTAL not in _patterns(fleet, calm)


def test_node_and_firmware_correlated_patterns(fleet: Fleet) -> None:
    fleet.register(host="rack-2-node-1", n=4, start=10, firmware="97.01")
    fleet.register(host="rack-2-node-2", n=4, start=20, firmware="97.01")
    fleet.register(host="rack-3-node-1", n=8, start=30)
    fleet.probe(gpu_uuid(10), types_pb2.PROBE_RESULT_FAIL)
    fleet.probe(gpu_uuid(11), types_pb2.PROBE_RESULT_FAIL)
    assert types_pb2.PATTERN_TYPE_NODE_CORRELATED in _patterns(fleet, gpu_uuid(11))
    fleet.probe(gpu_uuid(20), types_pb2.PROBE_RESULT_FAIL)
    assert types_pb2.PATTERN_TYPE_FIRMWARE_CORRELATED in _patterns(fleet, gpu_uuid(20))
    fleet.probe(gpu_uuid(30), types_pb2.PROBE_RESULT_FAIL)
    assert not {
        types_pb2.PATTERN_TYPE_NODE_CORRELATED,
        types_pb2.PATTERN_TYPE_FIRMWARE_CORRELATED,
    } & _patterns(fleet, gpu_uuid(30))


def test_subscribe_replays_the_last_applied_directive_per_gpu(fleet: Fleet) -> None:
    agent_id = fleet.register()
    for action, reason in (
        (types_pb2.QUARANTINE_ACTION_QUARANTINE, "first"),
        (types_pb2.QUARANTINE_ACTION_REINSTATE, "second"),
    ):
        fleet.api.IssueQuarantine(
            fleet_pb2.IssueQuarantineRequest(gpu_uuid=gpu_uuid(1), action=action, reason=reason),
            metadata=fleet.op,
        )
    pending = fleet_pb2.IssueQuarantineRequest(
        gpu_uuid=gpu_uuid(2),
        action=types_pb2.QUARANTINE_ACTION_QUARANTINE,
        reason="needs approval",
        requires_approval=True,
    )
    fleet.api.IssueQuarantine(pending, metadata=fleet.op)
    stream = fleet.agent.Subscribe(agent_pb2.SubscribeRequest(agent_id=agent_id, config_version=1))
    first, second = next(stream), next(stream)
    stream.cancel()
    assert (first.directive.gpu.uuid, first.directive.reason) == (gpu_uuid(1), "second")
    assert first.directive.gpu.hostname == HOST
    assert (second.directive.gpu.uuid, second.directive.requires_approval) == (gpu_uuid(2), True)
