"""Every code example of seed 000, with ``sentinel_sdk`` replaced by ``sentinel.fleet``.

Each runs against a real server started here on free ports. Endpoints and certificate
paths of the examples ("sentinel.example.com:443", "/etc/sentinel/ca.pem") are replaced
by the test server's address and a development PKI; nothing else is changed, except that
endless monitoring loops are stopped after their first round.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sentinel.fleet import (
    ConnectionError,
    NotFoundError,
    RetryConfig,
    SentinelClient,
    SentinelError,
    TlsConfig,
)
from sentinel.fleet.types import (
    AuditEntryType,
    AuditQueryFilters,
    ConfigUpdate,
    GpuHealthState,
    GpuIdentifier,
    OverheadBudgetUpdate,
    ProbeScheduleEntry,
    ProbeScheduleUpdate,
    ProbeType,
    QuarantineAction,
    QuarantineDirective,
    ThresholdUpdate,
)
from sentinel.server.pki import generate_dev_pki
from sentinel.v1 import agent_pb2, types_pb2

GPU = "GPU-abcd1234-5678-9abc-def0-123456789abc"
GPUS = [
    "GPU-aaaa1111-2222-3333-4444-555566667777",
    "GPU-bbbb1111-2222-3333-4444-555566667777",
    "GPU-cccc1111-2222-3333-4444-555566667777",
    "GPU-dddd1111-2222-3333-4444-555566667777",
]


def _populate(engine: Any) -> None:
    engine.register_gpus(
        "gpu-rack-03-node-1",
        [
            (u, i, "NVIDIA H100 80GB HBM3", "535.129.03", "96.00.5E.00.01", 132)
            for i, u in enumerate([GPU, *GPUS])
        ],
    )
    bad = bytearray([types_pb2.PROBE_RESULT_PASS] * 132)
    bad[42] = types_pb2.PROBE_RESULT_FAIL
    engine.ingest_probe_results(
        [
            agent_pb2.ProbeReport(
                report_id=f"seed-{i}",
                gpu_uuid=GPU,
                probe_type=types_pb2.PROBE_TYPE_FMA,
                result=types_pb2.PROBE_RESULT_FAIL if i == 0 else types_pb2.PROBE_RESULT_PASS,
                sm_outcomes=bytes(bad) if i == 0 else bytes(bad).replace(b"\x02", b"\x01"),
            )
            for i in range(4)
        ]
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_dev_pki(tmp_path_factory.mktemp("pki"), operator_name="operator")


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A plaintext server; the examples run as operator alice (``SENTINEL_TOKEN``), as the
    seed's own code asks nobody for a token."""
    from sentinel_testing import OPERATOR_TOKEN, start_server

    monkeypatch.setenv("SENTINEL_TOKEN", OPERATOR_TOKEN)
    server = start_server(tmp_path)
    _populate(server.engine)
    yield server
    server.stop()


@pytest.fixture
def tls(tmp_path: Path, pki: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A TLS server; the examples run as operator alice (``SENTINEL_TOKEN``)."""
    from sentinel_testing import OPERATOR_TOKEN, start_server

    monkeypatch.setenv("SENTINEL_TOKEN", OPERATOR_TOKEN)
    server = start_server(
        tmp_path,
        host="localhost",
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
    )
    _populate(server.engine)
    yield server
    server.stop()


@pytest.fixture
def mtls(tmp_path: Path, pki: Any) -> Iterator[Any]:
    from sentinel_testing import start_server

    server = start_server(
        tmp_path,
        host="localhost",
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca_cert),
        operator_subjects=("operator",),
    )
    _populate(server.engine)
    yield server
    server.stop()


def test_quick_start_sync(tls: Any, pki: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(
        tls.address,
        tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
    )
    health = client.query_gpu_health("GPU-abcd1234-5678-9abc-def0-123456789abc")
    print(f"GPU state: {health.state.name}, reliability: {health.reliability_score:.4f}")
    fleet = client.query_fleet_health()
    print(
        f"Fleet: {fleet.healthy}/{fleet.total_gpus} healthy, SDC rate: {fleet.overall_sdc_rate:.6f}"
    )
    client.close()
    out = capsys.readouterr().out
    assert "GPU state: HEALTHY, reliability: 0.9810" in out
    assert "Fleet: 5/5 healthy, SDC rate: 0.200000" in out


def test_quick_start_async(tls: Any, pki: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        client = await SentinelClient.aconnect(
            tls.address,
            tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
        )
        health = await client.aquery_gpu_health("GPU-abcd1234-5678-9abc-def0-123456789abc")
        print(f"GPU state: {health.state.name}")
        await client.aclose()

    asyncio.run(main())
    assert capsys.readouterr().out == "GPU state: HEALTHY\n"


def test_context_managers(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with SentinelClient.connect(plain.address) as client:
        fleet = client.query_fleet_health()
        print(f"{fleet.total_gpus} GPUs tracked")

    async def main() -> None:
        async with await SentinelClient.aconnect(plain.address) as client:
            fleet = await client.aquery_fleet_health()
            print(f"{fleet.total_gpus} GPUs tracked")

    asyncio.run(main())
    assert capsys.readouterr().out == "5 GPUs tracked\n5 GPUs tracked\n"


def test_connection_modes(plain: Any, tls: Any, mtls: Any, pki: Any) -> None:
    client = SentinelClient.connect(plain.address)
    assert client.query_fleet_health().total_gpus == 5
    client.close()
    client = SentinelClient.connect(
        tls.address,
        tls_config=TlsConfig(
            ca_cert_path=str(pki.ca_cert),
        ),
    )
    assert client.query_fleet_health().total_gpus == 5
    client.close()
    client = SentinelClient.connect(
        mtls.address,
        tls_config=TlsConfig(
            ca_cert_path=str(pki.ca_cert),
            client_cert_path=str(pki.operator_cert),
            client_key_path=str(pki.operator_key),
        ),
    )
    assert client.query_fleet_health().total_gpus == 5
    client.close()
    no_cert = SentinelClient.connect(
        mtls.address,
        tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
        retry_config=RetryConfig(max_retries=0),
        default_timeout=5.0,
    )
    with pytest.raises(ConnectionError):
        no_cert.query_fleet_health()
    no_cert.close()


def test_connect_with_retry_config(tls: Any, pki: Any) -> None:
    client = SentinelClient.connect(
        tls.address,
        tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
        retry_config=RetryConfig(max_retries=5),
        default_timeout=15.0,
    )
    assert client.query_fleet_health().total_gpus == 5
    client.close()


def test_query_gpu_health(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    health = client.query_gpu_health("GPU-abcd1234-5678-9abc-def0-123456789abc")
    print(f"State: {health.state.name}")
    print(f"Reliability: {health.reliability_score:.6f}")
    print(f"Probes: {health.probe_pass_count} pass / {health.probe_fail_count} fail")
    print(f"Anomalies: {health.anomaly_count}")
    # Inspect per-SM health.
    for sm in health.sm_health:
        if sm.probe_fail_count > 0:
            print(
                f"  SM {sm.sm.sm_id}: {sm.probe_fail_count} failures, "
                f"reliability={sm.reliability_score:.4f}"
            )
    client.close()
    out = capsys.readouterr().out
    assert "Probes: 3 pass / 1 fail" in out
    assert "  SM 42: 1 failures, reliability=0.9810" in out
    assert out.count("  SM ") == 1


def test_query_fleet_health(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    fleet = client.query_fleet_health()
    print(
        f"Total: {fleet.total_gpus} | Healthy: {fleet.healthy} | "
        f"Suspect: {fleet.suspect} | Quarantined: {fleet.quarantined}"
    )
    print(f"SDC rate: {fleet.overall_sdc_rate:.6f} events/GPU-hour")
    print(f"Active agents: {fleet.active_agents}")
    fleet = client.query_fleet_health(
        hostname_prefix="gpu-rack-03",
        model_filter="H100",
        state_filter=[GpuHealthState.SUSPECT, GpuHealthState.QUARANTINED],
    )
    client.close()
    out = capsys.readouterr().out
    assert "Total: 5 | Healthy: 5 | Suspect: 0 | Quarantined: 0" in out
    assert "Active agents: 1" in out
    assert fleet.total_gpus == 0


def test_get_gpu_history_with_pagination(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    for i in range(3):
        client.issue_quarantine(GPU, QuarantineAction.QUARANTINE, f"round {i}")
        client.issue_quarantine(GPU, QuarantineAction.REINSTATE, f"round {i} cleared")
    end = datetime.utcnow() + timedelta(seconds=5)
    start = end - timedelta(days=7)
    history = client.get_gpu_history(
        "GPU-abcd1234-5678-9abc-def0-123456789abc",
        start_time=start,
        end_time=end,
        limit=4,
    )
    print(f"State transitions: {len(history.state_transitions)}")
    for t in history.state_transitions:
        print(f"  {t.timestamp}: {t.from_state.name} -> {t.to_state.name} ({t.reason})")
    print(f"Correlations: {len(history.correlations)}")
    print(f"Reliability samples: {len(history.reliability_history)}")
    transitions = list(history.state_transitions)
    pages = 1
    # Pagination.
    while history.next_page_token:
        history = client.get_gpu_history(
            "GPU-abcd1234-5678-9abc-def0-123456789abc",
            start_time=start,
            end_time=end,
            limit=4,
            page_token=history.next_page_token,
        )
        transitions += history.state_transitions
        pages += 1
    client.close()
    assert pages > 1
    assert [t.reason for t in transitions] == [
        r for i in range(3) for r in (f"round {i}", f"round {i} cleared")
    ]
    assert "HEALTHY -> QUARANTINED (round 0)" in capsys.readouterr().out


def test_issue_quarantine(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    resp = client.issue_quarantine(
        gpu_uuid="GPU-abcd1234-5678-9abc-def0-123456789abc",
        action=QuarantineAction.QUARANTINE,
        reason="Repeated FMA probe failures on SM 42",
        evidence=["probe-exec-001", "probe-exec-002", "anomaly-evt-007"],
        requires_approval=True,
    )
    if resp.accepted:
        print(f"Directive {resp.directive_id} accepted, GPU now {resp.resulting_state}")
    else:
        print(f"Directive rejected: {resp.rejection_reason}")
    pending = client.list_directives(pending_only=True)
    client.close()
    assert f"Directive {resp.directive_id} accepted, GPU now HEALTHY" in capsys.readouterr().out
    assert pending[0].evidence == ["probe-exec-001", "probe-exec-002", "anomaly-evt-007"]


def test_query_audit_trail(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    client.issue_quarantine(GPU, QuarantineAction.QUARANTINE, "audit me")
    filters = AuditQueryFilters(
        gpu=GpuIdentifier(uuid="GPU-abcd1234-5678-9abc-def0-123456789abc"),
        start_time=datetime.utcnow() - timedelta(hours=24),
        entry_type=AuditEntryType.QUARANTINE_ACTION,
        limit=50,
        descending=True,
    )
    result = client.query_audit_trail(filters)
    print(f"Found {result.total_count} entries (showing {len(result.entries)})")
    for entry in result.entries:
        print(f"  [{entry.entry_id}] {entry.entry_type.name} at {entry.timestamp}")
    client.close()
    out = capsys.readouterr().out
    assert "Found 1 entries (showing 1)" in out and "QUARANTINE_ACTION at" in out


def test_verify_chain(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    result = client.verify_chain()
    if result.valid:
        print(
            f"Chain integrity verified: {result.entries_verified} entries, "
            f"{result.batches_verified} batches in {result.verification_time_ms}ms"
        )
    else:
        print(
            f"CHAIN BROKEN at entry {result.first_invalid_entry_id}: {result.failure_description}"
        )
    client.close()
    assert "Chain integrity verified: 6 entries, 0 batches in" in capsys.readouterr().out


def test_get_trust_graph(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plain.engine.create_tmr_canary(GPUS[:3]).result()
    canary = next(iter(plain.engine.canaries))
    plain.engine.submit_tmr_results(
        [
            agent_pb2.TmrReport(canary_id=canary, gpu_uuid=u, digest=b"x" if i < 2 else b"y")
            for i, u in enumerate(GPUS[:3])
        ]
    ).result()
    client = SentinelClient.connect(plain.address)
    graph = client.get_trust_graph()
    print(f"Trust graph: {graph.total_gpus} GPUs, {len(graph.edges)} edges")
    print(f"Coverage: {graph.coverage_pct:.1f}%")
    print(f"Trust scores: min={graph.min_trust_score:.4f}, mean={graph.mean_trust_score:.4f}")
    # Find low-trust edges.
    for edge in graph.edges:
        if edge.trust_score < 0.95:
            print(
                f"  Low trust: {edge.gpu_a.uuid[:16]}... <-> {edge.gpu_b.uuid[:16]}... "
                f"score={edge.trust_score:.4f} "
                f"({edge.agreement_count} agree / {edge.disagreement_count} disagree)"
            )
    client.close()
    out = capsys.readouterr().out
    assert "Trust graph: 5 GPUs, 3 edges" in out
    assert "Coverage: 30.0%" in out
    assert "min=0.0000, mean=0.3333" in out
    assert out.count("Low trust") == 2


def test_update_config(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)
    # Update probe schedule.
    ack = client.update_config(
        ConfigUpdate(
            update_id="cfg-001",
            initiated_by="operator:jane",
            reason="Increase FMA probe frequency during investigation",
            probe_schedule=ProbeScheduleUpdate(
                entries=[
                    ProbeScheduleEntry(
                        type=ProbeType.FMA,
                        period_seconds=30,  # Every 30 seconds (was 60).
                        sm_coverage=1.0,  # All SMs.
                        priority=1,
                        enabled=True,
                        timeout_ms=5000,
                    ),
                    ProbeScheduleEntry(
                        type=ProbeType.TENSOR_CORE,
                        period_seconds=120,
                        sm_coverage=0.25,
                        priority=2,
                        enabled=True,
                        timeout_ms=10000,
                    ),
                ]
            ),
        )
    )
    if ack.applied:
        print(f"Config {ack.update_id} applied by {ack.component_id} (v{ack.config_version})")
    else:
        print(f"Config rejected: {ack.error}")
    # Adjust overhead budget.
    ack = client.update_config(
        ConfigUpdate(
            update_id="cfg-002",
            initiated_by="auto-tuner",
            reason="Reduce probe overhead during peak training",
            overhead_budget=OverheadBudgetUpdate(budget_pct=1.0),
        )
    )
    assert ack.config_version == 3
    # Adjust detection threshold.
    ack = client.update_config(
        ConfigUpdate(
            update_id="cfg-003",
            initiated_by="operator:jane",
            reason="Lower KL divergence sensitivity",
            threshold=ThresholdUpdate(
                component="inference_monitor",
                parameter="kl_divergence_threshold",
                value=0.05,
            ),
        )
    )
    client.close()
    assert ack.config_version == 4
    assert "Config cfg-001 applied by sentinel-engine@" in capsys.readouterr().out
    cfg = plain.engine.config
    assert [e.type for e in cfg.probe_schedule] == [ProbeType.FMA, ProbeType.TENSOR_CORE]
    assert cfg.overhead_budget_pct == 1.0
    assert cfg.thresholds["inference_monitor.kl_divergence_threshold"] == 0.05


def test_stream_events_sync(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(plain.address)

    def on_directive(d: QuarantineDirective) -> None:
        print(f"[{d.timestamp}] {d.action.name} -> {d.gpu.uuid} ({d.reason})")
        if d.requires_approval:
            print(f"  Awaiting approval from {d.initiated_by}")
        client.close()

    # This blocks forever (until client.close() is called).
    issuer = threading.Timer(
        0.5,
        lambda: SentinelClient.connect(plain.address).issue_quarantine(
            GPUS[0], QuarantineAction.QUARANTINE, "stream me", requires_approval=True
        ),
    )
    issuer.start()
    client.stream_events(on_directive)
    issuer.join()
    out = capsys.readouterr().out
    assert f"QUARANTINE -> {GPUS[0]} (stream me)" in out
    assert "Awaiting approval from alice" in out  # the authenticated issuer


def test_stream_events_async(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        client = await SentinelClient.aconnect(plain.address)
        seen = asyncio.Event()

        async def on_directive(d: QuarantineDirective) -> None:
            print(f"Directive: {d.action.name} -> {d.gpu.uuid}")
            seen.set()

        task = asyncio.create_task(client.astream_events(on_directive))
        await asyncio.sleep(0.3)
        await client.aissue_quarantine(GPUS[1], QuarantineAction.SCHEDULE_DEEP_TEST, "deep")
        await asyncio.wait_for(seen.wait(), 10)
        await client.aclose()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert capsys.readouterr().out == f"Directive: SCHEDULE_DEEP_TEST -> {GPUS[1]}\n"


def test_error_handling(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    health = None
    try:
        client = SentinelClient.connect(plain.address)
        health = client.query_gpu_health("GPU-nonexistent-uuid")
    except NotFoundError as e:
        print(f"GPU not found: {e}")
    except ConnectionError as e:
        print(f"Cannot reach SENTINEL: {e}")
    except SentinelError as e:
        print(f"SENTINEL error (code={e.code}): {e}")
    try:
        health = client.query_gpu_health("GPU-eeee1111-2222-3333-4444-555566667777")
    except NotFoundError as e:
        print(f"GPU not found: {e}")
    client.close()
    try:
        health = SentinelClient.connect(
            "127.0.0.1:1", retry_config=RetryConfig(max_retries=1, initial_backoff_s=0.01)
        ).query_gpu_health(GPU)
    except ConnectionError as e:
        print(f"Cannot reach SENTINEL: {e}")
    assert health is None
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("GPU not found: GPU GPU-nonexistent-uuid not found")
    assert out[1] == "GPU not found: GPU GPU-eeee1111-2222-3333-4444-555566667777 not found"
    assert out[2].startswith("Cannot reach SENTINEL: ")


def test_environment_variables(tls: Any, pki: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setitem(os.environ, "SENTINEL_ENDPOINT", tls.address)
    monkeypatch.setitem(os.environ, "SENTINEL_CA_CERT", str(pki.ca_cert))
    client = SentinelClient.connect()
    assert client.query_fleet_health().total_gpus == 5
    client.close()


def test_sync_call_from_async_code(tls: Any, pki: Any) -> None:
    async def main() -> Any:
        client = await SentinelClient.aconnect(
            tls.address, tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert))
        )
        # Acceptable but not recommended:
        result = await asyncio.to_thread(client.query_fleet_health)
        await client.aclose()
        return result

    assert asyncio.run(main()).total_gpus == 5


def test_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    try:
        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger("sentinel.fleet.client").setLevel(logging.DEBUG)
        client = SentinelClient.connect(
            "127.0.0.1:1", retry_config=RetryConfig(max_retries=1, initial_backoff_s=0.01)
        )
        with pytest.raises(ConnectionError):
            client.query_fleet_health()
        client.close()
        assert "UNAVAILABLE" in caplog.text and "retry 1 of 1" in caplog.text
    finally:
        logging.getLogger("sentinel.fleet.client").setLevel(logging.NOTSET)
        root.setLevel(root_level)
        root.handlers[:] = root_handlers


def test_training_preflight(tls: Any, pki: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = SentinelClient.connect(
        tls.address,
        tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
    )
    # Pre-flight check: ensure all GPUs are healthy.
    print("Pre-flight health check...")
    for gpu_uuid in GPUS:
        health = client.query_gpu_health(gpu_uuid)
        if health.state != GpuHealthState.HEALTHY:
            print(f"  ABORT: {gpu_uuid} is {health.state.name}")
            raise SystemExit(1)
        print(f"  {gpu_uuid}: OK (reliability={health.reliability_score:.6f})")
    print("All GPUs healthy. Starting training...")
    tls.engine.ingest_probe_results(
        [
            agent_pb2.ProbeReport(report_id=f"train-{i}", gpu_uuid=GPUS[2], probe_type=1, result=2)
            for i in range(3)
        ]
    )
    # Periodic monitoring during training.
    for step in range(1000):
        # ... your training step ...
        if step % 100 == 0:
            for gpu_uuid in GPUS:
                health = client.query_gpu_health(gpu_uuid)
                if health.state == GpuHealthState.SUSPECT:
                    print(f"WARNING: {gpu_uuid} is SUSPECT at step {step}")
                elif health.state in (GpuHealthState.QUARANTINED, GpuHealthState.CONDEMNED):
                    print(f"CRITICAL: {gpu_uuid} is {health.state.name} at step {step}")
                    print("Saving checkpoint and stopping training...")
                    # save_checkpoint(step)
                    break
    client.close()
    out = capsys.readouterr().out
    assert f"  {GPUS[0]}: OK (reliability=0.990099)" in out
    assert f"CRITICAL: {GPUS[2]} is QUARANTINED at step 0" in out


def test_inference_preflight(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    def preflight_check(gpu_uuid: str, min_reliability: float = 0.999) -> bool:
        """Returns True if the GPU is safe to use for inference."""
        client = SentinelClient.connect(plain.address)
        try:
            health = client.query_gpu_health(gpu_uuid)
            if health.state != GpuHealthState.HEALTHY:
                print(f"GPU {gpu_uuid} is {health.state.name}, not HEALTHY")
                return False
            if health.reliability_score < min_reliability:
                print(
                    f"GPU {gpu_uuid} reliability {health.reliability_score:.6f} "
                    f"below threshold {min_reliability}"
                )
                return False
            if health.probe_failure_rate > 0:
                print(
                    f"GPU {gpu_uuid} has active probe failures "
                    f"({health.probe_failure_rate:.2f}/hour)"
                )
                return False
            return True
        finally:
            client.close()

    assert not preflight_check("GPU-aaaa1111-2222-3333-4444-555566667777")
    assert preflight_check(GPU, min_reliability=0.98) is False
    assert "has active probe failures (1.00/hour)" in capsys.readouterr().out


def test_async_dashboard_loop(tls: Any, pki: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async def dashboard_loop() -> None:
        client = await SentinelClient.aconnect(
            tls.address,
            tls_config=TlsConfig(ca_cert_path=str(pki.ca_cert)),
        )
        try:
            while True:
                fleet = await client.aquery_fleet_health()
                graph = await client.aget_trust_graph()
                dashboard_data = {
                    "timestamp": fleet.snapshot_time.isoformat() if fleet.snapshot_time else None,
                    "total_gpus": fleet.total_gpus,
                    "healthy": fleet.healthy,
                    "suspect": fleet.suspect,
                    "quarantined": fleet.quarantined,
                    "condemned": fleet.condemned,
                    "sdc_rate": fleet.overall_sdc_rate,
                    "avg_reliability": fleet.average_reliability_score,
                    "active_agents": fleet.active_agents,
                    "trust_coverage": graph.coverage_pct,
                    "min_trust": graph.min_trust_score,
                    "mean_trust": graph.mean_trust_score,
                }
                print(json.dumps(dashboard_data, indent=2))
                # In production: push to WebSocket clients, write to DB, etc.
                await asyncio.sleep(10)
        finally:
            await client.aclose()

    async def one_round() -> None:
        task = asyncio.create_task(dashboard_loop())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(one_round())
    data = json.loads(capsys.readouterr().out)
    assert data["total_gpus"] == 5 and data["active_agents"] == 1 and data["timestamp"]


def test_auto_quarantine_loop(mtls: Any, pki: Any, capsys: pytest.CaptureFixture[str]) -> None:
    mtls.engine.policy = mtls.engine.policy.with_overrides(
        {"suspect_below": 0.98, "suspect_recover_score": 0.99}
    )
    mtls.engine.ingest_probe_results(
        [
            agent_pb2.ProbeReport(report_id=f"s-{i}", gpu_uuid=GPUS[3], probe_type=1, result=2)
            for i in range(2)
        ]
    )

    async def auto_quarantine() -> None:
        client = await SentinelClient.aconnect(
            mtls.address,
            tls_config=TlsConfig(
                ca_cert_path=str(pki.ca_cert),
                client_cert_path=str(pki.operator_cert),
                client_key_path=str(pki.operator_key),
            ),
        )
        CHECK_INTERVAL = 30  # seconds  # noqa: N806
        try:
            while True:
                fleet = await client.aquery_fleet_health(
                    state_filter=[GpuHealthState.SUSPECT],
                )
                if fleet.suspect > 0:
                    # Query individual suspect GPUs.
                    # (In production, use the fleet response's per-GPU data.)
                    print(f"Found {fleet.suspect} suspect GPUs, investigating...")
                await asyncio.sleep(CHECK_INTERVAL)
        finally:
            await client.aclose()

    async def one_round() -> None:
        task = asyncio.create_task(auto_quarantine())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(one_round())
    assert capsys.readouterr().out == "Found 1 suspect GPUs, investigating...\n"


def test_export_audit_trail(plain: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def export_audit_trail(output_path: str, days: int = 30) -> None:
        client = SentinelClient.connect(plain.address)
        end_time = datetime.utcnow() + timedelta(seconds=5)
        start_time = end_time - timedelta(days=days)
        filters = AuditQueryFilters(
            start_time=start_time,
            end_time=end_time,
            limit=2,
            descending=False,
        )
        total_exported = 0
        with open(output_path, "w") as f:
            while True:
                result = client.query_audit_trail(filters)
                for entry in result.entries:
                    record = {
                        "entry_id": entry.entry_id,
                        "type": entry.entry_type.name,
                        "timestamp": entry.timestamp.isoformat() if entry.timestamp else None,
                        "gpu_uuid": entry.gpu.uuid if entry.gpu else None,
                        "entry_hash": entry.entry_hash.hex(),
                        "previous_hash": entry.previous_hash.hex(),
                    }
                    f.write(json.dumps(record) + "\n")
                    total_exported += 1
                if not result.next_page_token:
                    break
                filters.page_token = result.next_page_token
        # Verify the chain covers the exported range.
        verification = client.verify_chain()
        print(f"Exported {total_exported} entries to {output_path}")
        print(f"Chain integrity: {'VALID' if verification.valid else 'INVALID'}")
        print(f"  Entries verified: {verification.entries_verified}")
        print(f"  Batches verified: {verification.batches_verified}")
        client.close()

    out_file = tmp_path / "audit_export.jsonl"
    export_audit_trail(str(out_file), days=90)
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["entry_id"] for r in lines] == list(range(1, 7))
    assert all(
        b["previous_hash"] == a["entry_hash"] for a, b in zip(lines, lines[1:], strict=False)
    )
    out = capsys.readouterr().out
    assert "Exported 6 entries" in out and "Chain integrity: VALID" in out
