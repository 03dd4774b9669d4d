"""Helpers the tests share: a real Sentinel server on free ports.

A module of its own (not ``conftest``) so that test packages with their own conftest
can import it unambiguously.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPERATOR_TOKEN = "operator-secret-token"
"""The token of operator ``alice`` on every server ``start_server`` starts."""

_SERVERS: dict[str, Any] = {}
"""Servers ``start_server`` started, by gRPC address, so ``agent_token`` can find them."""


def start_server(tmp_path: Path, database_url: str = "", **kwargs: Any) -> Any:
    """Start a real Sentinel server on free gRPC and HTTP ports (enforcing auth)."""
    from sentinel.core.settings import ServerSettings
    from sentinel.server.app import SentinelServer

    settings = ServerSettings(
        grpc_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database_url=database_url,
        operator_tokens=(f"alice:{OPERATOR_TOKEN}",),
        **kwargs,
    )
    server = SentinelServer(settings).start()
    _SERVERS[server.address] = server
    return server


def agent_token(server: Any, host: str) -> str:
    """A new agent token of ``host``, issued by ``server`` (a server or its gRPC address)."""
    server = _SERVERS[server] if isinstance(server, str) else server
    return str(server.tokens.create("agent", host=host)[1])


def agent_token_at(address: str, host: str) -> str | None:
    """``agent_token`` of the server ``start_server`` started at ``address``; else ``None``."""
    return agent_token(address, host) if address in _SERVERS else None


def bearer(token: str) -> tuple[tuple[str, str]]:
    """gRPC metadata presenting ``token``."""
    return (("authorization", f"Bearer {token}"),)


OPERATOR = bearer(OPERATOR_TOKEN)
"""Metadata of operator ``alice``, for raw stub calls."""


SM_COUNT = 16
_report_ids = iter(range(1 << 62))


def gpu_uuid(n: int) -> str:
    """A well-formed GPU UUID numbered ``n``."""
    return f"GPU-{n:08x}-aaaa-bbbb-cccc-ddddeeeeffff"


def register_host(
    engine: Any, host: str, n: int, start: int = 0, firmware: str = "96.00"
) -> list[str]:
    """Register ``n`` GPUs of ``host`` with the engine directly; returns their UUIDs."""
    uuids = [gpu_uuid(start + i) for i in range(n)]
    engine.register_gpus(
        host,
        [
            (u, i, "NVIDIA H100 80GB HBM3", "535.129.03", firmware, SM_COUNT)
            for i, u in enumerate(uuids)
        ],
    )
    return uuids


def probe(engine: Any, uuid: str, *, failing_sm: int | None = None, n: int = 1) -> Any:
    """Ingest ``n`` FMA reports for ``uuid``: passes, or failures on ``failing_sm``."""
    from sentinel.v1 import agent_pb2, types_pb2

    reports = []
    for _ in range(n):
        outcomes = bytearray([types_pb2.PROBE_RESULT_PASS] * SM_COUNT)
        if failing_sm is not None:
            outcomes[failing_sm] = types_pb2.PROBE_RESULT_FAIL
        reports.append(
            agent_pb2.ProbeReport(
                report_id=f"test-{next(_report_ids)}",
                gpu_uuid=uuid,
                probe_type=types_pb2.PROBE_TYPE_FMA,
                result=types_pb2.PROBE_RESULT_FAIL
                if failing_sm is not None
                else types_pb2.PROBE_RESULT_PASS,
                sm_outcomes=bytes(outcomes),
            )
        )
    return engine.ingest_probe_results(reports)


def issue_pending(engine: Any, uuid: str, action: int = 1, reason: str = "operator test") -> str:
    """Issue a directive that waits for an operator's approval; returns its id."""
    from sentinel.v1 import fleet_pb2

    req = fleet_pb2.IssueQuarantineRequest(
        gpu_uuid=uuid, action=action, reason=reason, initiated_by="tests", requires_approval=True
    )
    return str(engine.issue_directive(req).result(timeout=10).directive_id)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``condition`` until it is truthy and return it; fail naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
