"""The synchronous SentinelClient against a real gRPC server on a free port."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from sentinel.fleet import (
    AuditEntryType,
    AuditQueryFilters,
    AuthenticationError,
    ConfigUpdate,
    ConnectionError,
    GpuHealthState,
    GpuIdentifier,
    InvalidArgumentError,
    NotFoundError,
    OverheadBudgetUpdate,
    QuarantineAction,
    QuarantineDirective,
    RetryConfig,
    SentinelClient,
    SentinelError,
    ThresholdUpdate,
)
from sentinel.v1 import fleet_pb2, fleet_pb2_grpc, types_pb2

GPU = "GPU-abcd1234-5678-9abc-def0-123456789abc"
SNAPSHOT = datetime(2025, 3, 1, 12, 30, tzinfo=timezone.utc)
FAST = RetryConfig(initial_backoff_s=0.001, max_backoff_s=0.005)


def _ts(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def directive_pb(directive_id: str) -> types_pb2.QuarantineDirective:
    return types_pb2.QuarantineDirective(
        directive_id=directive_id,
        gpu=types_pb2.GpuIdentifier(uuid=GPU, hostname="gpu-rack-01"),
        action=types_pb2.QUARANTINE_ACTION_QUARANTINE,
        reason="FMA failures",
        timestamp=_ts(SNAPSHOT),
    )


class FakeFleet(fleet_pb2_grpc.FleetServiceServicer):
    """Answers each RPC with a canned response, after failing with the scripted codes.

    ``failures[rpc]`` lists the codes the next calls of ``rpc`` abort with; RPCs in
    ``hang`` wait until the client gives up. Each ``streams`` entry scripts one
    ``StreamEvents`` connection: the directives it sends, then the code it aborts with
    (``None``: it ends cleanly); once they are used up a stream stays open.
    """

    def __init__(self) -> None:
        self.address = ""
        self.failures: defaultdict[str, list[grpc.StatusCode]] = defaultdict(list)
        self.hang: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.requests: dict[str, Any] = {}
        self.metadata: list[dict[str, str]] = []
        self.streams: list[tuple[list[str], grpc.StatusCode | None]] = []
        self.stream_open = threading.Event()

    def _enter(self, rpc: str, request: Any, context: grpc.ServicerContext) -> None:
        self.calls[rpc] += 1
        self.requests[rpc] = request
        self.metadata.append(dict(context.invocation_metadata()))
        if self.failures[rpc]:
            code = self.failures[rpc].pop(0)
            context.abort(code, f"scripted {code.name}")
        if rpc in self.hang:
            done = threading.Event()
            context.add_callback(done.set)
            done.wait(10)

    def QueryGpuHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("QueryGpuHealth", request, context)
        if request.gpu_uuid != GPU:
            context.abort(grpc.StatusCode.NOT_FOUND, f"GPU {request.gpu_uuid} not found")
        return types_pb2.GpuHealth(
            gpu=types_pb2.GpuIdentifier(uuid=GPU, hostname="gpu-rack-01", model="H100"),
            state=types_pb2.GPU_HEALTH_STATE_SUSPECT,
            reliability_score=0.75,
            alpha=3.0,
            beta=1.0,
            state_changed_at=_ts(SNAPSHOT),
            sm_health=[
                types_pb2.SmHealth(
                    sm=types_pb2.SmIdentifier(sm_id=42), probe_fail_count=2, reliability_score=0.5
                )
            ],
        )

    def QueryFleetHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("QueryFleetHealth", request, context)
        return types_pb2.FleetHealthSummary(
            total_gpus=8, healthy=6, suspect=2, snapshot_time=_ts(SNAPSHOT), active_agents=2
        )

    def ListGpus(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ListGpus", request, context)
        return fleet_pb2.ListGpusResponse(
            gpus=[types_pb2.GpuHealth(gpu=types_pb2.GpuIdentifier(uuid=GPU))],
            next_page_token="p2",
            total_count=9,
        )

    def GetGpuHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetGpuHistory", request, context)
        return fleet_pb2.GpuHistoryResponse(
            state_transitions=[
                types_pb2.StateTransition(
                    from_state=types_pb2.GPU_HEALTH_STATE_HEALTHY,
                    to_state=types_pb2.GPU_HEALTH_STATE_SUSPECT,
                    timestamp=_ts(SNAPSHOT),
                    reason="probe failures",
                )
            ],
            next_page_token="",
        )

    def IssueQuarantine(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("IssueQuarantine", request, context)
        return types_pb2.DirectiveResponse(
            directive_id="d-1", accepted=True, resulting_state="QUARANTINED"
        )

    def ListDirectives(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ListDirectives", request, context)
        return fleet_pb2.ListDirectivesResponse(directives=[directive_pb("d-1")])

    def ReviewDirective(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ReviewDirective", request, context)
        return types_pb2.DirectiveResponse(directive_id=request.directive_id, accepted=True)

    def QueryAuditTrail(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("QueryAuditTrail", request, context)
        return fleet_pb2.AuditQueryResponse(
            entries=[
                types_pb2.AuditEntry(
                    entry_id=7,
                    entry_type=types_pb2.AUDIT_ENTRY_TYPE_QUARANTINE_ACTION,
                    entry_hash=b"\x01" * 32,
                )
            ],
            total_count=1,
        )

    def VerifyChain(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("VerifyChain", request, context)
        return fleet_pb2.ChainVerificationResult(
            valid=True, entries_verified=10, batches_verified=1, merkle_roots=[b"\x02" * 32]
        )

    def GetTrustGraph(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetTrustGraph", request, context)
        return types_pb2.TrustGraphSnapshot(
            edges=[
                types_pb2.TrustEdge(
                    gpu_a=types_pb2.GpuIdentifier(uuid="GPU-a"),
                    gpu_b=types_pb2.GpuIdentifier(uuid="GPU-b"),
                    agreement_count=9,
                    disagreement_count=1,
                    trust_score=0.9,
                )
            ],
            total_gpus=2,
        )

    def UpdateConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("UpdateConfig", request, context)
        payloads = [
            name
            for name in ("probe_schedule", "overhead_budget", "sampling_rate", "threshold")
            if request.HasField(name)
        ]
        if len(payloads) != 1:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a ConfigUpdate carries exactly one payload, got {payloads}",
            )
        return types_pb2.ConfigAck(update_id=request.update_id, applied=True, config_version=4)

    def ListConfigAcks(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ListConfigAcks", request, context)
        return fleet_pb2.ListConfigAcksResponse(
            update_id=request.update_id or "cfg-now",
            config_version=4,
            acks=[
                types_pb2.ConfigAck(
                    update_id="cfg-now", applied=True, component_id="gpu-01", config_version=4
                ),
                types_pb2.ConfigAck(
                    update_id="cfg-now", component_id="gpu-02", error="no", config_version=3
                ),
            ],
        )

    def StreamEvents(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._enter("StreamEvents", request, context)
        if self.streams:
            directive_ids, ending = self.streams.pop(0)
            for directive_id in directive_ids:
                yield directive_pb(directive_id)
            if ending is not None:
                context.abort(ending, f"scripted {ending.name}")
            return
        done = threading.Event()
        context.add_callback(done.set)
        self.stream_open.set()
        done.wait(10)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TLS, token or retry settings from the caller's shell."""
    for name in (
        "SENTINEL_CA_CERT",
        "SENTINEL_CLIENT_CERT",
        "SENTINEL_CLIENT_KEY",
        "SENTINEL_TIMEOUT",
        "SENTINEL_MAX_RETRIES",
        "SENTINEL_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fleet() -> Iterator[FakeFleet]:
    """A FakeFleet served on a free loopback port; ``fleet.address`` is its target."""
    servicer = FakeFleet()
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    fleet_pb2_grpc.add_FleetServiceServicer_to_server(servicer, server)
    servicer.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    yield servicer
    server.stop(None).wait()


@pytest.fixture
def client(fleet: FakeFleet) -> Iterator[SentinelClient]:
    with SentinelClient.connect(fleet.address, retry_config=FAST, token="tok-jane") as client:
        yield client


def test_query_gpu_health_converts_the_response(client: SentinelClient, fleet: FakeFleet) -> None:
    health = client.query_gpu_health(GPU)

    assert fleet.requests["QueryGpuHealth"].gpu_uuid == GPU
    assert health.state is GpuHealthState.SUSPECT
    assert health.gpu == GpuIdentifier(uuid=GPU, hostname="gpu-rack-01", model="H100")
    assert health.reliability_score == 0.75
    assert health.state_changed_at == SNAPSHOT
    assert health.last_probe_time is None
    assert health.sm_health[0].sm is not None
    assert health.sm_health[0].sm.sm_id == 42
    assert health.sm_health[0].sm.gpu is None


def test_fleet_and_gpu_listing_send_the_filters(client: SentinelClient, fleet: FakeFleet) -> None:
    states = [GpuHealthState.SUSPECT, GpuHealthState.QUARANTINED]

    summary = client.query_fleet_health("gpu-rack-03", "H100", states)
    page = client.list_gpus(state_filter=states, limit=5, page_token="p1")

    request = fleet.requests["QueryFleetHealth"]
    assert (request.hostname_prefix, request.model_filter) == ("gpu-rack-03", "H100")
    assert list(request.state_filter) == [2, 3]
    assert (summary.total_gpus, summary.suspect, summary.snapshot_time) == (8, 2, SNAPSHOT)
    listing = fleet.requests["ListGpus"]
    assert (list(listing.state_filter), listing.limit, listing.page_token) == ([2, 3], 5, "p1")
    assert (page.gpus[0].gpu, page.next_page_token, page.total_count) == (
        GpuIdentifier(uuid=GPU),
        "p2",
        9,
    )


def test_history_takes_naive_datetimes_as_utc(client: SentinelClient, fleet: FakeFleet) -> None:
    end = datetime(2025, 3, 8)
    history = client.get_gpu_history(GPU, start_time=end - timedelta(days=7), end_time=end)

    request = fleet.requests["GetGpuHistory"]
    assert request.end_time.ToDatetime(tzinfo=timezone.utc) == end.replace(tzinfo=timezone.utc)
    assert request.limit == 1000
    transition = history.state_transitions[0]
    assert (transition.from_state, transition.to_state) == (
        GpuHealthState.HEALTHY,
        GpuHealthState.SUSPECT,
    )
    assert transition.timestamp == SNAPSHOT


def test_directives_round_trip(client: SentinelClient, fleet: FakeFleet) -> None:
    issued = client.issue_quarantine(
        GPU, QuarantineAction.QUARANTINE, "FMA failures on SM 42", evidence=["probe-1"]
    )
    listed = client.list_directives(pending_only=True, gpu_uuid=GPU)
    reviewed = client.review_directive("d-1", approve=True, comment="confirmed")

    request = fleet.requests["IssueQuarantine"]
    assert request.action == types_pb2.QUARANTINE_ACTION_QUARANTINE
    assert (request.initiated_by, list(request.evidence)) == ("sentinel-sdk", ["probe-1"])
    assert not request.requires_approval
    assert (issued.accepted, issued.resulting_state) == (True, "QUARANTINED")
    assert fleet.requests["ListDirectives"].pending_only
    assert fleet.requests["ListDirectives"].limit == 100
    assert [d.directive_id for d in listed] == ["d-1"]
    assert listed[0].action is QuarantineAction.QUARANTINE
    assert fleet.requests["ReviewDirective"].comment == "confirmed"
    assert reviewed.directive_id == "d-1"


def test_audit_chain_and_trust_graph(client: SentinelClient, fleet: FakeFleet) -> None:
    filters = AuditQueryFilters(
        gpu=GpuIdentifier(uuid=GPU), entry_type=AuditEntryType.QUARANTINE_ACTION, limit=50
    )
    trail = client.query_audit_trail(filters)
    verification = client.verify_chain(start_entry_id=3)
    graph = client.get_trust_graph()

    sent = fleet.requests["QueryAuditTrail"]
    assert (sent.gpu.uuid, sent.entry_type, sent.limit) == (GPU, 3, 50)
    assert not sent.HasField("start_time")
    assert trail.entries[0].entry_type is AuditEntryType.QUARANTINE_ACTION
    assert trail.entries[0].entry_hash == b"\x01" * 32
    chain_request = fleet.requests["VerifyChain"]
    assert (chain_request.start_entry_id, chain_request.verify_merkle_roots) == (3, True)
    assert not chain_request.HasField("start_time")
    assert verification.valid
    assert verification.merkle_roots == [b"\x02" * 32]
    assert graph.edges[0].gpu_a == GpuIdentifier(uuid="GPU-a")
    assert graph.edges[0].trust_score == 0.9


def test_update_config_leaves_the_one_payload_rule_to_the_server(
    client: SentinelClient, fleet: FakeFleet
) -> None:
    ack = client.update_config(
        ConfigUpdate(update_id="cfg-2", overhead_budget=OverheadBudgetUpdate(budget_pct=1.0))
    )
    two = ConfigUpdate(
        update_id="cfg-3",
        overhead_budget=OverheadBudgetUpdate(budget_pct=1.0),
        threshold=ThresholdUpdate(component="inference_monitor", parameter="kl", value=0.05),
    )

    with pytest.raises(InvalidArgumentError, match="exactly one payload"):
        client.update_config(two)
    assert (ack.update_id, ack.applied, ack.config_version) == ("cfg-2", True, 4)
    assert fleet.requests["UpdateConfig"].threshold.value == 0.05


def test_config_acks_are_listed_per_component(client: SentinelClient, fleet: FakeFleet) -> None:
    acks = client.list_config_acks()

    assert (acks.update_id, acks.config_version) == ("cfg-now", 4)
    assert [(a.component_id, a.applied, a.error, a.config_version) for a in acks.acks] == [
        ("gpu-01", True, "", 4),
        ("gpu-02", False, "no", 3),
    ]
    assert client.list_config_acks("cfg-1").update_id == "cfg-1"


def test_the_token_is_sent_as_bearer_metadata(client: SentinelClient, fleet: FakeFleet) -> None:
    client.get_trust_graph()
    with SentinelClient.connect(fleet.address) as anonymous:
        anonymous.get_trust_graph()

    assert fleet.metadata[0]["authorization"] == "Bearer tok-jane"
    assert "authorization" not in fleet.metadata[1]


def test_retryable_failures_are_retried(client: SentinelClient, fleet: FakeFleet) -> None:
    fleet.failures["QueryFleetHealth"] = [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
    ]

    assert client.query_fleet_health().total_gpus == 8
    assert fleet.calls["QueryFleetHealth"] == 4


def test_exhausted_retries_raise_connection_error(client: SentinelClient, fleet: FakeFleet) -> None:
    fleet.failures["QueryFleetHealth"] = [grpc.StatusCode.UNAVAILABLE] * 5

    with pytest.raises(ConnectionError, match="scripted UNAVAILABLE") as caught:
        client.query_fleet_health()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert fleet.calls["QueryFleetHealth"] == FAST.max_retries + 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, AuthenticationError),
        (grpc.StatusCode.FAILED_PRECONDITION, SentinelError),
        (grpc.StatusCode.INTERNAL, SentinelError),
    ],
)
def test_other_codes_raise_at_once_as_their_error(
    client: SentinelClient, fleet: FakeFleet, code: grpc.StatusCode, error: type[SentinelError]
) -> None:
    fleet.failures["VerifyChain"] = [code]

    with pytest.raises(SentinelError) as caught:
        client.verify_chain()
    assert type(caught.value) is error
    assert caught.value.code is code
    assert caught.value.details == str(caught.value) == f"scripted {code.name}"
    assert fleet.calls["VerifyChain"] == 1


def test_unknown_gpu_raises_not_found_with_the_server_message(client: SentinelClient) -> None:
    with pytest.raises(NotFoundError, match="GPU GPU-nonexistent not found"):
        client.query_gpu_health("GPU-nonexistent")


def test_each_attempt_has_the_default_deadline(fleet: FakeFleet) -> None:
    fleet.hang.add("GetTrustGraph")
    retry = RetryConfig(max_retries=1, initial_backoff_s=0.001, max_backoff_s=0.001)

    with SentinelClient.connect(fleet.address, retry_config=retry, default_timeout=0.2) as client:
        with pytest.raises(SentinelError) as caught:
            client.get_trust_graph()
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert fleet.calls["GetTrustGraph"] == 2


def test_unreachable_endpoint_raises_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SentinelClient.connect(f"127.0.0.1:{port}", retry_config=RetryConfig(max_retries=0))

    with client, pytest.raises(ConnectionError):
        client.query_fleet_health()


def test_a_connect_client_also_serves_the_async_twins(
    client: SentinelClient, fleet: FakeFleet
) -> None:
    first = asyncio.run(client.aquery_fleet_health())
    # A second event loop: the first loop's channel went with it, a new one opens.
    graph = asyncio.run(client.aget_trust_graph())

    assert first == client.query_fleet_health()
    assert graph.total_gpus == 2
    assert [m["authorization"] for m in fleet.metadata] == ["Bearer tok-jane"] * 3
    client.close()
    client.close()
    with pytest.raises(SentinelError, match="client is closed"):
        client.query_fleet_health()
    with pytest.raises(SentinelError, match="client is closed"):
        asyncio.run(client.aquery_fleet_health())


def test_endpoint_token_and_retries_come_from_the_environment(
    fleet: FakeFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTINEL_ENDPOINT", fleet.address)
    monkeypatch.setenv("SENTINEL_TOKEN", "tok-env")
    monkeypatch.setenv("SENTINEL_MAX_RETRIES", "1")
    fleet.failures["GetTrustGraph"] = [grpc.StatusCode.UNAVAILABLE] * 2

    with SentinelClient.connect() as client, pytest.raises(ConnectionError):
        client.get_trust_graph()
    assert fleet.calls["GetTrustGraph"] == 2
    assert fleet.metadata[0]["authorization"] == "Bearer tok-env"


def test_missing_endpoint_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTINEL_ENDPOINT", raising=False)

    with pytest.raises(ValueError, match="set SENTINEL_ENDPOINT"):
        SentinelClient.connect()


def test_stream_reconnects_after_unavailable(client: SentinelClient, fleet: FakeFleet) -> None:
    fleet.streams = [
        (["d-1"], grpc.StatusCode.UNAVAILABLE),
        (["d-2"], None),
        ([], None),
        (["d-3"], None),
    ]
    received: list[QuarantineDirective] = []

    def on_directive(directive: QuarantineDirective) -> None:
        received.append(directive)
        if len(received) == 3:
            client.close()

    client.stream_events(on_directive, hostname_filter="gpu-rack-01", reconnect=True)

    assert [d.directive_id for d in received] == ["d-1", "d-2", "d-3"]
    assert received[0].gpu == GpuIdentifier(uuid=GPU, hostname="gpu-rack-01")
    assert received[0].timestamp == SNAPSHOT
    assert fleet.calls["StreamEvents"] == 4
    assert fleet.requests["StreamEvents"].hostname_filter == "gpu-rack-01"


def test_stream_returns_when_the_server_ends_it(client: SentinelClient, fleet: FakeFleet) -> None:
    fleet.streams = [(["d-1"], grpc.StatusCode.UNAVAILABLE), (["d-2"], None), (["d-3"], None)]
    received: list[str] = []

    client.stream_events(lambda directive: received.append(directive.directive_id))

    assert received == ["d-1", "d-2"]
    assert fleet.calls["StreamEvents"] == 2


def test_close_from_another_thread_ends_the_stream(
    client: SentinelClient, fleet: FakeFleet
) -> None:
    def close_once_streaming() -> None:
        fleet.stream_open.wait(5)
        client.close()

    closer = threading.Thread(target=close_once_streaming)
    closer.start()

    client.stream_events(lambda directive: None, action_filter=QuarantineAction.CONDEMN)

    closer.join()
    assert fleet.requests["StreamEvents"].action_filter == types_pb2.QUARANTINE_ACTION_CONDEMN


def test_stream_raises_a_non_retryable_error(client: SentinelClient, fleet: FakeFleet) -> None:
    fleet.streams = [([], grpc.StatusCode.PERMISSION_DENIED)]

    with pytest.raises(AuthenticationError):
        client.stream_events(lambda directive: None)


def test_stream_gives_up_when_the_server_keeps_ending_it(
    client: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.streams = [([], None)] * 4

    with pytest.raises(ConnectionError, match="ended the event stream 4 times"):
        client.stream_events(lambda directive: None, reconnect=True)
    assert fleet.calls["StreamEvents"] == 4


# -- asynchronous twins ---------------------------------------------------------------


@pytest.fixture
async def aclient(fleet: FakeFleet) -> AsyncIterator[SentinelClient]:
    async with await SentinelClient.aconnect(
        fleet.address, retry_config=FAST, token="tok-jane"
    ) as client:
        yield client


CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("query_gpu_health", (GPU,)),
    ("query_fleet_health", ("gpu-rack", "H100", [GpuHealthState.HEALTHY])),
    ("list_gpus", ("gpu-rack", "", None, 10, "p1")),
    ("get_gpu_history", (GPU, SNAPSHOT - timedelta(days=1), SNAPSHOT)),
    ("issue_quarantine", (GPU, QuarantineAction.CONDEMN, "replaced", "operator:jane")),
    ("list_directives", (True, GPU, 10)),
    ("review_directive", ("d-1", False, "not convinced")),
    ("query_audit_trail", (AuditQueryFilters(start_time=SNAPSHOT, descending=True),)),
    ("verify_chain", (SNAPSHOT, None, 1, 9, False)),
    ("get_trust_graph", ()),
    ("update_config", (ConfigUpdate(update_id="c", overhead_budget=OverheadBudgetUpdate()),)),
    ("list_config_acks", ("cfg-1",)),
]


@pytest.mark.parametrize(("name", "args"), CALLS, ids=[name for name, _ in CALLS])
async def test_async_twin_sends_and_returns_what_the_sync_method_does(
    fleet: FakeFleet,
    client: SentinelClient,
    aclient: SentinelClient,
    name: str,
    args: tuple[Any, ...],
) -> None:
    rpc = "".join(part.title() for part in name.split("_"))

    expected = getattr(client, name)(*args)
    sync_request = fleet.requests[rpc]
    result = await getattr(aclient, f"a{name}")(*args)

    assert result == expected
    assert fleet.requests[rpc] == sync_request
    assert fleet.metadata[-1]["authorization"] == "Bearer tok-jane"


async def test_async_retries_then_succeeds(aclient: SentinelClient, fleet: FakeFleet) -> None:
    fleet.failures["GetTrustGraph"] = [grpc.StatusCode.UNAVAILABLE] * 2

    graph = await aclient.aget_trust_graph()

    assert graph.total_gpus == 2
    assert fleet.calls["GetTrustGraph"] == 3


async def test_async_exhausted_retries_raise_connection_error(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.failures["GetTrustGraph"] = [grpc.StatusCode.UNAVAILABLE] * 5

    with pytest.raises(ConnectionError) as caught:
        await aclient.aget_trust_graph()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert fleet.calls["GetTrustGraph"] == FAST.max_retries + 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.PERMISSION_DENIED, AuthenticationError),
    ],
)
async def test_async_other_codes_raise_at_once(
    aclient: SentinelClient, fleet: FakeFleet, code: grpc.StatusCode, error: type[SentinelError]
) -> None:
    fleet.failures["VerifyChain"] = [code]

    with pytest.raises(error) as caught:
        await aclient.averify_chain()
    assert caught.value.code is code
    assert fleet.calls["VerifyChain"] == 1


async def test_async_deadline(fleet: FakeFleet) -> None:
    fleet.hang.add("QueryFleetHealth")
    retry = RetryConfig(max_retries=1, initial_backoff_s=0.001, max_backoff_s=0.001)

    async with await SentinelClient.aconnect(
        fleet.address, retry_config=retry, default_timeout=0.2
    ) as client:
        with pytest.raises(SentinelError) as caught:
            await client.aquery_fleet_health()
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert fleet.calls["QueryFleetHealth"] == 2


async def test_an_aconnect_client_also_serves_sync_calls_from_a_thread(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    summary = await asyncio.to_thread(aclient.query_fleet_health)

    assert summary == await aclient.aquery_fleet_health()
    assert [m["authorization"] for m in fleet.metadata] == ["Bearer tok-jane"] * 2
    with aclient:
        pass
    with pytest.raises(SentinelError, match="client is closed"):
        await aclient.aquery_fleet_health()
    with pytest.raises(SentinelError, match="client is closed"):
        await asyncio.to_thread(aclient.query_fleet_health)


async def test_an_asyncio_channel_serves_only_its_own_open_loop(aclient: SentinelClient) -> None:
    with pytest.raises(RuntimeError, match="one client per event loop"):
        await asyncio.to_thread(asyncio.run, aclient.aget_trust_graph())


async def test_async_stream_reconnects_and_awaits_a_coroutine_callback(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.streams = [(["d-1"], grpc.StatusCode.UNAVAILABLE), ([], None), (["d-2"], None)]
    received: list[str] = []

    async def on_directive(directive: QuarantineDirective) -> None:
        received.append(directive.directive_id)
        if len(received) == 2:
            await aclient.aclose()

    await aclient.astream_events(on_directive, reconnect=True)

    assert received == ["d-1", "d-2"]
    assert fleet.calls["StreamEvents"] == 3


async def test_async_stream_takes_a_plain_callback_and_ends_on_aclose(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.streams = [(["d-1"], grpc.StatusCode.UNAVAILABLE)]
    received: list[str] = []
    stream = asyncio.create_task(
        aclient.astream_events(lambda d: received.append(d.directive_id), hostname_filter="h")
    )
    await asyncio.to_thread(fleet.stream_open.wait, 5)

    await aclient.aclose()

    await asyncio.wait_for(stream, 5)
    assert received == ["d-1"]
    assert fleet.requests["StreamEvents"].hostname_filter == "h"


async def test_async_stream_returns_when_the_server_ends_it(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.streams = [(["d-1"], None), (["d-2"], None)]
    received: list[str] = []

    await aclient.astream_events(lambda d: received.append(d.directive_id))

    assert received == ["d-1"]
    assert fleet.calls["StreamEvents"] == 1


async def test_async_stream_task_cancellation_propagates(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    stream = asyncio.create_task(aclient.astream_events(lambda d: None))
    await asyncio.to_thread(fleet.stream_open.wait, 5)

    stream.cancel()

    with pytest.raises(asyncio.CancelledError):
        await stream


async def test_async_stream_raises_a_non_retryable_error(
    aclient: SentinelClient, fleet: FakeFleet
) -> None:
    fleet.streams = [([], grpc.StatusCode.UNAUTHENTICATED)]

    with pytest.raises(AuthenticationError, match="scripted UNAUTHENTICATED"):
        await aclient.astream_events(lambda d: None)
