"""The fleet engine: one writer thread applies every change; queries read memory.

Agents' reports, directives and config changes are queued as operations. The writer
drains the queue in batches, applies each operation to the in-memory state, and writes
the batch's rows and audit entries in one transaction. Readers never touch SQL except
for history, which is kept only in the database.

The writer survives any failure. While the database is away it commits the same batch
again (its changes are already in memory) and new operations are refused with
``EngineUnavailable``; when the database refuses an operation's data, or an operation
raises, the batch is undone in memory and its operations rerun one by one, so only the
offending one fails and memory never holds a change whose ledger entry did not commit.
"""

from __future__ import annotations

import logging
import queue
import random
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from sentinel.core.failures import describe_failure, is_transient
from sentinel.core.ledger import Ledger
from sentinel.core.meta import get_or_create_secret
from sentinel.core.pagination import PageTokenCodec
from sentinel.fleet._schedule import default_config
from sentinel.fleet.engine import _apply, _common, _config, _dedup, _directives, _reports, _tmr
from sentinel.fleet.engine._tx import Batch
from sentinel.fleet.engine.correlation import Correlator, GpuInfo
from sentinel.fleet.engine.metrics import EngineMetrics
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.engine.rates import WindowCounter
from sentinel.fleet.engine.reliability import BetaReliability
from sentinel.fleet.engine.state import Agent, FleetState, Gpu, sm_array
from sentinel.fleet.engine.store import (
    AgentRow,
    ConfigRow,
    DirectiveRow,
    GpuRow,
    TmrCanaryRow,
    TrustEdgeRow,
)
from sentinel.fleet.engine.trust import TrustGraph
from sentinel.v1 import agent_pb2, types_pb2

log = logging.getLogger("sentinel.fleet.engine")

T = TypeVar("T")

_MAX_BATCH_REPORTS = 4096
_MAX_BATCH_OPS = 512
_RETRY_FIRST_SECONDS = 0.05
_RETRY_MAX_SECONDS = 2.0
_OUTAGE_LOG_SECONDS = 30.0
_STOP_EVENT_SECONDS = 2.0
_STOP_JOIN_SECONDS = 5.0


class EngineUnavailable(RuntimeError):
    """The engine could not persist a batch; the caller may retry."""


class EngineValidationError(ValueError):
    """An operation was refused because its input is invalid; nothing was changed."""


class EngineNotFound(LookupError):
    """An operation named a GPU, directive or agent the engine does not know."""


class _Stopped(Exception):
    """The engine stopped while it waited for the database."""


@dataclass
class _Outage:
    """The database has been away since ``since`` (monotonic seconds)."""

    since: float
    reason: str
    attempts: int
    logged: float


def _stopped_error() -> EngineUnavailable:
    return EngineUnavailable(
        "the engine stopped before the database came back; nothing of this operation "
        "was stored: retry against the restarted server"
    )


def _refused_error(failure: BaseException) -> EngineValidationError:
    """What a caller learns when its operation alone failed: the kind of failure, never the
    SQL or its parameters (those go to the server log)."""
    if isinstance(failure, SQLAlchemyError):
        what = f"the database refused its data ({describe_failure(failure).split(':')[0]})"
    else:
        what = f"{type(failure).__name__}: {str(failure)[:200]}"
    return EngineValidationError(
        f"could not store this operation: {what}; nothing of it was applied "
        "(the server log has details)"
    )


def _settle(future: Future[Any], result: Any, error: BaseException | None) -> None:
    """Deliver an operation's outcome; a caller that gave up (a gRPC deadline cancels the
    wrapped future) just does not get it, and the writer thread carries on."""
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


@dataclass
class _Op:
    fn: Callable[[Batch], Any]
    future: Future[Any]
    reports: int
    enqueued: float
    report_ids: Sequence[str] = ()


class FleetEngine:
    """The SDC correlation engine of one server process.

    Args:
        db: SQLAlchemy engine whose database has been migrated.
        policy: Thresholds, priors and windows (see ``EnginePolicy``).
        batch_size: Entries per Merkle batch of the audit ledger.
        clock: Time source in epoch seconds (tests pass a fake one).
    """

    def __init__(
        self,
        db: Engine,
        policy: EnginePolicy | None = None,
        *,
        batch_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.policy = policy or EnginePolicy()
        self.clock = clock
        self.component_id = f"sentinel-engine@{socket.gethostname()}"
        self.ledger = Ledger(db, batch_size=batch_size)
        self.page_tokens = PageTokenCodec(get_or_create_secret(db, "page_token_secret"))
        self.state = FleetState(self.policy.rate_window_seconds)
        self.trust = TrustGraph()
        self.correlator = Correlator(self.policy, self._gpu_info, self._version_counts)
        self.metrics = EngineMetrics(self)
        self.config = default_config()
        # Insertion-ordered so the oldest id is evicted in O(1) (a dict's front deletes
        # leave holes that make next(iter(d)) ever slower).
        self.seen_reports: OrderedDict[str, None] = OrderedDict()
        self.canaries: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, types_pb2.QuarantineDirective] = {}
        self.rng = random.Random()
        self.last_canary = 0.0
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._listeners: list[Callable[[str, Any], None]] = []
        self._thread: threading.Thread | None = None
        self._depth = 0
        self._stopping = threading.Event()
        self._outage: _Outage | None = None
        self._load()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread and record a startup system event."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sentinel-engine", daemon=True)
        self._thread.start()
        if self.ledger.fault is None:  # a ledger that failed verification must not grow
            self.submit(
                lambda b: _common.system_event(self, b, "startup", "engine started")
            ).result()

    def stop(self) -> None:
        """Record a shutdown event, drain the queue and stop the writer, in bounded time.

        While the database is away the shutdown event is skipped, the batch being retried
        and every queued operation fail with ``EngineUnavailable``, and the writer is
        given up on after a few seconds if a database call still blocks it.
        """
        thread = self._thread
        if thread is None:
            return
        if self._outage is None:
            try:
                self.submit(
                    lambda b: _common.system_event(self, b, "shutdown", "engine stopped")
                ).result(timeout=_STOP_EVENT_SECONDS)
            except (EngineUnavailable, EngineValidationError, TimeoutError) as exc:
                log.warning("could not record the shutdown event: %s", exc or "timed out")
        self._stopping.set()
        self._queue.put(None)
        thread.join(_STOP_JOIN_SECONDS)
        self._thread = None
        if thread.is_alive():
            log.error("the engine's writer is blocked in a database call; stopping without it")
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not None:
                self._fail([op], _stopped_error())

    def add_listener(self, fn: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``fn(kind, payload)`` after each commit ("directive", "config", "tmr",
        "state": a ``GpuStateChange`` into or out of SUSPECT).

        Returns a function that removes the listener. Listeners run on the writer thread
        and must not block.
        """
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def emit(self, kind: str, payload: Any) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, payload)
            except Exception:  # a broken listener must not stop the engine
                log.exception("engine listener failed")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def unavailable(self) -> str:
        """Why the engine refuses new operations ("" while the database answers)."""
        outage = self._outage
        if outage is None:
            return ""
        return (
            f"database unavailable for {time.monotonic() - outage.since:.0f} s "
            f"({outage.reason}); the engine is retrying its last batch"
        )

    @property
    def queue_depth(self) -> int:
        return self._depth

    # -- the writer ------------------------------------------------------------------

    def submit(
        self, fn: Callable[[Batch], T], reports: int = 0, report_ids: Sequence[str] = ()
    ) -> Future[T]:
        """Queue an operation for the writer; the future resolves after its commit.

        ``report_ids`` are the ids of the reports it applies, looked up once per batch for
        duplicate detection.
        """
        if self._thread is None:
            raise EngineUnavailable("engine is not running")
        if self.ledger.fault is not None:
            raise EngineUnavailable(self.ledger.fault_message())
        outage = self._outage
        if outage is not None:  # the driver's message names hosts: it goes to /healthz only
            raise EngineUnavailable(
                f"database unavailable for {time.monotonic() - outage.since:.0f} s "
                f"({outage.reason.split(':')[0]}); the engine is retrying: retry shortly"
            )
        fut: Future[T] = Future()
        self._depth += 1
        self._queue.put(_Op(fn, fut, reports, time.perf_counter(), report_ids))
        return fut

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            ops = [first]
            reports = first.reports
            stop = False
            while reports < _MAX_BATCH_REPORTS and len(ops) < _MAX_BATCH_OPS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                ops.append(nxt)
                reports += nxt.reports
            try:
                self._process(ops)
            except Exception:  # the writer outlives anything: its death stops all writes
                log.exception("engine batch failed unexpectedly; its operations fail")
                self._fail(
                    (op for op in ops if not op.future.done()),
                    EngineUnavailable(
                        "the engine failed on this batch (the server log has details)"
                    ),
                )
            if stop:
                return

    def _process(self, ops: list[_Op]) -> None:
        """Apply ``ops`` in memory and commit them in one transaction.

        A database that is away keeps the batch: it is committed again until it succeeds
        or the engine stops. An operation that raises, or a batch the database refuses,
        undoes what the batch changed in memory and runs its operations one by one, so
        only the offending one fails.
        """
        batch = Batch(now=self.clock())
        saved = self._saved()
        try:
            self._retrying(lambda: self._prefetch(batch, ops))
            with self.state.lock:
                results = [self._apply(op, batch) for op in ops]
            self._retrying(lambda: self._write(batch))
        except _Stopped:
            self._fail(ops, _stopped_error())
            return
        except Exception as failure:
            log.error(
                "engine batch of %d operations failed; undoing it and running its operations "
                "one by one",
                len(ops),
                exc_info=failure,
            )
            self._undo(batch, saved)
            self._isolate(ops, batch.now)
            return
        self._finish(batch, results)

    def _isolate(self, ops: list[_Op], now: float) -> None:
        """Run each of ``ops`` in a batch of its own; one that fails changes nothing."""
        for op in ops:
            batch = Batch(now=now)
            saved = self._saved()
            try:
                self._retrying(lambda: self._prefetch(batch, [op]))  # noqa: B023
                with self.state.lock:
                    result = self._apply(op, batch)
                self._retrying(lambda: self._write(batch))  # noqa: B023
            except _Stopped:
                self._fail([op], _stopped_error())
                continue
            except Exception as failure:
                log.error("engine operation failed; nothing of it was applied", exc_info=failure)
                self.metrics.refused_operations.inc()
                self._undo(batch, saved)
                self._fail([op], _refused_error(failure))
                continue
            self._finish(batch, [result])

    def _apply(self, op: _Op, batch: Batch) -> tuple[_Op, Any, BaseException | None]:
        """Run one operation; a refusal (validation, unknown object) changed nothing."""
        try:
            return op, op.fn(batch), None
        except (EngineValidationError, EngineNotFound) as exc:
            return op, None, exc

    def _prefetch(self, batch: Batch, ops: Sequence[_Op]) -> None:
        # An id with a NUL is refused by its operation; PostgreSQL could not even look it up.
        ids = [i for op in ops for i in op.report_ids if "\x00" not in i]
        if not ids:
            return
        with self.db.connect() as conn:
            _dedup.prefetch(self, batch, conn, ids)

    def _write(self, batch: Batch) -> None:
        with self.ledger.transaction() as (conn, append):
            if batch.ledger:
                append(batch.ledger)
            batch.flush(conn)
        if self._outage is not None:  # a commit, not a mere read, ends an outage
            self._end_outage()

    def _retrying(self, fn: Callable[[], T]) -> T:
        """``fn()``, again and again while the database is away (backing off up to 2 s).

        Raises:
            _Stopped: the engine stopped before the database came back.
            Exception: what ``fn`` raised when it is not a transient database failure.
        """
        delay = _RETRY_FIRST_SECONDS
        while True:
            try:
                result = fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_outage(exc)
                if self._stopping.wait(delay):
                    raise _Stopped from exc
                delay = min(delay * 2, _RETRY_MAX_SECONDS)
                continue
            return result

    def _note_outage(self, exc: BaseException) -> None:
        outage, now = self._outage, time.monotonic()
        reason = describe_failure(exc)
        if outage is None:
            log.warning("database unavailable (%s); retrying the batch until it commits", reason)
            self._outage = _Outage(now, reason, 1, now)
            return
        outage.reason, outage.attempts = reason, outage.attempts + 1
        if now - outage.logged >= _OUTAGE_LOG_SECONDS:
            outage.logged = now
            log.warning(
                "database still unavailable after %.0f s and %d attempts (%s)",
                now - outage.since,
                outage.attempts,
                reason,
            )

    def _end_outage(self) -> None:
        outage = self._outage
        assert outage is not None
        self._outage = None
        seconds = time.monotonic() - outage.since
        self.metrics.outage_seconds.inc(seconds)
        log.warning(
            "database is back after %.1f s; committed after %d failed attempts",
            seconds,
            outage.attempts,
        )

    def _saved(self) -> tuple[agent_pb2.AgentConfig, EnginePolicy, float]:
        """What a batch may replace on the engine itself, to put back if it fails."""
        return self.config, self.policy, self.last_canary

    def _undo(self, batch: Batch, saved: tuple[agent_pb2.AgentConfig, EnginePolicy, float]) -> None:
        """Put memory back as it was before ``batch``: the GPUs and agents it staged from
        their copies, the engine's config and policy, and the small tables (pending
        directives, open canaries, trust graph) from the database."""
        with self.state.lock:
            restored = batch.undo(self.state)
            self.config, self.policy, self.last_canary = saved
            self.correlator.policy = self.policy
        try:
            self._retrying(self._reload_tables)
            self._retrying(lambda: self._reload_sm(restored))
        except _Stopped:
            return

    def _reload_sm(self, gpus: Sequence[Gpu]) -> None:
        """Per-SM arrays of ``gpus`` from their database checkpoint (see ``Batch.undo``)."""
        for lo in range(0, len(gpus), 1000):
            chunk = {g.uuid: g for g in gpus[lo : lo + 1000]}
            with self.db.connect() as conn:
                rows = conn.execute(
                    select(GpuRow.uuid, GpuRow.sm_blob).where(GpuRow.uuid.in_(chunk))
                ).all()
            with self.state.lock:
                for uuid, blob in rows:
                    g = chunk[uuid]
                    g.sm = sm_array(blob, g.sm_count, self.policy)
                    g.sm_dirty, g.sm_persisted_us = False, int(self.clock() * 1e6)

    def _reload_tables(self) -> None:
        with self.db.connect() as conn, self.state.lock:
            self._load_tables(conn, self.state)

    def _finish(self, batch: Batch, results: list[tuple[_Op, Any, BaseException | None]]) -> None:
        batch.committed()
        done = time.perf_counter()
        for op, result, error in results:
            self._depth -= 1
            if op.reports:
                self.metrics.observe_ingest(op.reports, done - op.enqueued)
            _settle(op.future, result, error)
        for fn in batch.after_commit:
            fn()

    def _fail(self, ops: Iterable[_Op], error: BaseException) -> None:
        for op in ops:
            self._depth -= 1
            _settle(op.future, None, error)

    # -- loading -------------------------------------------------------------------

    def _load(self) -> None:
        """Build the in-memory state from the database (at start-up)."""
        p = self.policy
        state = FleetState(p.rate_window_seconds)
        with self.db.connect() as conn:
            for r in conn.execute(select(GpuRow.__table__)).mappings():
                gpu = Gpu(
                    uuid=r["uuid"],
                    hostname=r["hostname"],
                    device_index=r["device_index"],
                    model=r["model"],
                    driver_version=r["driver_version"],
                    firmware_version=r["firmware_version"],
                    sm_count=r["sm_count"],
                    state=r["state"],
                    state_changed_us=r["state_changed_us"],
                    state_change_reason=r["state_change_reason"],
                    rel=BetaReliability(r["alpha"], r["beta"], r["reliability_updated"]),
                    sm=sm_array(r["sm_blob"], r["sm_count"], p),
                    fail_window=WindowCounter(p.rate_window_seconds),
                    anomaly_window=WindowCounter(p.rate_window_seconds),
                    probe_pass_count=r["probe_pass_count"],
                    probe_fail_count=r["probe_fail_count"],
                    anomaly_count=r["anomaly_count"],
                    last_probe_us=r["last_probe_us"],
                    last_anomaly_us=r["last_anomaly_us"],
                    passes_since_deep_test=r["passes_since_deep_test"],
                    deep_test_types=r["deep_test_types"],
                    deep_test_failed=r["deep_test_failed"],
                    agent_id=r["agent_id"],
                    registered_us=r["registered_us"],
                    persisted=True,
                )
                gpu.sm_disabled = _apply.load_disabled(r["sm_disabled"])
                gpu.sm_persisted_us = int(self.clock() * 1e6)
                state.add(gpu)
            for r in conn.execute(select(AgentRow.__table__)).mappings():
                state.agents[r["agent_id"]] = Agent(
                    agent_id=r["agent_id"],
                    hostname=r["hostname"],
                    agent_version=r["agent_version"],
                    registered_us=r["registered_us"],
                    last_heartbeat_us=r["last_heartbeat_us"],
                    config_version=r["config_version"],
                    config_error=r["config_error"],
                    persisted=True,
                )
            cfg = conn.execute(
                select(ConfigRow.config).order_by(ConfigRow.version.desc()).limit(1)
            ).scalar()
            self._load_tables(conn, state)
        if cfg is not None:
            self.config = agent_pb2.AgentConfig.FromString(cfg)
            self._restore_engine_thresholds()
        self.state = state

    def _load_tables(self, conn: Connection, state: FleetState) -> None:
        """Load the small tables: pending directives, open TMR canaries, the trust graph."""
        pending = conn.execute(
            select(DirectiveRow.__table__).where(DirectiveRow.status == "pending")
        ).mappings()
        self.pending = {
            r["directive_id"]: _directives.directive_from_row(r, state.gpus.get(r["gpu_uuid"]))
            for r in pending
        }
        canaries = conn.execute(
            select(TmrCanaryRow.__table__).where(TmrCanaryRow.status == "open")
        ).mappings()
        self.canaries = {r["canary_id"]: _tmr.canary_from_row(r) for r in canaries}
        edges = conn.execute(select(TrustEdgeRow.__table__)).mappings().all()
        trust = TrustGraph()
        trust.load(_tmr.edge_from_row(r["gpu_a"], r["gpu_b"], r) for r in edges)
        self.trust = trust

    def _restore_engine_thresholds(self) -> None:
        """Re-apply thresholds set at run time (``component="engine"``) after a restart."""
        overrides = {
            key.removeprefix("engine."): value
            for key, value in self.config.thresholds.items()
            if key.startswith("engine.")
        }
        if not overrides:
            return
        try:
            self.policy = self.policy.with_overrides(overrides)
        except ValueError:
            log.exception("stored engine thresholds no longer apply; keeping %s", self.policy)
            return
        self.correlator.policy = self.policy

    def _gpu_info(self, uuid: str) -> GpuInfo | None:
        g = self.state.gpus.get(uuid)
        if g is None:
            return None
        return GpuInfo(g.uuid, g.hostname, g.model, g.driver_version, g.firmware_version)

    def _version_counts(self) -> dict[tuple[str, str], int]:
        return dict(self.state.version_count)

    # -- operations (all go through the writer) -------------------------------------

    def register_agent(
        self, req: agent_pb2.RegisterAgentRequest
    ) -> agent_pb2.RegisterAgentResponse:
        """Register a host and its GPUs; returns the agent id and the current config."""
        return self.submit_registration(req).result()

    def submit_registration(
        self, req: agent_pb2.RegisterAgentRequest
    ) -> Future[agent_pb2.RegisterAgentResponse]:
        return self.submit(lambda b: _apply.register_agent(self, b, req))

    def register_gpus(
        self, hostname: str, gpus: Sequence[tuple[str, int, str, str, str, int]]
    ) -> str:
        """Register ``(uuid, device_index, model, driver, firmware, sm_count)`` GPUs of a host.

        What an agent's RegisterAgent does, for embedding and tests; returns the agent id.
        """
        req = agent_pb2.RegisterAgentRequest(hostname=hostname, agent_version="embedded")
        for uuid, index, model, driver, firmware, sms in gpus:
            reg = req.gpus.add(sm_count=sms)
            reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = uuid, hostname, index
            reg.gpu.model, reg.gpu.driver_version, reg.gpu.firmware_version = (
                model,
                driver,
                firmware,
            )
        return self.register_agent(req).agent_id

    def ingest_probe_results(self, reports: Sequence[agent_pb2.ProbeReport]) -> agent_pb2.ReportAck:
        """Apply probe reports (blocking until committed)."""
        return self.submit_probe_results(reports).result()

    def submit_probe_results(
        self, reports: Sequence[agent_pb2.ProbeReport]
    ) -> Future[agent_pb2.ReportAck]:
        return self.submit(
            lambda b: _reports.probe_results(self, b, reports),
            len(reports),
            [r.report_id for r in reports],
        )

    def submit_anomalies(
        self, reports: Sequence[agent_pb2.AnomalyReport]
    ) -> Future[agent_pb2.ReportAck]:
        return self.submit(
            lambda b: _reports.anomalies(self, b, reports),
            len(reports),
            [r.report_id for r in reports],
        )

    def submit_tmr_results(
        self, reports: Sequence[agent_pb2.TmrReport]
    ) -> Future[agent_pb2.ReportAck]:
        return self.submit(
            lambda b: _tmr.tmr_results(self, b, reports),
            len(reports),
            [r.report_id for r in reports],
        )

    def submit_telemetry(
        self, samples: Sequence[agent_pb2.GpuTelemetry]
    ) -> Future[agent_pb2.ReportAck]:
        return self.submit(lambda b: _reports.telemetry(self, b, samples), len(samples))

    def issue_directive(
        self, req: Any, *, identity: str = ""
    ) -> Future[types_pb2.DirectiveResponse]:
        """Issue a quarantine directive (an ``IssueQuarantineRequest``)."""
        return self.submit(lambda b: _directives.issue_directive(self, b, req, identity))

    def review_directive(
        self, directive_id: str, approve: bool, reviewer: str, comment: str
    ) -> Future[types_pb2.DirectiveResponse]:
        return self.submit(
            lambda b: _directives.review_directive(
                self, b, directive_id, approve, reviewer, comment
            )
        )

    def update_config(self, update: types_pb2.ConfigUpdate) -> Future[types_pb2.ConfigAck]:
        return self.submit(lambda b: _config.update_config(self, b, update))

    def ack_config(
        self, ack: types_pb2.ConfigAck, agent_id: str
    ) -> Future[agent_pb2.AckConfigResponse]:
        return self.submit(lambda b: _config.ack_config(self, b, ack, agent_id))

    def create_tmr_canary(self, participants: Sequence[str] | None = None) -> Future[str | None]:
        """Start a TMR canary on ``participants`` (or a triple the trust graph picks)."""
        return self.submit(lambda b: _tmr.create_canary(self, b, participants))

    def tick(self) -> Future[None]:
        """Run the time-driven policy once (the server calls this every few seconds)."""
        return self.submit(lambda b: _apply.tick(self, b))

    def heartbeat(self, agent_id: str) -> int:
        """Record a heartbeat; returns the current config version. Memory only, cheap."""
        with self.state.lock:
            agent = self.state.agents.get(agent_id)
            if agent is None:
                raise EngineNotFound(f"agent {agent_id!r} is not registered; register first")
            agent.last_heartbeat_us = int(self.clock() * 1e6)
        return int(self.config.config_version)

    def active_agents(self) -> int:
        cutoff = (self.clock() - self.policy.active_agent_timeout_seconds) * 1e6
        return sum(1 for a in self.state.agents.values() if a.last_heartbeat_us >= cutoff)

    def gpus_of(self, hostname: str) -> Iterable[Gpu]:
        return [self.state.gpus[u] for u in sorted(self.state.by_host.get(hostname, ()))]
