"""``Agent``: the daemon on a GPU host that probes its GPUs and follows the engine.

Three threads share the work, so none can hold up another:

* the runner runs probes (the schedule, deep tests, TMR canaries), each with a time
  guard, and appends every result to the on-disk buffer;
* the link registers, heartbeats, sends telemetry and delivers the buffer, deleting a
  report only once the engine acknowledged it; on failure it reconnects with
  exponential backoff and full jitter;
* the command reader follows the ``Subscribe`` stream: config updates (applied and
  acknowledged at once, or refused with a NACK), directives for this host's GPUs, TMR
  assignments, and state changes (a SUSPECT GPU is probed more until it is cleared).

A report's id is made when the probe finishes and travels with it through the buffer,
so a report sent twice (an ack lost with the engine) is dropped by the engine.
"""

from __future__ import annotations

import collections
import functools
import logging
import queue
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from sentinel.core.ids import uuid7
from sentinel.fleet._base import BaseClient
from sentinel.fleet._bearer import with_token
from sentinel.fleet._schedule import default_config
from sentinel.fleet.agent._config import (
    AgentSettings,
    ConfigError,
    config_ack,
    load_config,
    parse_config,
    save_config,
)
from sentinel.fleet.agent._guard import guarded
from sentinel.fleet.agent.buffer import KIND_PROBE, KIND_TMR, DiskBuffer, Record
from sentinel.fleet.agent.hooks import ActionHook, GpuStateRecord, StateFiles
from sentinel.fleet.agent.scheduler import OverheadBudget, Scheduler
from sentinel.fleet.config import ClientConfig, RetryConfig, TlsConfig
from sentinel.v1 import agent_pb2, agent_pb2_grpc, types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.probes import DeviceInfo, ProbeBackend

__all__ = ["Agent", "AgentStats", "TelemetrySource"]

log = logging.getLogger("sentinel.fleet.agent")

AGENT_VERSION = "sentinel-agent/0.1.0"

_BATCH = 500
_RPC_TIMEOUT_S = 10.0
_GUARD_GRACE_S = 0.5
_TMR_LIMIT_S = 120.0
_DEEP_DEFAULT_TIMEOUT_MS = 30_000
_BUDGET_WINDOW_S = 600.0
_SIGNAL_POLL_S = 0.25
_BACKOFF = RetryConfig(initial_backoff_s=0.5, max_backoff_s=30.0)
_ALL_TYPES = tuple(range(1, 8))

# The state each directive leaves a GPU in, as the state file names it.
_ACTIONS: dict[int, tuple[str, str]] = {
    types_pb2.QUARANTINE_ACTION_QUARANTINE: ("quarantine", "QUARANTINED"),
    types_pb2.QUARANTINE_ACTION_REINSTATE: ("reinstate", "HEALTHY"),
    types_pb2.QUARANTINE_ACTION_CONDEMN: ("condemn", "CONDEMNED"),
    types_pb2.QUARANTINE_ACTION_SCHEDULE_DEEP_TEST: ("schedule_deep_test", "DEEP_TEST"),
}


class TelemetrySource(Protocol):
    """Environmental samples of the host's GPUs (``NvmlTelemetry`` on real hardware)."""

    def sample(self) -> list[agent_pb2.GpuTelemetry]: ...

    def close(self) -> None: ...


@dataclass
class AgentStats:
    """Counters of what the agent did since it started; read them, do not write them."""

    results: collections.Counter[str] = field(default_factory=collections.Counter)
    """Probe reports made, by ``ProbeResult`` name (``PASS``, ``FAIL``, ``ERROR``, ``TIMEOUT``)."""
    deep_reports: int = 0
    """Of those, reports of deep tests."""
    tmr_reports: int = 0
    """TMR digests made."""
    delivered: int = 0
    """Reports the engine acknowledged (accepted, duplicate or rejected)."""
    duplicates: int = 0
    """Reports the engine had already seen (sent again after a lost ack)."""
    heartbeats: int = 0
    telemetry_sent: int = 0
    config_nacks: int = 0
    directives_applied: int = 0


@dataclass
class _Deep:
    """A deep test in progress on one device: rounds run until the engine decides."""

    last_round: list[str] = field(default_factory=list)
    failed: bool = False


class Agent:
    """The probe agent of one host.

    Args:
        engine: ``host:port`` of the engine's gRPC gateway.
        backend: Probe backend for this host's devices (``open_backend("gpu")`` on real
            hardware, a ``CpuBackend`` for CI and demos).
        tls_config: TLS or mTLS credentials; ``None`` connects without TLS.
        token: This host's agent token (``sentinel tokens create --scope agent --host H``),
            sent with every call; ``None`` relies on an mTLS certificate naming the host.
        hostname: Name this host registers as; default the machine's hostname.
        data_dir: Where the report buffer, the per-GPU state files and the last config
            received (``config.pb``) live.
        action_hook: Command run for each applied directive (see ``hooks``).
        buffer_max_bytes: Upper bound of the on-disk buffer; the oldest reports go first.
        telemetry: Source of environmental samples; ``None`` sends none (the CPU backend
            has no temperature or power worth reporting, and invented values would feed
            the engine's ENVIRONMENTAL and FIRMWARE_CORRELATED patterns false inputs).
        schedule_scale: Factor on every probe period and on the budget window; below 1
            speeds the whole schedule up for tests and demos.
    """

    def __init__(
        self,
        engine: str,
        backend: ProbeBackend,
        *,
        tls_config: TlsConfig | None = None,
        token: str | None = None,
        hostname: str | None = None,
        data_dir: Path = Path("./agent-data"),
        action_hook: str | None = None,
        buffer_max_bytes: int = 64 << 20,
        telemetry: TelemetrySource | None = None,
        schedule_scale: float = 1.0,
    ) -> None:
        if schedule_scale <= 0:
            raise ValueError(f"schedule_scale must be > 0, got {schedule_scale}")
        self.engine = engine
        self.backend = backend
        self.hostname = hostname or socket.gethostname()
        self.data_dir = Path(data_dir)
        self.devices: list[DeviceInfo] = list(backend.devices())
        if not self.devices:
            raise ValueError("the probe backend has no devices; there is nothing to probe")
        self.stats = AgentStats()
        self.buffer = DiskBuffer(self.data_dir / "buffer", buffer_max_bytes)
        self.state_files = StateFiles(self.data_dir / "state")
        self.settings: AgentSettings | None = None
        """The config being run: the engine's, or until it answers the one kept on disk
        (the built-in default schedule when none was ever received)."""
        self._config_path = self.data_dir / "config.pb"
        self._config: agent_pb2.AgentConfig | None = None
        self.agent_id: str | None = None
        self._telemetry = telemetry
        self._scale = schedule_scale
        self._hook = ActionHook(action_hook) if action_hook else None
        self._by_uuid = {d.uuid: d for d in self.devices}
        self._states = {d.uuid: self._restored_state(d) for d in self.devices}
        self._deep: dict[int, _Deep] = {
            d.index: _Deep() for d in self.devices if self._states[d.uuid] == "DEEP_TEST"
        }
        self._hung: dict[int, threading.Thread] = {}
        self._handled: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._scheduler = Scheduler(
            [d.index for d in self.devices],
            (),
            OverheadBudget(_BUDGET_WINDOW_S * schedule_scale, 0),
        )
        self._stop = threading.Event()
        self._closed = False
        self._registered = threading.Event()
        self._reconnected = threading.Event()
        self._runner_wake = threading.Event()
        self._link_wake = threading.Event()
        self._heartbeat_s = 15.0
        self._rng = random.Random()
        options = (
            ("grpc.max_reconnect_backoff_ms", 5000),
            ("grpc.initial_reconnect_backoff_ms", 200),
        )
        config = ClientConfig(engine, tls_config=tls_config, options=options)
        self._channel = with_token(BaseClient(config).channel(), token)
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        self._refresh_active()
        self._start_config()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start probing and talking to the engine; returns at once."""
        if self._threads:
            return
        for name, target in (
            ("runner", self._run_probes),
            ("link", self._run_link),
            ("commands", self._run_commands),
        ):
            t = threading.Thread(target=target, name=f"sentinel-agent-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info(
            "agent for %s started: %d device(s), engine %s, data in %s",
            self.hostname,
            len(self.devices),
            self.engine,
            self.data_dir,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads and close the buffer and the channel.

        Reports the engine did not acknowledge stay in the buffer for the next start.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._stop.set()
        for event in (self._runner_wake, self._link_wake, self._reconnected, self._registered):
            event.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        busy = [t.name for t in self._threads if t.is_alive()]
        self._threads.clear()
        if self._hook is not None:
            self._hook.close(max(0.0, deadline - time.monotonic()))
        if busy:  # closing under a running thread would lose its report; exit does it
            log.warning("agent threads %s did not stop within %.1fs", busy, timeout)
            return
        if self._telemetry is not None:
            self._telemetry.close()
        self.buffer.close()
        self._channel.close()
        log.info(
            "agent for %s stopped; %d report(s) left in the buffer", self.hostname, len(self.buffer)
        )

    def run_forever(self) -> None:
        """Start, then block until SIGINT or SIGTERM (from the main thread) or ``stop``."""
        signals = (signal.SIGINT, signal.SIGTERM)
        got: list[int] = []
        main = threading.current_thread() is threading.main_thread()
        # The handler only records the signal: it may run while the main thread holds a
        # lock (an Event's, logging's), so it must take none and raise nothing.
        previous = (
            {sig: signal.signal(sig, lambda n, _: got.append(n)) for sig in signals} if main else {}
        )
        try:
            self.start()
            while not got and not self._stop.wait(_SIGNAL_POLL_S):
                pass
        finally:
            for sig in previous:  # a second signal must not cut the orderly stop short
                signal.signal(sig, signal.SIG_IGN)
            if got:
                log.info("%s: stopping", signal.Signals(got[0]).name)
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- config --------------------------------------------------------------------------

    def _start_config(self) -> None:
        """Probe by the config kept on disk, else by the default schedule, from the start."""
        saved = load_config(self._config_path)
        for msg, source in ((saved, str(self._config_path)), (default_config(), "built-in")):
            if msg is None:
                continue
            try:
                settings = parse_config(msg, self._scale)
            except ConfigError as exc:
                log.warning("the %s config is unusable (%s)", source, exc)
                continue
            self._use(msg, settings)
            log.info(
                "probing by the %s config version %d until the engine sends its own",
                source,
                settings.version,
            )
            return

    def _use(self, msg: agent_pb2.AgentConfig, settings: AgentSettings) -> None:
        with self._lock:
            self._scheduler.configure(settings.schedule, settings.budget_pct)
            self.settings = settings
            self._config = msg
        self._runner_wake.set()

    def apply_config(self, config: agent_pb2.AgentConfig) -> types_pb2.ConfigAck:
        """Apply ``config`` whole, or refuse it and keep the current one; ack it either way.

        Returns:
            The ``ConfigAck`` sent to the engine (``applied=False`` with the error for a NACK).
        """
        try:
            settings = parse_config(config, self._scale)
        except ConfigError as exc:
            kept = self.settings.version if self.settings else 0
            ack = config_ack(config, self.hostname, str(exc), kept)
            self.stats.config_nacks += 1
            log.error(
                "refused config version %d: %s; keeping version %d",
                config.config_version,
                exc,
                kept,
            )
        else:
            self._use(config, settings)
            try:
                save_config(self._config_path, config)
            except OSError as exc:
                log.warning("could not keep config version %d on disk: %s", settings.version, exc)
            ack = config_ack(config, self.hostname)
            log.info(
                "applied config version %d: %d probe type(s), budget %g%%",
                settings.version,
                len(settings.schedule),
                settings.budget_pct,
            )
        self._ack(ack)
        return ack

    def _ack(self, ack: types_pb2.ConfigAck) -> None:
        try:
            self._stub.AckConfig(ack, timeout=_RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            log.warning(
                "could not acknowledge config version %d: %s", ack.config_version, _why(exc)
            )

    # -- directives ----------------------------------------------------------------------

    def _restored_state(self, device: DeviceInfo) -> str:
        record = self.state_files.read(device.uuid)
        return record.state if record else "HEALTHY"

    def _refresh_active(self) -> None:
        """Regular probes run on HEALTHY devices without a hung probe (caller may hold no lock)."""
        for d in self.devices:
            self._scheduler.set_active(
                d.index, self._states[d.uuid] == "HEALTHY" and d.index not in self._hung
            )

    def _on_directive(self, d: types_pb2.QuarantineDirective) -> None:
        device = self._by_uuid.get(d.gpu.uuid)
        if device is None or d.action not in _ACTIONS:
            return
        if d.requires_approval and not (d.HasField("approval") and d.approval.approved):
            log.info(
                "directive %s (%s for %s) waits for an operator's approval",
                d.directive_id,
                types_pb2.QuarantineAction.Name(d.action),
                d.gpu.uuid,
            )
            return
        if d.directive_id in self._handled:
            return
        self._handled[d.directive_id] = None
        previous = self.state_files.read(device.uuid)
        if previous is not None and previous.directive_id == d.directive_id:
            return  # replayed on re-subscribe; applied before this agent restarted
        if len(self._handled) > 10_000:
            self._handled.popitem(last=False)
        action, state = _ACTIONS[d.action]
        with self._lock:
            self._states[device.uuid] = state
            if state == "DEEP_TEST":
                self._deep[device.index] = _Deep()
            else:
                self._deep.pop(device.index, None)
            self._refresh_active()
        self._runner_wake.set()
        record = GpuStateRecord.now(
            gpu_uuid=device.uuid,
            device_index=device.index,
            hostname=self.hostname,
            state=state,
            action=action,
            reason=d.reason,
            directive_id=d.directive_id,
            initiated_by=d.initiated_by,
        )
        path = self.state_files.write(record)
        self.stats.directives_applied += 1
        log.warning(
            "GPU %s (device %d): %s, now %s: %s", device.uuid, device.index, action, state, d.reason
        )
        if self._hook is not None:
            self._hook.submit(record, path)

    def _on_state(self, change: agent_pb2.GpuStateChange) -> None:
        """Watch a GPU the engine holds SUSPECT: more probes until it is cleared or not."""
        device = self._by_uuid.get(change.gpu.uuid)
        if device is None:
            return
        watched = change.state == types_pb2.GPU_HEALTH_STATE_SUSPECT
        with self._lock:
            changed = self._scheduler.set_watched(device.index, watched)
        if not changed:
            return
        self._runner_wake.set()
        if watched:
            log.warning(
                "GPU %s (device %d) is SUSPECT (%s): probing it more often and on all SMs",
                device.uuid,
                device.index,
                change.reason,
            )
        else:
            log.info("GPU %s (device %d) is no longer SUSPECT", device.uuid, device.index)

    # -- the runner ----------------------------------------------------------------------

    def _run_probes(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                pass
            else:
                job()
                continue
            if self._next_deep_round():
                continue
            now = time.monotonic()
            with self._lock:
                self._reap_hung()
                nxt = self._scheduler.next_probe(now)
            if isinstance(nxt, tuple):
                device, entry = nxt
                report = self._probe(
                    self.devices[device],
                    entry.probe_type,
                    entry.sm_coverage,
                    entry.timeout_ms,
                    deep=False,
                )
                with self._lock:
                    self._scheduler.finished(
                        device,
                        entry.probe_type,
                        report.duration_us / 1e6,
                        time.monotonic(),
                        failed=report.result == types_pb2.PROBE_RESULT_FAIL,
                    )
                continue
            wait = None if nxt == float("inf") else max(0.0, nxt - now)
            if self._hung:  # look again soon for a hung probe that has returned
                wait = min(wait if wait is not None else 1.0, 1.0)
            self._runner_wake.wait(wait)
            self._runner_wake.clear()

    def _reap_hung(self) -> None:
        for index, thread in list(self._hung.items()):
            if not thread.is_alive():
                del self._hung[index]
                log.info(
                    "the hung probe on device %d ended; device %d is scheduled again", index, index
                )
        self._refresh_active()

    def _probe(
        self, device: DeviceInfo, probe_type: int, coverage: float, timeout_ms: int, *, deep: bool
    ) -> agent_pb2.ProbeReport:
        """Run one probe under the guard and buffer its report, which it returns."""
        started = time.monotonic()
        g = guarded(
            lambda: self.backend.run(
                device.index, probe_type, sm_coverage=coverage, timeout_ms=timeout_ms, deep=deep
            ),
            timeout_ms / 1000 + _GUARD_GRACE_S,
            f"sentinel-probe-{device.index}",
        )
        name = types_pb2.ProbeType.Name(probe_type)
        report = agent_pb2.ProbeReport(
            report_id=uuid7(),
            gpu_uuid=device.uuid,
            probe_type=probe_type,  # type: ignore[arg-type]
            deep_test=deep,
        )
        report.timestamp.FromNanoseconds(time.time_ns())
        outcome = g.value
        if g.hung is not None:
            with self._lock:
                self._hung[device.index] = g.hung
                self._refresh_active()
            report.result = types_pb2.PROBE_RESULT_TIMEOUT
            report.duration_us = timeout_ms * 1000
            report.detail = (
                f"{name} did not return within {timeout_ms} ms; device held until it does"
            )
            log.error(
                "probe %s on device %d hung; no more probes there until it returns",
                name,
                device.index,
            )
        elif outcome is None:
            report.result = types_pb2.PROBE_RESULT_ERROR
            report.duration_us = int((time.monotonic() - started) * 1e6)
            report.detail = f"{name} raised {type(g.error).__name__}: {g.error}"
            log.error("probe %s on device %d raised: %r", name, device.index, g.error)
        else:
            report.result = outcome.result  # type: ignore[assignment]
            report.duration_us = outcome.duration_us
            report.sm_outcomes = outcome.sm_outcomes
            report.detail = outcome.detail
            report.sm_details.extend(
                agent_pb2.SmProbeOutcome(
                    sm_id=s.sm_id,
                    result=s.result,  # type: ignore[arg-type]
                    detail=s.detail,
                )
                for s in outcome.details
            )
        self._keep(KIND_PROBE, report.report_id, report.SerializeToString())
        self.stats.results[
            types_pb2.ProbeResult.Name(report.result).removeprefix("PROBE_RESULT_")
        ] += 1
        if deep:
            self.stats.deep_reports += 1
            d = self._deep.get(device.index)
            if d is not None:
                d.last_round.append(report.report_id)
                d.failed |= report.result == types_pb2.PROBE_RESULT_FAIL
        return report

    def _next_deep_round(self) -> bool:
        """Run one deep round on a device whose previous round the engine has acknowledged.

        Rounds repeat, paced by the engine's acks, until a directive ends the deep test
        (the engine reinstates after enough passes) or a round fails (the engine then
        asks for CONDEMN, which waits for an operator).
        """
        with self._lock:
            ready = [
                i
                for i, d in self._deep.items()
                if not d.failed
                and i not in self._hung
                and not any(r in self.buffer for r in d.last_round)
            ]
        if not ready:
            return False
        device = self.devices[ready[0]]
        deep = self._deep[device.index]
        deep.last_round = []
        timeouts = {e.probe_type: e for e in self.settings.schedule} if self.settings else {}
        for probe_type in _ALL_TYPES:
            if self._stop.is_set() or self._deep.get(device.index) is not deep:
                break
            e = timeouts.get(probe_type)
            # A deep run covers every SM: allow the scheduled run's time scaled to full coverage.
            timeout_ms = int(e.timeout_ms / e.sm_coverage) if e else _DEEP_DEFAULT_TIMEOUT_MS
            self._probe(device, probe_type, 1.0, timeout_ms, deep=True)
            if device.index in self._hung:
                break
        if deep.failed:
            log.error("deep test of %s failed; waiting for the engine's decision", device.uuid)
        return True

    def _on_tmr(self, assignment: agent_pb2.TmrAssignment) -> None:
        local = [
            self._by_uuid[p.uuid]
            for p in assignment.participants
            if p.hostname == self.hostname and p.uuid in self._by_uuid
        ]
        for device in local:
            self._jobs.put(functools.partial(self._tmr, assignment, device))
        if local:
            self._runner_wake.set()

    def _tmr(self, assignment: agent_pb2.TmrAssignment, device: DeviceInfo) -> None:
        g = guarded(
            lambda: self.backend.tmr_digest(device.index, assignment.workload_seed),
            _TMR_LIMIT_S,
            f"sentinel-tmr-{device.index}",
        )
        if g.value is None:
            log.error(
                "TMR canary %s on device %d: no digest (%s)",
                assignment.canary_id,
                device.index,
                "hung" if g.hung else repr(g.error),
            )
            return
        report = agent_pb2.TmrReport(
            report_id=uuid7(), canary_id=assignment.canary_id, gpu_uuid=device.uuid, digest=g.value
        )
        report.timestamp.FromNanoseconds(time.time_ns())
        self._keep(KIND_TMR, report.report_id, report.SerializeToString())
        self.stats.tmr_reports += 1

    def _keep(self, kind: int, report_id: str, payload: bytes) -> None:
        self.buffer.append(Record(report_id, kind, payload))
        self._link_wake.set()

    # -- the link ------------------------------------------------------------------------

    def _run_link(self) -> None:
        attempt = 0
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                if self.agent_id is None:
                    self._register()
                    next_beat = 0.0
                self._deliver()
                if time.monotonic() >= next_beat:
                    self._beat()
                    next_beat = time.monotonic() + self._heartbeat_s
                attempt = 0
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
                    self._unregister()
                delay = _BACKOFF.backoff(attempt, self._rng)
                attempt += 1
                log.warning(
                    "engine %s: %s; %d report(s) buffered, retrying in %.1fs",
                    self.engine,
                    _why(exc),
                    len(self.buffer),
                    delay,
                )
                self._stop.wait(delay)
                continue
            self._link_wake.wait(max(0.0, next_beat - time.monotonic()))
            self._link_wake.clear()

    def _register(self) -> None:
        req = agent_pb2.RegisterAgentRequest(hostname=self.hostname, agent_version=AGENT_VERSION)
        for d in self.devices:
            reg = req.gpus.add(sm_count=d.sm_count)
            reg.gpu.uuid, reg.gpu.hostname, reg.gpu.device_index = d.uuid, self.hostname, d.index
            reg.gpu.model, reg.gpu.driver_version = d.model, d.driver_version
            reg.gpu.firmware_version = d.firmware_version
        resp = self._stub.RegisterAgent(req, timeout=_RPC_TIMEOUT_S)
        self.agent_id = resp.agent_id
        self._heartbeat_s = float(resp.heartbeat_interval_seconds or 15)
        log.info("registered %d GPU(s) as agent %s", len(self.devices), resp.agent_id)
        if resp.config != self._config:
            self.apply_config(resp.config)
        else:  # already probing by it (kept on disk, or the default): tell the engine
            self._ack(config_ack(resp.config, self.hostname))
        self._registered.set()
        self._reconnected.set()

    def _unregister(self) -> None:
        self.agent_id = None
        self._registered.clear()

    def _beat(self) -> None:
        req = agent_pb2.HeartbeatRequest(
            agent_id=self.agent_id,
            hostname=self.hostname,
            config_version=self.settings.version if self.settings else 0,
        )
        req.timestamp.FromNanoseconds(time.time_ns())
        self._stub.Heartbeat(req, timeout=_RPC_TIMEOUT_S)
        self.stats.heartbeats += 1
        if self._telemetry is not None:
            samples = self._telemetry.sample()
            self._stub.ReportTelemetry(
                agent_pb2.TelemetryBatch(agent_id=self.agent_id, samples=samples),
                timeout=_RPC_TIMEOUT_S,
            )
            self.stats.telemetry_sent += len(samples)

    def _deliver(self) -> None:
        """Send the buffer oldest first; forget each batch only after its ack."""
        while True:
            records = self.buffer.peek(_BATCH)
            if not records:
                return
            probes = [r for r in records if r.kind == KIND_PROBE]
            tmrs = [r for r in records if r.kind == KIND_TMR]
            if probes:
                batch = agent_pb2.ProbeReportBatch(
                    agent_id=self.agent_id,
                    reports=[agent_pb2.ProbeReport.FromString(r.payload) for r in probes],
                )
                self._acked(probes, self._stub.ReportProbeResults(batch, timeout=_RPC_TIMEOUT_S))
            if tmrs:
                tbatch = agent_pb2.TmrReportBatch(
                    agent_id=self.agent_id,
                    reports=[agent_pb2.TmrReport.FromString(r.payload) for r in tmrs],
                )
                self._acked(tmrs, self._stub.ReportTmrResults(tbatch, timeout=_RPC_TIMEOUT_S))

    def _acked(self, records: list[Record], ack: agent_pb2.ReportAck) -> None:
        for line in ack.rejected:
            log.warning("engine refused a report, dropping it: %s", line)
        self.buffer.ack([r.report_id for r in records])
        self.stats.delivered += len(records)
        self.stats.duplicates += ack.duplicates
        self._runner_wake.set()  # a deep test waits for its round's acks

    # -- the command reader --------------------------------------------------------------

    def _run_commands(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._registered.wait()
            if self._stop.is_set():
                return
            self._reconnected.clear()
            req = agent_pb2.SubscribeRequest(
                agent_id=self.agent_id or "",
                hostname=self.hostname,
                config_version=self.settings.version if self.settings else 0,
            )
            try:
                self._stream = self._stub.Subscribe(req)
                if self._stop.is_set():
                    self._stream.cancel()
                for cmd in self._stream:
                    attempt = 0
                    self._handle(cmd)
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    self._unregister()
                    self._link_wake.set()
                log.warning("command stream from %s ended: %s", self.engine, _why(exc))
            finally:
                self._stream = None
            # A fresh registration (the engine is back) ends the wait at once.
            if self._reconnected.wait(_BACKOFF.backoff(attempt, self._rng)):
                attempt = 0
            else:
                attempt += 1

    def _handle(self, cmd: agent_pb2.AgentCommand) -> None:
        kind = cmd.WhichOneof("command")
        try:
            if kind == "config":
                self.apply_config(cmd.config)
            elif kind == "directive":
                self._on_directive(cmd.directive)
            elif kind == "tmr":
                self._on_tmr(cmd.tmr)
            elif kind == "state":
                self._on_state(cmd.state)
        except Exception:  # one bad command must not end the stream
            log.exception("could not handle %s command", kind)


def _why(exc: grpc.RpcError) -> str:
    code = exc.code()
    return f"{code.name if code else 'UNKNOWN'}: {exc.details()}"
