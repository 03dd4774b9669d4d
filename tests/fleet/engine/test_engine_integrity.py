"""The engine changes nothing in memory unless its ledger entry commits with it: refused
input touches nothing, an operation that fails is undone alone (the rest of its batch
commits, the world is not reloaded), and after any sequence of valid and invalid
operations a restarted engine rebuilds exactly the state the running one had."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentinel_testing import gpu_uuid, register_host
from sqlalchemy import func, select

from sentinel.core.db import make_engine, migrate
from sentinel.core.ledger import EntryType
from sentinel.fleet.engine._tx import Batch
from sentinel.fleet.engine.engine import EngineValidationError, FleetEngine
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.store import TransitionRow
from sentinel.v1 import agent_pb2, fleet_pb2, types_pb2

_PASS, _FAIL = types_pb2.PROBE_RESULT_PASS, types_pb2.PROBE_RESULT_FAIL
_BEFORE_YEAR_1 = -62_135_596_800 - 86_400
_ids = itertools.count()


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db: Any) -> Iterator[FleetEngine]:
    eng = FleetEngine(db)
    eng.start()
    yield eng
    eng.stop()


def _probe(gpu: str, result: int = _PASS, seconds: int = 0, **fields: Any) -> Any:
    r = agent_pb2.ProbeReport(
        report_id=f"integrity-{next(_ids)}",
        gpu_uuid=gpu,
        probe_type=types_pb2.PROBE_TYPE_FMA,
        result=result,  # type: ignore[arg-type]
        **fields,
    )
    r.timestamp.seconds = seconds
    return r


def _snapshot(eng: FleetEngine) -> dict[str, Any]:
    """What the database must hold of the engine's memory."""
    with eng.state.lock:
        gpus = {
            u: (
                g.state,
                g.state_change_reason,
                g.probe_pass_count,
                g.probe_fail_count,
                g.anomaly_count,
                g.last_probe_us,
                g.last_anomaly_us,
                g.passes_since_deep_test,
                g.deep_test_types,
                g.deep_test_failed,
                g.hostname,
                g.model,
                g.agent_id,
                g.rel.alpha,
                g.rel.beta,
                g.rel.updated_at,
            )
            for u, g in eng.state.gpus.items()
        }
        agents = {
            a.agent_id: (a.hostname, a.agent_version, a.last_heartbeat_us, a.config_version)
            for a in eng.state.agents.values()
        }
        counts = {s: n for s, n in eng.state.state_count.items() if n}
        return {
            "gpus": gpus,
            "agents": agents,
            "pending": sorted(eng.pending),
            "counts": counts,
            "config": eng.config.config_version,
        }


def _check_consistent(eng: FleetEngine) -> None:
    """Aggregates agree with the GPUs, and the ledger with every lifecycle transition."""
    with eng.state.lock:
        gpus = list(eng.state.gpus.values())
        assert {s: n for s, n in eng.state.state_count.items() if n} == dict(
            Counter(g.state for g in gpus)
        )
        assert eng.state.sorted_uuids == sorted(eng.state.gpus)
    transitions = 0
    for g in gpus:
        state = None
        entries, _, _ = eng.ledger.query(
            gpu_uuid=g.uuid, entry_type=EntryType.QUARANTINE_ACTION, limit=1000, count=False
        )
        for e in entries:
            rec = types_pb2.QuarantineRecord.FromString(e.data)
            if rec.status in ("applied", "policy"):
                assert state is None or rec.from_state == state, (g.uuid, rec)
                state = rec.to_state
                transitions += 1
        assert (state or GpuState.HEALTHY) == g.state, g.uuid
    with eng.db.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(TransitionRow.__table__)).scalar()
    assert rows == transitions
    verdict = eng.ledger.verify()
    assert verdict.valid, verdict.failure_description


def _restart(eng: FleetEngine) -> FleetEngine:
    eng.stop()
    return FleetEngine(eng.db)


def test_fail_reports_dated_before_year_1_change_nothing(engine: FleetEngine) -> None:
    (gpu,) = register_host(engine, "year-one", 1, start=9000)
    reports = [_probe(gpu, _FAIL, _BEFORE_YEAR_1) for _ in range(26)]
    reports += [_probe(gpu, _FAIL, -(10**18)), _probe(gpu)]
    ack = engine.ingest_probe_results(reports)
    assert ack.accepted == 1
    assert len(ack.rejected) == 27
    assert all("outside 2000-01-01 .. now + 1 day" in r for r in ack.rejected)
    g = engine.state.gpus[gpu]
    assert (g.state, g.probe_pass_count, g.probe_fail_count) == (GpuState.HEALTHY, 1, 0)
    entries, _, _ = engine.ledger.query(gpu_uuid=gpu, entry_type=EntryType.PROBE_RESULT)
    assert len(entries) == 1
    before = _snapshot(engine)
    restarted = _restart(engine)
    assert _snapshot(restarted) == before
    _check_consistent(restarted)


def test_values_the_database_cannot_hold_are_refused_per_report(engine: FleetEngine) -> None:
    gpu, other = register_host(engine, "poison", 2, start=9100)
    samples = [agent_pb2.GpuTelemetry(gpu_uuid=gpu, temperature_c=60.0, power_w=300.0)]
    for name, value in [
        ("ecc_single_bit", 2**63),
        ("ecc_double_bit", 2**64 - 1),
        ("throttle_reasons", 2**63),
        ("sm_clock_mhz", 2**31),
        ("temperature_c", math.nan),
        ("power_w", math.inf),
    ]:
        s = agent_pb2.GpuTelemetry(gpu_uuid=other, temperature_c=60.0, power_w=300.0)
        setattr(s, name, value)
        samples.append(s)
    ack = engine.submit_telemetry(samples).result(timeout=10)
    assert ack.accepted == 1
    assert len(ack.rejected) == 6
    for reason, name in zip(
        ack.rejected,
        ["ecc_single_bit", "ecc_double_bit", "throttle_reasons", "sm_clock_mhz", "temperature_c"],
        strict=False,
    ):
        assert name in reason
    ack = engine.ingest_probe_results([_probe(gpu, detail="a\x00b"), _probe(gpu)])
    assert ack.accepted == 1 and "NUL" in ack.rejected[0]
    anomaly = agent_pb2.AnomalyReport(
        report_id="nan-score", gpu_uuid=gpu, anomaly_type=1, source=1, score=math.nan
    )
    ack = engine.submit_anomalies([anomaly]).result(timeout=10)
    assert ack.accepted == 0 and "score must be a finite number" in ack.rejected[0]
    req = agent_pb2.RegisterAgentRequest(hostname="nul-host", agent_version="1")
    reg = req.gpus.add(sm_count=8)
    reg.gpu.uuid, reg.gpu.model = gpu_uuid(9199), "H100\x00"
    with pytest.raises(EngineValidationError, match="model contains a NUL"):
        engine.register_agent(req)
    assert gpu_uuid(9199) not in engine.state.gpus


def _out_of_range_row(eng: FleetEngine, gpu: str) -> Any:
    """An operation that changes a GPU, then asks the database to store a value no signed
    64-bit column holds: what a validation gap would let through."""

    def op(b: Batch) -> None:
        g = eng.state.gpus[gpu]
        b.stage(g)
        g.probe_fail_count += 1000
        eng.state.move(g, GpuState.QUARANTINED)
        b.touch(g)
        b.telemetry.append(
            {
                "gpu_uuid": gpu,
                "ts_us": b.now_us,
                "temperature_c": 1.0,
                "power_w": 1.0,
                "sm_clock_mhz": 0,
                "mem_clock_mhz": 0,
                "throttle_reasons": 2**64 - 1,
                "ecc_single_bit": 0,
                "ecc_double_bit": 0,
                "retired_rows": 0,
                "remapped_rows": 0,
                "xid_events": "[]",
            }
        )

    return op


def _raising(eng: FleetEngine, gpu: str) -> Any:
    """An operation that changes a GPU and then fails with a bug."""

    def op(b: Batch) -> None:
        g = eng.state.gpus[gpu]
        b.stage(g)
        g.probe_pass_count += 1000
        g.rel.observe(0, 50, b.now, eng.policy)
        eng.state.move(g, GpuState.CONDEMNED)
        raise KeyError("a bug in an operation")

    return op


@pytest.mark.parametrize("bad", [_out_of_range_row, _raising])
def test_a_failing_operation_fails_alone_and_is_undone(engine: FleetEngine, bad: Any) -> None:
    uuids = register_host(engine, "isolate", 3, start=9200)
    before = _snapshot(engine)
    state = engine.state
    release: Future[None] = Future()
    blocker = engine.submit(lambda b: release.result(timeout=10))
    results = [_FAIL, _FAIL, _PASS, _PASS, _PASS]
    good = [engine.submit_probe_results([_probe(uuids[1], r)]) for r in results]
    failing = engine.submit(bad(engine, uuids[0]))
    good += [engine.submit_probe_results([_probe(uuids[2])]) for _ in range(5)]
    release.set_result(None)  # the eleven operations now form one batch behind the blocker
    blocker.result(timeout=10)
    for f in good:
        assert f.result(timeout=10).accepted == 1
    with pytest.raises(EngineValidationError) as refused:
        failing.result(timeout=10)
    message = str(refused.value)
    assert "could not store this operation" in message and "server log" in message
    for leak in ("INSERT", "SELECT", "fleet_telemetry", str(2**64 - 1)):
        assert leak not in message
    assert engine.state is state, "the world was reloaded"
    now = _snapshot(engine)
    assert now["gpus"][uuids[0]] == before["gpus"][uuids[0]]
    assert now["gpus"][uuids[1]][2:4] == (before["gpus"][uuids[1]][2] + 3, 2)
    assert engine.state.gpus[uuids[1]].fail_window.count(time.time()) == 2, "counted once"
    assert now["gpus"][uuids[2]][2] == before["gpus"][uuids[2]][2] + 5
    assert engine.metrics.refused_operations._value.get() == 1
    restarted = _restart(engine)
    assert _snapshot(restarted) == now
    _check_consistent(restarted)


# -- the property: any sequence, then a restart, rebuilds the same state -----------------

_TIMES = ["unset", "recent", "before year 1", "-1e18", "next week", "1970"]


def _seconds(kind: str, now: float) -> int:
    return {
        "unset": 0,
        "recent": int(now) - 30,
        "before year 1": _BEFORE_YEAR_1,
        "-1e18": -(10**18),
        "next week": int(now) + 7 * 86_400,
        "1970": 1,
    }[kind]


_gpu = st.integers(0, 3)
_op = st.one_of(
    st.tuples(st.just("probe"), _gpu, st.sampled_from([_PASS, _FAIL]), st.sampled_from(_TIMES)),
    st.tuples(st.just("nul detail"), _gpu),
    st.tuples(st.just("anomaly"), _gpu, st.sampled_from(_TIMES), st.sampled_from([3.0, math.nan])),
    st.tuples(st.just("telemetry"), _gpu, st.sampled_from([0, 7, 2**63, 2**64 - 1])),
    st.tuples(st.just("register"), st.booleans()),
    st.tuples(st.just("directive"), _gpu, st.sampled_from([1, 2, 3]), st.booleans()),
    st.tuples(st.just("approve"), st.booleans()),
    st.tuples(st.just("ack config"), st.sampled_from([1, 2**63])),
    st.tuples(st.just("refused by the database"), _gpu),
    st.tuples(st.just("raises"), _gpu),
)


def _submit(eng: FleetEngine, op: tuple[Any, ...], host: str, uuids: list[str]) -> Future[Any]:
    kind, now = op[0], eng.clock()
    if kind == "probe":
        return eng.submit_probe_results([_probe(uuids[op[1]], op[2], _seconds(op[3], now))])
    if kind == "nul detail":
        return eng.submit_probe_results([_probe(uuids[op[1]], _FAIL, detail="x\x00")])
    if kind == "anomaly":
        r = agent_pb2.AnomalyReport(
            report_id=f"integrity-{next(_ids)}",
            gpu_uuid=uuids[op[1]],
            anomaly_type=1,
            source=1,
            severity=3,
            score=op[3],
        )
        r.timestamp.seconds = _seconds(op[2], now)
        return eng.submit_anomalies([r])
    if kind == "telemetry":
        s = agent_pb2.GpuTelemetry(
            gpu_uuid=uuids[op[1]], temperature_c=70.0, power_w=350.0, ecc_double_bit=op[2]
        )
        return eng.submit_telemetry([s])
    if kind == "register":
        req = agent_pb2.RegisterAgentRequest(hostname=host, agent_version="2")
        for i, u in enumerate(uuids):
            reg = req.gpus.add(sm_count=16)
            reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = u, host, i
            reg.gpu.model = "H100\x00" if op[1] else "H100 SXM"
        return eng.submit_registration(req)
    if kind == "directive":
        req = fleet_pb2.IssueQuarantineRequest(
            gpu_uuid=uuids[op[1]], action=op[2], reason="property", requires_approval=op[3]
        )
        return eng.issue_directive(req)
    if kind == "approve":
        pending = sorted(eng.pending)
        if not pending:
            return eng.tick()
        return eng.review_directive(pending[0], op[1], "alice", "property")
    if kind == "ack config":
        agent_id = next(a for a, x in eng.state.agents.items() if x.hostname == host)
        return eng.ack_config(types_pb2.ConfigAck(applied=True, config_version=op[1]), agent_id)
    if kind == "refused by the database":
        return eng.submit(_out_of_range_row(eng, uuids[op[1]]))
    return eng.submit(_raising(eng, uuids[op[1]]))


_hosts = itertools.count()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(_op, min_size=1, max_size=20))
def test_any_sequence_then_a_restart_rebuilds_the_same_state(
    db: Any, ops: list[tuple[Any, ...]]
) -> None:
    n = next(_hosts)
    host = f"property-{n}"
    eng = FleetEngine(db)
    eng.start()
    try:
        uuids = register_host(eng, host, 4, start=10_000 + 10 * n)
        futures = [_submit(eng, op, host, uuids) for op in ops]  # queued together: batches
        for f in futures:
            try:
                f.result(timeout=30)
            except (EngineValidationError, LookupError):
                pass
        _check_consistent(eng)
        before = _snapshot(eng)
    finally:
        eng.stop()
    restarted = FleetEngine(db)
    assert _snapshot(restarted) == before
    _check_consistent(restarted)
