"""Poison input at the gRPC edge, on SQLite and PostgreSQL: every bad field is refused
naming its path (INVALID_ARGUMENT, or a line in ``ReportAck.rejected`` for one report of
a batch) while a legitimate client keeps ingesting and nothing stored changes."""

from __future__ import annotations

import math
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentinel_testing import OPERATOR_TOKEN, SM_COUNT, gpu_uuid

from sentinel.fleet._edge import EdgeValidation
from sentinel.fleet.validation import InvalidRequest, request_types, validate
from sentinel.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    types_pb2,
)

HOST = "node-poison"
LEGIT, TARGET, PARTNER = gpu_uuid(1), gpu_uuid(2), gpu_uuid(3)
AUTH = (("authorization", f"Bearer {OPERATOR_TOKEN}"),)
SQL_WORDS = ("INSERT", "SELECT", "UPDATE ", "sqlalchemy", "psycopg", "[parameters", "[SQL")
REPORT_BATCHES = (
    agent_pb2.ProbeReportBatch,
    agent_pb2.AnomalyReportBatch,
    agent_pb2.TmrReportBatch,
    agent_pb2.TelemetryBatch,
)


@dataclass
class Fleet:
    """A real server with one registered host of three GPUs, and a channel to it."""

    server: Any
    channel: grpc.Channel
    api: fleet_pb2_grpc.FleetServiceStub
    agent: agent_pb2_grpc.AgentServiceStub

    def call(self, method: str, request: Message) -> tuple[grpc.StatusCode, str, list[str]]:
        """Call ``method`` (``Service/Method``) as an operator; (status, details, and the
        ``rejected`` lines of a ReportAck)."""
        service, name = method.split("/")
        stub = self.api if service == "FleetService" else self.agent
        rpc = getattr(stub, name)
        try:
            result = rpc(request, metadata=AUTH, timeout=30)
            if not isinstance(result, Message):  # a stream: its first item or its error
                next(iter(result), None)
                result.cancel()
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or "", []
        return grpc.StatusCode.OK, "", list(getattr(result, "rejected", []))

    def health(self, uuid: str) -> types_pb2.GpuHealth:
        return self.api.QueryGpuHealth(
            fleet_pb2.QueryGpuHealthRequest(gpu_uuid=uuid), metadata=AUTH, timeout=30
        )

    def ledger_size(self, uuid: str = "") -> int:
        """Entries in the ledger, or those of GPU ``uuid``."""
        gpu = types_pb2.GpuIdentifier(uuid=uuid) if uuid else None
        return self.api.QueryAuditTrail(
            fleet_pb2.AuditQueryFilters(gpu=gpu, limit=1), metadata=AUTH, timeout=30
        ).total_count


@pytest.fixture
def fleet(db_server: Any) -> Iterator[Fleet]:
    with grpc.insecure_channel(db_server.address) as channel:
        f = Fleet(
            db_server,
            channel,
            fleet_pb2_grpc.FleetServiceStub(channel),
            agent_pb2_grpc.AgentServiceStub(channel),
        )
        f.agent.RegisterAgent(
            agent_pb2.RegisterAgentRequest(
                hostname=HOST,
                agent_version="1.0",
                gpus=[
                    agent_pb2.GpuRegistration(
                        gpu=types_pb2.GpuIdentifier(uuid=u, hostname=HOST, device_index=i),
                        sm_count=SM_COUNT,
                    )
                    for i, u in enumerate((LEGIT, TARGET, PARTNER))
                ],
            ),
            metadata=AUTH,
            timeout=30,
        )
        yield f


# -- the poison ------------------------------------------------------------------------


def _fields(desc: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(path, descriptor) of every scalar field of a message type, nested ones included;
    a repeated field is reached through its first item."""
    for field in desc.fields:
        path = prefix + field.name + ("[0]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name != "google.protobuf.Timestamp" and depth < 3:
                yield from _fields(field.message_type, path + ".", depth + 1)
        else:
            yield path, field


def _with(request: Message, path: str, value: Any) -> Message:
    """A copy of ``request`` with the field at ``path`` (``a[0].b``) set to ``value``."""
    out = type(request)()
    out.CopyFrom(request)
    target: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        name, _, index = part.partition("[")
        if index:
            items = getattr(target, name)
            while len(items) <= int(index.rstrip("]")):
                items.add()
            target = items[int(index.rstrip("]"))]
        else:
            target = getattr(target, name)
    name, _, index = parts[-1].partition("[")
    if index:
        getattr(target, name).append(value)
    else:
        setattr(target, name, value)
    return out


def _methods() -> Iterator[tuple[str, type[Message]]]:
    for path, cls in request_types().items():
        service, name = path.rsplit("/", 2)[-2:]
        yield f"{service.rsplit('.', 1)[-1]}/{name}", cls


_case_ids = iter(range(1 << 30))


def _base(cls: type[Message]) -> Message:
    """An empty request, or a report batch of two valid reports: [0] for PARTNER, [1] for
    TARGET. The poison goes into [1], so TARGET would change if it got through; PARTNER's
    reports are passes and INFO anomalies, which change nothing on TARGET."""
    if cls not in REPORT_BATCHES:
        return cls()
    now = agent_pb2.ProbeReport().timestamp
    now.GetCurrentTime()
    n = next(_case_ids)
    if cls is agent_pb2.ProbeReportBatch:
        return cls(
            reports=[
                agent_pb2.ProbeReport(
                    report_id=f"{who}-{n}", gpu_uuid=who, probe_type=1, result=1, timestamp=now
                )
                for who in (PARTNER, TARGET)
            ]
        )
    if cls is agent_pb2.AnomalyReportBatch:
        return cls(
            reports=[
                agent_pb2.AnomalyReport(
                    report_id=f"{who}-{n}",
                    gpu_uuid=who,
                    anomaly_type=1,
                    source=1,
                    severity=1,
                    timestamp=now,
                )
                for who in (PARTNER, TARGET)
            ]
        )
    if cls is agent_pb2.TelemetryBatch:
        return cls(
            samples=[
                agent_pb2.GpuTelemetry(gpu_uuid=who, temperature_c=50, power_w=300, timestamp=now)
                for who in (PARTNER, TARGET)
            ]
        )
    return cls(
        reports=[
            agent_pb2.TmrReport(report_id=f"{who}-{n}", canary_id="c", gpu_uuid=who)
            for who in (PARTNER, TARGET)
        ]
    )


def _poison() -> Iterator[tuple[str, str, Message, str]]:
    """(case, method, request, field path the error must name) for every poison kind."""
    for method, cls in _methods():
        for path, field in _fields(cls.DESCRIPTOR):
            at = path.replace("reports[0]", "reports[1]").replace("samples[0]", "samples[1]")
            t = field.type
            if t == FieldDescriptor.TYPE_UINT64:
                for v in (2**63, 2**64 - 1):
                    yield f"{method} {at}={v}", method, _with(_base(cls), at, v), at
            elif t == FieldDescriptor.TYPE_UINT32:
                yield f"{method} {at}=2^31", method, _with(_base(cls), at, 2**31), at
            elif t == FieldDescriptor.TYPE_STRING:
                yield f"{method} {at} NUL", method, _with(_base(cls), at, "GPU-\x00"), at
                yield f"{method} {at} long", method, _with(_base(cls), at, "x" * 5000), at
            elif t == FieldDescriptor.TYPE_DOUBLE:
                yield f"{method} {at}=nan", method, _with(_base(cls), at, math.nan), at
                if "score" not in at and "threshold" not in at.split(".")[-1]:
                    yield f"{method} {at}=-inf", method, _with(_base(cls), at, -math.inf), at
    for method, report in (
        ("AgentService/ReportProbeResults", "reports[1]"),
        ("AgentService/ReportAnomalies", "reports[1]"),
        ("AgentService/ReportTelemetry", "samples[1]"),
        ("AgentService/Heartbeat", ""),
        ("FleetService/GetGpuHistory", ""),
        ("FleetService/QueryAuditTrail", ""),
    ):
        cls = dict(_methods())[method]
        field = "start_time" if method.startswith("Fleet") else "timestamp"
        at = f"{report}.{field}" if report else field
        for seconds in (-(10**18), 253_402_300_800):
            poisoned = _with(_base(cls), f"{at}.seconds", seconds)
            yield f"{method} {at}={seconds}s", method, poisoned, at
        for nanos in (-1, 1_000_000_000):
            poisoned = _with(_base(cls), f"{at}.nanos", nanos)
            yield f"{method} {at} nanos={nanos}", method, poisoned, at
    too_many = agent_pb2.ProbeReportBatch(
        reports=[agent_pb2.ProbeReport(report_id=f"n{i}") for i in range(10_001)]
    )
    yield "10,001 reports", "AgentService/ReportProbeResults", too_many, "reports: 10001 items"
    sm = _with(_base(agent_pb2.ProbeReportBatch), "reports[1].sm_outcomes", bytes(4097))
    yield "sm_outcomes 4097 bytes", "AgentService/ReportProbeResults", sm, "reports[1].sm_outcomes"
    for method, request, at in (
        ("FleetService/IssueQuarantine", fleet_pb2.IssueQuarantineRequest(action=99), "action"),
        (
            "FleetService/StreamEvents",
            fleet_pb2.StreamEventsRequest(action_filter=-1),
            "action_filter",
        ),
        ("FleetService/QueryAuditTrail", fleet_pb2.AuditQueryFilters(entry_type=7), "entry_type"),
    ):
        yield f"{method} {at} enum", method, request, at


POISON = list(_poison())


def test_the_poison_list_holds_every_kind_the_issue_names() -> None:
    cases = {case for case, *_ in POISON}
    telemetry = "AgentService/ReportTelemetry samples[1]"
    for field in ("ecc_single_bit", "ecc_double_bit", "throttle_reasons"):
        assert {f"{telemetry}.{field}={2**63}", f"{telemetry}.{field}={2**64 - 1}"} <= cases
    for method in ("AgentService/Heartbeat", "AgentService/Subscribe", "AgentService/AckConfig"):
        assert f"{method} config_version={2**64 - 1}" in cases
    assert {
        "AgentService/RegisterAgent hostname NUL",
        "AgentService/RegisterAgent gpus[0].gpu.model long",
        "AgentService/ReportProbeResults reports[1].detail NUL",
        "FleetService/UpdateConfig reason NUL",
        f"{telemetry}.temperature_c=nan",
        f"{telemetry}.power_w=-inf",
        f"{telemetry}.timestamp=-1000000000000000000s",
        "AgentService/ReportProbeResults reports[1].timestamp=253402300800s",
        "AgentService/ReportAnomalies reports[1].timestamp nanos=1000000000",
        "FleetService/GetGpuHistory start_time=-1000000000000000000s",
    } <= cases
    assert len(POISON) > 150


# -- through the real server -----------------------------------------------------------


def _legit_batch(seq: int) -> agent_pb2.ProbeReportBatch:
    reports = []
    for j in range(50):
        r = agent_pb2.ProbeReport(
            report_id=f"legit-{seq}-{j}",
            gpu_uuid=LEGIT,
            probe_type=1,
            result=1,
            duration_us=1200,
            sm_outcomes=bytes([1]) * SM_COUNT,
        )
        r.timestamp.GetCurrentTime()
        reports.append(r)
    return agent_pb2.ProbeReportBatch(reports=reports)


class _LegitClient:
    """Another client ingesting valid batches on its own channel until stopped."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self.sent = self.accepted = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run)

    def wait_accepted(self, n: int, timeout: float = 60) -> bool:
        """Whether ``n`` reports were accepted within ``timeout`` (stops early on a failure)."""
        with self._progress:
            return self._progress.wait_for(lambda: self.accepted >= n or self.failures, timeout)

    def __enter__(self) -> _LegitClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = _legit_batch(self.sent)
            self.sent += 1
            try:
                ack = self._stub.ReportProbeResults(batch, metadata=AUTH, timeout=30)
            except grpc.RpcError as exc:
                ack, failure = None, f"{exc.code().name}: {exc.details()}"
            with self._progress:
                if ack is None:
                    self.failures.append(failure)
                elif ack.accepted != len(batch.reports) or ack.rejected:
                    self.failures.append(f"accepted {ack.accepted}, rejected {ack.rejected}")
                else:
                    self.accepted += ack.accepted
                self._progress.notify_all()


def _snapshot(fleet: Fleet) -> tuple[Any, ...]:
    h = fleet.health(TARGET)
    return (h.state, h.probe_pass_count, h.probe_fail_count, h.anomaly_count, h.alpha, h.beta)


def _refused_as_it_should(request: Message, at: str, answer: tuple[Any, ...]) -> bool:
    """A bad report is refused alone, in ``ReportAck.rejected``; anything else is refused
    whole with INVALID_ARGUMENT. Either way the message starts with the field's path."""
    code, details, rejected = answer
    if isinstance(request, REPORT_BATCHES) and at.startswith(("reports[", "samples[")):
        mine = [line for line in rejected if f" {at}" in f" {line}"]
        return code == grpc.StatusCode.OK and len(mine) == 1
    return bool(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(at))


def test_each_poison_is_refused_naming_its_field_while_others_ingest(fleet: Fleet) -> None:
    before, target_entries = _snapshot(fleet), fleet.ledger_size(TARGET)
    wrong: list[str] = []
    with _LegitClient(fleet.server.address) as legit:
        for case, method, request, at in POISON:
            answer = fleet.call(method, request)
            text = answer[1] + " ".join(answer[2])
            if not _refused_as_it_should(request, at, answer):
                wrong.append(f"{case}: {answer[0].name} {text[:200]!r}")
            if any(word in text for word in SQL_WORDS):
                wrong.append(f"{case}: the error shows SQL: {text[:200]!r}")
        assert legit.wait_accepted(500)  # ten batches at least, whatever the timing
    assert not wrong, "\n".join(wrong)
    assert legit.failures == [] and legit.accepted >= 500
    assert _snapshot(fleet) == before
    assert fleet.ledger_size(TARGET) == target_entries
    assert fleet.health(LEGIT).probe_pass_count == legit.accepted
    assert fleet.health(PARTNER).probe_pass_count > 0  # the valid neighbours were applied


def test_a_bad_report_is_refused_alone(fleet: Fleet) -> None:
    batch = _base(agent_pb2.TelemetryBatch)
    batch.samples[1].ecc_double_bit = 2**64 - 1
    batch.samples.add(gpu_uuid=TARGET, temperature_c=math.nan)
    ack = fleet.agent.ReportTelemetry(batch, metadata=AUTH, timeout=30)
    assert ack.accepted == 1
    assert list(ack.rejected) == [
        "samples[1].ecc_double_bit: 18446744073709551615 is out of range (0 .. 2^63-1)",
        "samples[2].temperature_c: nan is not a finite number",
    ]
    probes = _base(agent_pb2.ProbeReportBatch)
    probes.reports[1].detail = "bad\x00bits"
    ack = fleet.agent.ReportProbeResults(probes, metadata=AUTH, timeout=30)
    rid = probes.reports[1].report_id
    assert ack.accepted == 1 and list(ack.rejected) == [
        f"{rid}: reports[1].detail: contains a NUL character (\\x00), which text may not"
    ]
    assert fleet.health(PARTNER).probe_pass_count == 1
    assert fleet.health(TARGET).probe_pass_count == 0


def test_undecodable_requests_are_invalid_argument(fleet: Fleet) -> None:
    garbage = (
        b"\xff\xff\xff\xff",  # a field key with no end
        b"\x12\x05\x0a\x02",  # a report that claims more bytes than follow
        b"\x0a\x02\xff\xfe",  # agent_id that is not UTF-8
    )
    report = fleet.channel.unary_unary("/sentinel.v1.AgentService/ReportProbeResults")
    subscribe = fleet.channel.unary_stream("/sentinel.v1.AgentService/Subscribe")
    for raw in garbage:
        with pytest.raises(grpc.RpcError) as caught:
            report(raw, metadata=AUTH, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raw
        assert caught.value.details().startswith(
            "request is not a valid sentinel.v1.ProbeReportBatch"
        )
        stream = subscribe(raw, metadata=AUTH, timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            next(stream)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raw
        assert caught.value.details().startswith(
            "request is not a valid sentinel.v1.SubscribeRequest"
        )


def test_valid_requests_and_streams_still_work(fleet: Fleet) -> None:
    ack = fleet.agent.ReportProbeResults(_legit_batch(0), metadata=AUTH, timeout=30)
    assert ack.accepted == 50
    agent_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, HOST))
    stream = fleet.agent.Subscribe(
        agent_pb2.SubscribeRequest(agent_id=agent_id, hostname=HOST), metadata=AUTH, timeout=60
    )
    assert next(stream).HasField("config")  # the server is inside the handler now
    events = fleet.api.StreamEvents(fleet_pb2.StreamEventsRequest(), metadata=AUTH, timeout=60)
    seen: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        try:
            seen.put(next(events))
        except grpc.RpcError as exc:
            seen.put(exc)

    reader = threading.Thread(target=read)
    reader.start()
    # StreamEvents sends nothing until an event, so directives are issued until one arrives.
    actions = (types_pb2.QUARANTINE_ACTION_QUARANTINE, types_pb2.QUARANTINE_ACTION_REINSTATE)
    first = None
    for i in range(30):
        resp = fleet.api.IssueQuarantine(
            fleet_pb2.IssueQuarantineRequest(
                gpu_uuid=TARGET, action=actions[i % 2], reason="edge test"
            ),
            metadata=AUTH,
            timeout=30,
        )
        assert resp.accepted, resp.rejection_reason
        try:
            first = seen.get(timeout=1)
            break
        except queue.Empty:
            continue
    reader.join()
    assert isinstance(first, types_pb2.QuarantineDirective) and first.gpu.uuid == TARGET
    directive = next(c for c in stream if c.HasField("directive"))
    assert directive.directive.gpu.uuid == TARGET
    stream.cancel()
    events.cancel()


def test_errors_never_show_sql(fleet: Fleet) -> None:
    """Poison that the database would refuse (and answer with its SQL) if it got there."""
    stamp = agent_pb2.GpuTelemetry().timestamp
    stamp.seconds = -(10**18)
    cases = [
        agent_pb2.TelemetryBatch(samples=[agent_pb2.GpuTelemetry(gpu_uuid=TARGET, **kw)])
        for kw in (
            {"ecc_double_bit": 2**64 - 1},
            {"sm_clock_mhz": 2**32 - 1},
            {"timestamp": stamp},
        )
    ]
    cases.append(agent_pb2.TelemetryBatch(samples=[agent_pb2.GpuTelemetry(gpu_uuid="GPU-\x00")]))
    for request in cases:
        code, details, rejected = fleet.call("AgentService/ReportTelemetry", request)
        assert code == grpc.StatusCode.OK and len(rejected) == 1
        assert not any(word in rejected[0] for word in SQL_WORDS), rejected
    code, details, _ = fleet.call(
        "FleetService/QueryAuditTrail",
        fleet_pb2.AuditQueryFilters(gpu=types_pb2.GpuIdentifier(uuid="GPU-\x00")),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert not any(word in details for word in SQL_WORDS), details
    assert fleet.server.engine.running


# -- the interceptor on its own ---------------------------------------------------------


class _Failing(fleet_pb2_grpc.FleetServiceServicer):
    """A servicer whose handlers fail the way a database error used to reach clients."""

    async def GetTrustGraph(self, request: Any, context: Any) -> Any:
        raise RuntimeError("(psycopg.errors.NumericValueOutOfRange) [SQL: INSERT INTO x]")

    async def StreamEvents(self, request: Any, context: Any) -> Any:
        yield types_pb2.QuarantineDirective(directive_id="first")
        raise RuntimeError("[SQL: SELECT 1] [parameters: (18446744073709551615,)]")


@pytest.fixture
def failing_address() -> Iterator[str]:
    import asyncio

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    address: list[str] = []

    async def serve() -> None:
        server = grpc.aio.server(interceptors=[EdgeValidation()])
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(_Failing(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        done = asyncio.Event()
        address.append(f"127.0.0.1:{port}")
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        ready.set()
        await done.wait()
        await server.stop(grace=1)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    assert ready.wait(30)
    try:
        yield address[0]
    finally:
        stop[0]()
        thread.join()
        loop.close()


def test_unexpected_errors_are_internal_without_their_text(failing_address: str) -> None:
    with grpc.insecure_channel(failing_address) as channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetTrustGraph(fleet_pb2.GetTrustGraphRequest(), timeout=30)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "error " in caught.value.details() and "SQL" not in caught.value.details()
        stream = stub.StreamEvents(fleet_pb2.StreamEventsRequest(), timeout=30)
        assert next(stream).directive_id == "first"
        with pytest.raises(grpc.RpcError) as caught:
            next(stream)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert not any(word in caught.value.details() for word in SQL_WORDS)


# -- the validator without a server ------------------------------------------------------


def test_every_request_type_has_a_validator_and_the_empty_request_passes() -> None:
    types = request_types()
    assert types["/sentinel.v1.AgentService/ReportTelemetry"] is agent_pb2.TelemetryBatch
    assert types["/sentinel.v1.FleetService/StreamEvents"] is fleet_pb2.StreamEventsRequest
    assert len(types) >= 20
    for cls in types.values():
        validate(cls())


def test_messages_name_the_path_and_the_accepted_range() -> None:
    batch = agent_pb2.TelemetryBatch(samples=[agent_pb2.GpuTelemetry()] * 4)
    batch.samples[3].ecc_double_bit = 2**64 - 1
    with pytest.raises(InvalidRequest) as caught:
        validate(batch)
    assert str(caught.value) == (
        "samples[3].ecc_double_bit: 18446744073709551615 is out of range (0 .. 2^63-1)"
    )
    score = agent_pb2.AnomalyReport(score=math.inf, threshold=math.inf)
    validate(agent_pb2.AnomalyReportBatch(reports=[score]))  # the monitors' "non-finite"
    late = agent_pb2.ProbeReport()
    late.timestamp.seconds = 2_000_000_000 + 10**9
    with pytest.raises(InvalidRequest, match=r"reports\[0\].timestamp.seconds: .*now \+ 1 day"):
        validate(agent_pb2.ProbeReportBatch(reports=[late]), now=2_000_000_000)
    late.timestamp.seconds = 2_000_000_000 + 3600
    validate(agent_pb2.ProbeReportBatch(reports=[late]), now=2_000_000_000)


# -- random reports ------------------------------------------------------------------------

_u64 = st.one_of(st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
_u32 = st.one_of(st.sampled_from([0, 2**31 - 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
_i32 = st.integers(-(2**31), 2**31 - 1)
_text = st.one_of(st.sampled_from(["", "\x00", LEGIT, TARGET]), st.text(max_size=300))
_double = st.floats(allow_nan=True, allow_infinity=True)
_seconds = st.one_of(
    st.sampled_from([0, -(10**18), 253_402_300_800, 946_684_799, 1_800_000_000]),
    st.integers(-(2**63), 2**63 - 1),
)


@st.composite
def _timestamp(draw: Any) -> Any:
    t = agent_pb2.ProbeReport().timestamp
    t.seconds = draw(_seconds)
    t.nanos = draw(st.one_of(st.just(0), _i32))
    return t


_probe = st.builds(
    agent_pb2.ProbeReport,
    report_id=_text,
    gpu_uuid=st.sampled_from([LEGIT, TARGET, "GPU-x", "\x00"]),
    probe_type=_i32,
    result=_i32,
    timestamp=_timestamp(),
    duration_us=_u64,
    sm_outcomes=st.binary(max_size=5000),
    sm_details=st.lists(
        st.builds(agent_pb2.SmProbeOutcome, sm_id=_u32, result=_i32, detail=_text), max_size=3
    ),
    detail=_text,
    deep_test=st.booleans(),
)
_telemetry = st.builds(
    agent_pb2.GpuTelemetry,
    gpu_uuid=st.sampled_from([LEGIT, TARGET, "GPU-x", "\x00"]),
    timestamp=_timestamp(),
    temperature_c=_double,
    power_w=_double,
    sm_clock_mhz=_u32,
    mem_clock_mhz=_u32,
    throttle_reasons=_u64,
    ecc_single_bit=_u64,
    ecc_double_bit=_u64,
    retired_rows=_u32,
    remapped_rows=_u32,
    xid_events=st.lists(_u32, max_size=5),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    probes=st.lists(_probe, max_size=4),
    samples=st.lists(_telemetry, max_size=4),
)
def test_random_reports_are_answered_ok_or_invalid_argument(
    fleet: Fleet, probes: list[Any], samples: list[Any]
) -> None:
    for method, request in (
        ("AgentService/ReportProbeResults", agent_pb2.ProbeReportBatch(reports=probes)),
        ("AgentService/ReportTelemetry", agent_pb2.TelemetryBatch(samples=samples)),
    ):
        code, details, rejected = fleet.call(method, request)
        assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (code, details)
        text = details + " ".join(rejected)
        assert not any(word in text for word in SQL_WORDS), text
    result = fleet.api.VerifyChain(
        fleet_pb2.VerifyChainRequest(verify_merkle_roots=True), metadata=AUTH, timeout=60
    )
    assert result.valid, result.failure_description
