"""Hostile callers against a real server with real tokens: each attack refused, nothing changed.

Every test names the attack of issue 8 it replays, checks the status code and that the
fleet, the ledger and the config are as they were, then shows the legitimate path (an
operator, or the agent of the right host) still works.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sentinel_testing import OPERATOR, agent_token, bearer

from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, types_pb2

SM = 8
HOST_A, HOST_B = "node-a", "node-b"
GPU_A0, GPU_A1, GPU_B0 = (f"GPU-{n:08x}-1111-2222-3333-444455556666" for n in (0xA0, 0xA1, 0xB0))
ANONYMOUS: tuple[tuple[str, str], ...] = ()


@dataclass
class Fleet:
    """A server with two registered hosts and a credential of each kind."""

    server: Any
    api: Any
    agents: Any
    a: tuple[tuple[str, str], ...]
    """Agent token of node-a."""
    b: tuple[tuple[str, str], ...]
    """Agent token of node-b."""

    def state(self, gpu: str) -> int:
        return int(self.api.QueryGpuHealth(fleet_pb2.QueryGpuHealthRequest(gpu_uuid=gpu)).state)

    def ledger(self) -> int:
        return len(self.server.engine.ledger)

    def register(self, host: str, gpus: list[str], metadata: Any) -> Any:
        req = agent_pb2.RegisterAgentRequest(hostname=host, agent_version="test")
        for i, u in enumerate(gpus):
            reg = req.gpus.add(sm_count=SM)
            reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = u, host, i
            reg.gpu.model, reg.gpu.driver_version, reg.gpu.firmware_version = "H100", "535", "96"
        return self.agents.RegisterAgent(req, metadata=metadata)

    def issue(self, gpu: str, action: int, metadata: Any, **kw: Any) -> Any:
        req = fleet_pb2.IssueQuarantineRequest(gpu_uuid=gpu, action=action, reason="test", **kw)
        return self.api.IssueQuarantine(req, metadata=metadata)


@pytest.fixture
def fleet(fleet_server: Any) -> Iterator[Fleet]:
    with grpc.insecure_channel(fleet_server.address) as channel:
        f = Fleet(
            fleet_server,
            fleet_pb2_grpc.FleetServiceStub(channel),
            agent_pb2_grpc.AgentServiceStub(channel),
            bearer(agent_token(fleet_server, HOST_A)),
            bearer(agent_token(fleet_server, HOST_B)),
        )
        f.register(HOST_A, [GPU_A0, GPU_A1], f.a)
        f.register(HOST_B, [GPU_B0], f.b)
        yield f


def _refused(call: Callable[[], Any], code: grpc.StatusCode, needle: str = "") -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    details = caught.value.details() or ""
    assert needle in details
    return details


def _agent_id(host: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))


def _quarantined(f: Fleet, gpu: str) -> None:
    f.issue(gpu, types_pb2.QUARANTINE_ACTION_QUARANTINE, OPERATOR)
    assert f.state(gpu) == types_pb2.GPU_HEALTH_STATE_QUARANTINED


@pytest.mark.parametrize(
    "action",
    [
        types_pb2.QUARANTINE_ACTION_REINSTATE,
        types_pb2.QUARANTINE_ACTION_QUARANTINE,
        types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST,
        types_pb2.QUARANTINE_ACTION_CONDEMN,
    ],
)
def test_directives_take_an_operator(fleet: Fleet, action: int) -> None:
    """Attack: anyone reaching the port (or any agent) REINSTATEs a quarantined GPU."""
    _quarantined(fleet, GPU_A0)
    before = fleet.ledger()
    name = types_pb2.QuarantineAction.Name(action).removeprefix("QUARANTINE_ACTION_")
    _refused(
        lambda: fleet.issue(GPU_A0, action, ANONYMOUS),
        grpc.StatusCode.UNAUTHENTICATED,
        f"issuing {name} requires an operator",
    )
    for agent in (fleet.a, fleet.b):  # not even the GPU's own host's agent
        _refused(
            lambda m=agent: fleet.issue(GPU_A0, action, m),
            grpc.StatusCode.PERMISSION_DENIED,
            "the agent of host",
        )
    assert fleet.state(GPU_A0) == types_pb2.GPU_HEALTH_STATE_QUARANTINED
    assert fleet.ledger() == before
    if action == types_pb2.QUARANTINE_ACTION_REINSTATE:
        assert fleet.issue(GPU_A0, action, OPERATOR).resulting_state == "HEALTHY"


def test_forged_deep_test_failures_queue_no_condemn(fleet: Fleet) -> None:
    """Attack: forged deep-test failures queue a CONDEMN of another host's GPU."""
    fleet.issue(GPU_A0, types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST, OPERATOR)

    def batch(tag: str) -> agent_pb2.ProbeReportBatch:
        return agent_pb2.ProbeReportBatch(
            reports=[
                agent_pb2.ProbeReport(
                    report_id=f"{tag}-{t}",
                    gpu_uuid=GPU_A0,
                    probe_type=t,
                    result=types_pb2.PROBE_RESULT_FAIL,
                    sm_outcomes=bytes([types_pb2.PROBE_RESULT_FAIL] * SM),
                    deep_test=True,
                )
                for t in range(1, 8)
            ]
        )

    before = fleet.ledger()
    _refused(
        lambda: fleet.agents.ReportProbeResults(batch("anon")),
        grpc.StatusCode.UNAUTHENTICATED,
        "reporting results requires",
    )
    by_b = fleet.agents.ReportProbeResults(batch("b"), metadata=fleet.b)
    assert by_b.accepted == 0 and len(by_b.rejected) == 7
    assert f"registered to host {HOST_A!r}" in by_b.rejected[0]
    by_operator = fleet.agents.ReportProbeResults(batch("op"), metadata=OPERATOR)
    assert by_operator.accepted == 0
    assert "count only from the agent of host 'node-a'" in by_operator.rejected[0]
    assert fleet.ledger() == before
    assert not fleet.server.engine.pending
    assert fleet.state(GPU_A0) == types_pb2.GPU_HEALTH_STATE_DEEP_TEST

    by_a = fleet.agents.ReportProbeResults(batch("a"), metadata=fleet.a)
    assert by_a.accepted == 7
    pending = list(fleet.server.engine.pending.values())
    assert [(d.gpu.uuid, d.action) for d in pending] == [
        (GPU_A0, types_pb2.QUARANTINE_ACTION_CONDEMN)
    ]


def test_reports_for_another_hosts_gpus_are_rejected_one_by_one(fleet: Fleet) -> None:
    """An agent reports only for its own GPUs; its own reports in the batch still count."""
    reports = [
        agent_pb2.ProbeReport(
            report_id=f"mix-{u}",
            gpu_uuid=u,
            probe_type=types_pb2.PROBE_TYPE_FMA,
            result=types_pb2.PROBE_RESULT_FAIL,
            sm_outcomes=bytes([types_pb2.PROBE_RESULT_FAIL] * SM),
        )
        for u in (GPU_A0, GPU_B0)
    ]
    ack = fleet.agents.ReportProbeResults(
        agent_pb2.ProbeReportBatch(reports=reports), metadata=fleet.b
    )
    assert ack.accepted == 1 and ack.rejected == [
        f"mix-{GPU_A0}: GPU {GPU_A0} is registered to host 'node-a', not to 'node-b' whose "
        "agent sent it"
    ]
    gpus = fleet.server.engine.state.gpus
    assert gpus[GPU_A0].probe_fail_count == 0 and gpus[GPU_B0].probe_fail_count == 1
    anomaly = agent_pb2.AnomalyReport(
        report_id="anomaly-1",
        gpu_uuid=GPU_A0,
        anomaly_type=types_pb2.ANOMALY_TYPE_LOGIT_DRIFT,
        severity=types_pb2.SEVERITY_CRITICAL,
        score=9,
    )
    ack = fleet.agents.ReportAnomalies(
        agent_pb2.AnomalyReportBatch(reports=[anomaly]), metadata=fleet.b
    )
    assert ack.accepted == 0 and "registered to host 'node-a'" in ack.rejected[0]
    telemetry = agent_pb2.GpuTelemetry(gpu_uuid=GPU_A0, temperature_c=99)
    ack = fleet.agents.ReportTelemetry(
        agent_pb2.TelemetryBatch(samples=[telemetry]), metadata=fleet.b
    )
    assert ack.accepted == 0 and ack.rejected[0].startswith(f"{GPU_A0}: GPU {GPU_A0}")


def test_initiated_by_is_the_authenticated_identity(fleet: Fleet) -> None:
    """Attack: record an action as ``initiated_by="alice"`` while being someone else."""
    _, bob = fleet.server.tokens.create("operator", name="bob")
    response = fleet.issue(
        GPU_A0, types_pb2.QUARANTINE_ACTION_QUARANTINE, bearer(bob), initiated_by="alice"
    )
    assert response.accepted
    history = fleet.api.GetGpuHistory(fleet_pb2.GetGpuHistoryRequest(gpu_uuid=GPU_A0))
    (transition,) = history.state_transitions
    assert transition.initiated_by == "bob"
    assert transition.reason == "test (note: initiated_by=alice)"
    update = types_pb2.ConfigUpdate(
        initiated_by="alice",
        reason="tuning",
        overhead_budget=types_pb2.OverheadBudgetUpdate(budget_pct=2.0),
    )
    fleet.api.UpdateConfig(update, metadata=bearer(bob))
    trail = fleet.api.QueryAuditTrail(
        fleet_pb2.AuditQueryFilters(entry_type=types_pb2.AUDIT_ENTRY_TYPE_CONFIG_CHANGE),
        metadata=OPERATOR,
    )
    stored = types_pb2.ConfigUpdate.FromString(trail.entries[-1].data)
    assert (stored.initiated_by, stored.reason) == ("bob", "tuning (note: initiated_by=alice)")


def test_review_takes_an_operator_and_records_it(fleet: Fleet) -> None:
    response = fleet.issue(
        GPU_A0, types_pb2.QUARANTINE_ACTION_QUARANTINE, OPERATOR, requires_approval=True
    )
    review = fleet_pb2.ReviewDirectiveRequest(directive_id=response.directive_id, approve=True)
    _refused(lambda: fleet.api.ReviewDirective(review), grpc.StatusCode.UNAUTHENTICATED)
    _refused(
        lambda: fleet.api.ReviewDirective(review, metadata=fleet.a),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert fleet.state(GPU_A0) == types_pb2.GPU_HEALTH_STATE_HEALTHY
    assert fleet.api.ReviewDirective(review, metadata=OPERATOR).resulting_state == "QUARANTINED"


def test_detection_cannot_be_switched_off_without_an_operator(fleet: Fleet) -> None:
    """Attack: UpdateConfig with ``fail_quarantine_count=1e9`` switches detection off."""
    engine = fleet.server.engine
    limit, version = engine.policy.fail_quarantine_count, engine.config.config_version
    off = types_pb2.ConfigUpdate(
        threshold=types_pb2.ThresholdUpdate(
            component="engine", parameter="fail_quarantine_count", value=1e9
        )
    )
    _refused(
        lambda: fleet.api.UpdateConfig(off),
        grpc.StatusCode.UNAUTHENTICATED,
        "changing the configuration requires an operator",
    )
    _refused(
        lambda: fleet.api.UpdateConfig(off, metadata=fleet.a), grpc.StatusCode.PERMISSION_DENIED
    )
    _, runs_client = fleet.server.tokens.create("runs")
    _refused(
        lambda: fleet.api.UpdateConfig(off, metadata=bearer(runs_client)),
        grpc.StatusCode.PERMISSION_DENIED,
        "an ingestion client (scope runs)",
    )
    assert (engine.policy.fail_quarantine_count, engine.config.config_version) == (limit, version)
    assert fleet.api.UpdateConfig(off, metadata=OPERATOR).config_version == version + 1


def test_a_gpu_cannot_be_registered_away_from_its_host(fleet: Fleet) -> None:
    """Attack: re-register another host's GPU to receive its directives."""
    before = fleet.ledger()
    details = _refused(
        lambda: fleet.register(HOST_B, [GPU_B0, GPU_A0], fleet.b),
        grpc.StatusCode.PERMISSION_DENIED,
        f"GPU {GPU_A0} is registered to host 'node-a'; moving it to 'node-b' takes an operator",
    )
    assert "operator's token" in details
    _refused(
        lambda: fleet.register(HOST_A, [GPU_B0], fleet.b),
        grpc.StatusCode.PERMISSION_DENIED,
        "registering host 'node-a' requires the agent token or certificate of host 'node-a'",
    )
    _refused(lambda: fleet.register(HOST_B, [GPU_A0], ANONYMOUS), grpc.StatusCode.UNAUTHENTICATED)
    engine = fleet.server.engine
    assert engine.state.gpus[GPU_A0].hostname == HOST_A
    assert fleet.ledger() == before
    fleet.register(HOST_B, [GPU_B0, GPU_A0], OPERATOR)  # an operator may move it
    assert engine.state.gpus[GPU_A0].hostname == HOST_B


def test_nobody_subscribes_or_acknowledges_as_another_hosts_agent(fleet: Fleet) -> None:
    """Attack: subscribe as another host's agent (its id is uuid5 of the hostname)."""
    a_id = _agent_id(HOST_A)
    subscribe = agent_pb2.SubscribeRequest(agent_id=a_id, config_version=0)
    for metadata, code in (
        (fleet.b, grpc.StatusCode.PERMISSION_DENIED),
        (ANONYMOUS, grpc.StatusCode.UNAUTHENTICATED),
    ):
        stream = fleet.agents.Subscribe(subscribe, metadata=metadata)
        _refused(lambda s=stream: next(s), code, "subscribing")
        _refused(
            lambda m=metadata: fleet.agents.Heartbeat(
                agent_pb2.HeartbeatRequest(agent_id=a_id), metadata=m
            ),
            code,
        )
        _refused(
            lambda m=metadata: fleet.agents.AckConfig(
                types_pb2.ConfigAck(component_id=HOST_A, applied=False, error="x"), metadata=m
            ),
            code,
        )
    _refused(
        lambda: next(
            fleet.agents.Subscribe(
                agent_pb2.SubscribeRequest(agent_id=_agent_id("nowhere")), metadata=ANONYMOUS
            )
        ),
        grpc.StatusCode.UNAUTHENTICATED,  # not NOT_FOUND: anonymous callers learn nothing
    )
    assert fleet.server.engine.state.agents[a_id].config_error == ""
    stream = fleet.agents.Subscribe(subscribe, metadata=fleet.a)
    first = next(stream)
    stream.cancel()
    assert first.config.config_version >= 1


def test_config_keys_and_size_are_bounded_and_keys_can_be_deleted(fleet: Fleet) -> None:
    """Attack: two UpdateConfig calls with 3 MB component names made every config 6 MB."""
    engine = fleet.server.engine
    huge = types_pb2.ConfigUpdate(
        sampling_rate=types_pb2.SamplingRateUpdate(component="x" * (3 << 20), rate=0.5)
    )
    version = engine.config.config_version
    _refused(
        lambda: fleet.api.UpdateConfig(huge, metadata=OPERATOR), grpc.StatusCode.INVALID_ARGUMENT
    )
    for component, parameter in (("x" * 65, "p"), ("Engine", "p"), ("c", "a b"), ("", "p")):
        bad = types_pb2.ConfigUpdate(
            threshold=types_pb2.ThresholdUpdate(component=component, parameter=parameter, value=1)
        )
        _refused(
            lambda u=bad: fleet.api.UpdateConfig(u, metadata=OPERATOR),
            grpc.StatusCode.INVALID_ARGUMENT,
            "must be 1-64 characters of a-z, 0-9",
        )
    assert engine.config.config_version == version

    def threshold(i: int, **kw: Any) -> types_pb2.ConfigUpdate:
        name = f"{i:064d}"
        return types_pb2.ConfigUpdate(
            threshold=types_pb2.ThresholdUpdate(component="c", parameter=name, **kw)
        )

    accepted, refusal = 0, None
    for i in range(2000):  # ~80 bytes a key: the limit is met before the loop ends
        try:
            fleet.api.UpdateConfig(threshold(i, value=1.0), metadata=OPERATOR)
        except grpc.RpcError as exc:
            refusal = exc
            break
        accepted += 1
    assert refusal is not None and refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the 65,536-byte limit" in (refusal.details() or "")
    assert engine.config.ByteSize() <= 65_536
    assert engine.config.config_version == version + accepted
    fleet.api.UpdateConfig(threshold(0, delete=True), metadata=OPERATOR)
    assert f"c.{0:064d}" not in engine.config.thresholds
    _refused(
        lambda: fleet.api.UpdateConfig(threshold(0, delete=True), metadata=OPERATOR),
        grpc.StatusCode.INVALID_ARGUMENT,
        "there is no threshold",
    )
    # Registration still works with the config at its largest.
    assert fleet.register(HOST_A, [GPU_A0, GPU_A1], fleet.a).config.ByteSize() <= 65_536


def test_chain_verification_takes_an_operator(fleet: Fleet) -> None:
    """Attack: anonymous chain verification as a cheap denial of service."""
    request = fleet_pb2.VerifyChainRequest(verify_merkle_roots=True)
    _refused(lambda: fleet.api.VerifyChain(request), grpc.StatusCode.UNAUTHENTICATED)
    _refused(
        lambda: fleet.api.VerifyChain(request, metadata=fleet.a), grpc.StatusCode.PERMISSION_DENIED
    )
    assert fleet.api.VerifyChain(request, metadata=OPERATOR).valid


def test_revoked_and_forged_tokens_are_refused(fleet: Fleet) -> None:
    record, token = fleet.server.tokens.create("operator", name="carol")
    assert fleet.issue(GPU_A1, types_pb2.QUARANTINE_ACTION_QUARANTINE, bearer(token)).accepted
    fleet.server.tokens.revoke(record.token_id)
    details = _refused(
        lambda: fleet.issue(GPU_A1, types_pb2.QUARANTINE_ACTION_REINSTATE, bearer(token)),
        grpc.StatusCode.UNAUTHENTICATED,
        "was revoked",
    )
    assert token not in details
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    _refused(
        lambda: fleet.api.ListGpus(fleet_pb2.ListGpusRequest(), metadata=bearer(forged)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown token",
    )
    assert fleet.state(GPU_A1) == types_pb2.GPU_HEALTH_STATE_QUARANTINED


def test_reads_stay_open(fleet: Fleet) -> None:
    assert fleet.api.ListGpus(fleet_pb2.ListGpusRequest()).gpus
    assert fleet.api.QueryFleetHealth(fleet_pb2.QueryFleetHealthRequest()).total_gpus == 3


def test_an_agent_certificate_acts_for_its_own_host_only(tmp_path: Any) -> None:
    """mTLS: a verified certificate not named an operator is the agent of its CN's host."""
    from sentinel_testing import start_server

    from sentinel.server.pki import generate_dev_pki

    pki = generate_dev_pki(tmp_path / "pki", client_name=HOST_A)
    server = start_server(
        tmp_path,
        host="localhost",
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca_cert),
        operator_subjects=("operator",),
    )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes(),
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )
    try:
        with grpc.secure_channel(server.address, credentials) as channel:
            f = Fleet(
                server,
                fleet_pb2_grpc.FleetServiceStub(channel),
                agent_pb2_grpc.AgentServiceStub(channel),
                ANONYMOUS,
                ANONYMOUS,
            )
            assert f.register(HOST_A, [GPU_A0], ANONYMOUS).agent_id == _agent_id(HOST_A)
            _refused(
                lambda: f.register(HOST_B, [GPU_B0], ANONYMOUS),
                grpc.StatusCode.PERMISSION_DENIED,
                "'node-a' is the agent of host 'node-a'",
            )
            _refused(
                lambda: f.issue(GPU_A0, types_pb2.QUARANTINE_ACTION_QUARANTINE, ANONYMOUS),
                grpc.StatusCode.PERMISSION_DENIED,
            )
            assert server.engine.state.gpus[GPU_A0].hostname == HOST_A
            assert GPU_B0 not in server.engine.state.gpus
    finally:
        server.stop()
