"""Directives that wait for approval across a server restart still reach their agent."""

from __future__ import annotations

from pathlib import Path

import grpc
from sentinel_testing import OPERATOR_TOKEN, start_server

from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, types_pb2

HOST = "rack-07-node-3"
MODEL = "NVIDIA H100 80GB HBM3"
OPERATOR = [("authorization", f"Bearer {OPERATOR_TOKEN}")]
QUARANTINE = types_pb2.QUARANTINE_ACTION_QUARANTINE


def _gpu(n: int) -> str:
    return f"GPU-{n:08x}-7777-8888-9999-aaaabbbbcccc"


def _register(channel: grpc.Channel, token: str) -> str:
    req = agent_pb2.RegisterAgentRequest(hostname=HOST, agent_version="test")
    for i in range(2):
        reg = req.gpus.add(sm_count=8)
        reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = _gpu(i), HOST, i
        reg.gpu.model, reg.gpu.driver_version, reg.gpu.firmware_version = MODEL, "535.1", "96.0"
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    return str(stub.RegisterAgent(req, metadata=_bearer(token)).agent_id)


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _subscribe(channel: grpc.Channel, agent_id: str, token: str) -> grpc.Future:
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    request = agent_pb2.SubscribeRequest(agent_id=agent_id, config_version=1)
    return stub.Subscribe(request, timeout=20, metadata=_bearer(token))


def test_pending_directive_reaches_its_host_after_restarts(tmp_path: Path, db_url: str) -> None:
    server = start_server(tmp_path, db_url)
    _, token = server.tokens.create("agent", host=HOST)
    with grpc.insecure_channel(server.address) as channel:
        agent_id = _register(channel, token)
        issued = fleet_pb2_grpc.FleetServiceStub(channel).IssueQuarantine(
            fleet_pb2.IssueQuarantineRequest(
                gpu_uuid=_gpu(1), action=QUARANTINE, reason="ECC storm", requires_approval=True
            ),
            metadata=OPERATOR,
        )
    server.stop()

    server = start_server(tmp_path, db_url)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stream = _subscribe(channel, agent_id, token)
            replayed = next(stream).directive
            assert replayed.directive_id == issued.directive_id
            assert (replayed.gpu.hostname, replayed.gpu.device_index) == (HOST, 1)
            assert replayed.gpu.model == MODEL and replayed.requires_approval
            review = fleet_pb2_grpc.FleetServiceStub(channel).ReviewDirective(
                fleet_pb2.ReviewDirectiveRequest(
                    directive_id=issued.directive_id, approve=True, comment="drain it"
                ),
                metadata=OPERATOR,
            )
            assert review.accepted and review.resulting_state == "QUARANTINED"
            applied = next(stream).directive
            stream.cancel()
            assert applied.directive_id == issued.directive_id
            assert (applied.gpu.hostname, applied.gpu.uuid) == (HOST, _gpu(1))
            assert applied.action == QUARANTINE and applied.approval.approved
    finally:
        server.stop()

    server = start_server(tmp_path, db_url)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stream = _subscribe(channel, agent_id, token)
            again = next(stream).directive
            stream.cancel()
        assert again.directive_id == issued.directive_id
        assert (again.gpu.hostname, again.action) == (HOST, QUARANTINE)
        assert not server.engine.pending
    finally:
        server.stop()
