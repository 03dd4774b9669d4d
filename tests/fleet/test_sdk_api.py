"""The public surface of ``sentinel.fleet``: exported names, async twins, light imports."""

from __future__ import annotations

import inspect
import subprocess
import sys

import sentinel.fleet
from sentinel.fleet import SentinelClient

EXPORTED = {
    # client and configuration
    "SentinelClient",
    "ClientConfig",
    "RetryConfig",
    "TlsConfig",
    # errors
    "SentinelError",
    "ConnectionError",
    "AuthenticationError",
    "NotFoundError",
    "InvalidArgumentError",
    "from_rpc_error",
    # enums
    "Severity",
    "ProbeType",
    "ProbeResult",
    "GpuHealthState",
    "QuarantineAction",
    "AnomalyType",
    "AnomalySource",
    "PatternType",
    "AuditEntryType",
    # models
    "GpuIdentifier",
    "SmIdentifier",
    "SmHealth",
    "GpuHealth",
    "FleetHealthSummary",
    "ListGpusResult",
    "GpuHistoryResponse",
    "StateTransition",
    "ReliabilitySample",
    "CorrelationEvent",
    "QuarantineDirective",
    "ApprovalStatus",
    "DirectiveResponse",
    "AuditEntry",
    "AuditQueryFilters",
    "AuditQueryResponse",
    "ChainVerificationResult",
    "TrustEdge",
    "TrustGraphSnapshot",
    "ConfigUpdate",
    "ConfigAck",
    "ConfigAckList",
    "ProbeScheduleEntry",
    "ProbeScheduleUpdate",
    "OverheadBudgetUpdate",
    "SamplingRateUpdate",
    "ThresholdUpdate",
}

SYNC_METHODS = {
    "query_gpu_health",
    "query_fleet_health",
    "list_gpus",
    "get_gpu_history",
    "issue_quarantine",
    "list_directives",
    "review_directive",
    "query_audit_trail",
    "verify_chain",
    "get_trust_graph",
    "update_config",
    "list_config_acks",
    "stream_events",
    "close",
}


def test_all_is_pinned_and_importable() -> None:
    assert set(sentinel.fleet.__all__) == EXPORTED
    assert len(sentinel.fleet.__all__) == len(EXPORTED)
    for name in EXPORTED:
        assert getattr(sentinel.fleet, name) is not None


def test_every_method_has_an_async_twin_with_the_same_parameters() -> None:
    public = {
        name
        for name, member in vars(SentinelClient).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }

    assert public == SYNC_METHODS | {f"a{name}" for name in SYNC_METHODS}
    for name in SYNC_METHODS:
        twin = getattr(SentinelClient, f"a{name}")
        assert inspect.iscoroutinefunction(twin), name
        sync_parameters = inspect.signature(getattr(SentinelClient, name)).parameters
        assert list(inspect.signature(twin).parameters) == list(sync_parameters), name
    assert inspect.iscoroutinefunction(SentinelClient.aconnect)
    assert inspect.signature(SentinelClient.aconnect) == inspect.signature(SentinelClient.connect)


def test_importing_the_sdk_does_not_pull_in_the_server_stack() -> None:
    heavy = ("sqlalchemy", "fastapi", "alembic", "numpy", "uvicorn", "psycopg", "sklearn")
    code = (
        "import sys, sentinel.fleet, sentinel.fleet.types\n"
        f"loaded = sorted(set({heavy!r}) & set(sys.modules))\n"
        "assert not loaded, loaded\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
