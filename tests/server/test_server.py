"""The server process: standard gRPC health and reflection, /healthz and /metrics."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sentinel_testing import OPERATOR, agent_token, bearer

from sentinel.v1 import agent_pb2, fleet_pb2


def test_grpc_health_checking(fleet_server: Any) -> None:
    with grpc.insecure_channel(fleet_server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "sentinel.v1.FleetService", "sentinel.v1.AgentService"):
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service="nope.Service"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_reflection_lists_and_describes_services(fleet_server: Any) -> None:
    with grpc.insecure_channel(fleet_server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="sentinel.v1.FleetService"
            ),
        ]
        listed, described = list(stub.ServerReflectionInfo(iter(requests)))
    names = {s.name for s in listed.list_services_response.service}
    assert {
        "sentinel.v1.FleetService",
        "sentinel.v1.AgentService",
        "grpc.health.v1.Health",
    } <= names
    assert described.file_descriptor_response.file_descriptor_proto


def test_healthz_and_metrics(fleet_server: Any) -> None:
    fleet_server.engine.register_gpus(
        "node-1", [("GPU-00000001-2222-3333-4444-555566667777", 0, "H100", "535", "96", 4)]
    )
    with grpc.insecure_channel(fleet_server.address) as channel:
        agent = agent_pb2.ProbeReportBatch(
            reports=[
                agent_pb2.ProbeReport(
                    report_id=f"m-{i}",
                    gpu_uuid="GPU-00000001-2222-3333-4444-555566667777",
                    probe_type=1,
                    result=1,
                )
                for i in range(7)
            ]
        )
        from sentinel.v1 import agent_pb2_grpc, fleet_pb2_grpc

        node = bearer(agent_token(fleet_server, "node-1"))
        agent_pb2_grpc.AgentServiceStub(channel).ReportProbeResults(agent, metadata=node)
        fleet_pb2_grpc.FleetServiceStub(channel).VerifyChain(
            fleet_pb2.VerifyChainRequest(verify_merkle_roots=True), metadata=OPERATOR
        )
    health = httpx.get(f"{fleet_server.http_url}/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["gpus"] == 1 and body["ledger_entries"] == 9
    metrics = httpx.get(f"{fleet_server.http_url}/metrics").text
    assert "sentinel_reports_ingested_total 7.0" in metrics
    assert "sentinel_ledger_entries 9.0" in metrics
    assert "sentinel_ingest_queue_depth 0.0" in metrics
    assert 'sentinel_chain_verifications_total{result="valid"} 1.0' in metrics
    assert 'sentinel_gpus{state="HEALTHY"} 1.0' in metrics


def test_rest_reads_and_errors(fleet_server: Any) -> None:
    missing = httpx.get(
        f"{fleet_server.http_url}/api/v1/gpus/GPU-00000009-2222-3333-4444-555566667777"
    )
    assert missing.status_code == 404 and "not found" in missing.json()["error"]
    bad = httpx.get(f"{fleet_server.http_url}/api/v1/gpus/not-a-gpu")
    assert bad.status_code == 404 and "GPU-xxxxxxxx" in bad.json()["error"]  # names no GPU
    fleet = httpx.get(f"{fleet_server.http_url}/api/v1/fleet").json()
    assert fleet["total_gpus"] == 0
    assert "/api/v1/fleet" in httpx.get(f"{fleet_server.http_url}/openapi.json").json()["paths"]
