"""``DemoFleet``: simulated hosts running the real agent, monitors and TMR against an engine.

Each host is a real ``Agent`` over a ``CpuBackend`` with simulated telemetry; two GPUs serve
synthetic inference traffic watched by real ``InferenceMonitor``\\ s that report through a
real ``EngineReporter``. One director thread plays the script: it serves the traffic, makes
the faults appear ``fault_delay_s`` after start, heats the hot node, and starts the TMR
canaries. Nothing else is simulated: probes compute, the engine judges.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sentinel.fleet.agent import Agent
from sentinel.fleet.client import SentinelClient
from sentinel.fleet.demo._policy import demo_policy
from sentinel.fleet.demo._scenarios import (
    Position,
    Scenario,
    hostname,
    layout,
    scenarios,
)
from sentinel.fleet.demo._spec import DemoSpec, fma_period_s
from sentinel.fleet.demo._telemetry import SimulatedTelemetry
from sentinel.fleet.demo._traffic import LogitStream
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.errors import SentinelError
from sentinel.fleet.monitors import EngineReporter, InferenceMonitor
from sentinel.fleet.probes import CpuBackend
from sentinel.fleet.types import Severity

__all__ = ["MODEL", "DemoFleet"]

log = logging.getLogger("sentinel.fleet.demo")

MODEL = "Sentinel simulated H100 (CPU)"
_MEMORY_BYTES = 64 << 10
"""Simulated device memory for the MEMORY probe: small, since it is resident per GPU."""
_HEAT_UP_PERIODS = 3
"""FMA periods the hot node takes to heat up; its errors start after the bad-firmware GPUs
have failed, so the firmware share is judged against a fleet not yet erring on that node."""
_TELEMETRY_S = 15.0
"""How often agents send telemetry (with their heartbeats, at the engine's interval, which
the demo does not speed up). The hot node errs only after one more interval at full heat,
so the engine has heard that it is hot, as it would from a real node that heats for minutes."""
_CANARIES = 5
"""TMR canaries run with the outvoted GPU, one per FMA period from when the faults appear."""
_BATCHES_PER_S = 2.0
"""Inference batches each monitored GPU serves per second."""
_WARMUP_BATCHES = 60
"""Clean batches served at start, before anything can fail: the monitors' baselines."""
_RETRY_S = 1.0
_STOPPERS = 64
"""Agents stopped at once: an agent stuck in a call to a dead engine takes its full timeout."""


class DemoFleet:
    """A simulated fleet on the CPU backend that plays the six demo scenarios.

    Args:
        engine_address: ``host:port`` of the engine's gRPC gateway.
        spec: Size and timing; big fleets run at ``spec.effective_scale``.
        data_dir: Where each host's agent keeps its report buffer and state files.
        canary: Called with three GPU UUIDs to start a TMR canary on them (the server's
            ``engine.create_tmr_canary``); ``None`` leaves TMR to the engine's own rounds,
            which reach the outvoted GPU only by chance.
        agent_token: Issues the agent token of a hostname (``sentinel up`` passes one
            that creates it in the server's token store); each host's agent, and the
            monitors of that host's GPUs, present it. ``None`` sends no token.

    Attributes:
        scenarios: The six scenarios, with their GPUs.
        healthy_uuids: GPUs no scenario touches; none of them should ever leave HEALTHY.
        all_uuids: Every simulated GPU, host by host.
        spec: The spec it was made with.
        fault_started_at: ``time.time()`` when the faults appeared; ``None`` before.
        schedule_scale: The factor on the engine's probe periods actually run.
        fma_period_s: Seconds between two FMA probes of a GPU.
    """

    def __init__(
        self,
        engine_address: str,
        spec: DemoSpec,
        *,
        data_dir: Path,
        canary: Callable[[Sequence[str]], object] | None = None,
        agent_token: Callable[[str], str] | None = None,
    ) -> None:
        self.spec = spec
        self.schedule_scale = spec.effective_scale
        self.fma_period_s = fma_period_s(self.schedule_scale)
        self.fault_started_at: float | None = None
        self._address = engine_address
        self._canary = canary
        self._layout = lay = layout(spec)
        self._backends: list[CpuBackend] = []
        self._telemetry: list[SimulatedTelemetry] = []
        self._agents: list[Agent] = []
        self._tokens: list[str | None] = []
        for h in range(spec.hosts):
            name = hostname(h)
            self._tokens.append(agent_token(name) if agent_token else None)
            backend = CpuBackend(
                spec.gpus_per_host,
                spec.sm_count,
                hostname=name,
                memory_bytes=_MEMORY_BYTES,
                model=MODEL,
                firmware_versions=[lay.firmware((h, d)) for d in range(spec.gpus_per_host)],
            )
            telemetry = SimulatedTelemetry(
                [d.uuid for d in backend.devices()], seed=spec.seed * 10_007 + h
            )
            self._backends.append(backend)
            self._telemetry.append(telemetry)
            self._agents.append(
                Agent(
                    engine_address,
                    backend,
                    token=self._tokens[h],
                    hostname=name,
                    data_dir=Path(data_dir) / name,
                    telemetry=telemetry,
                    schedule_scale=self.schedule_scale,
                )
            )
        self.all_uuids = [d.uuid for b in self._backends for d in b.devices()]
        self.scenarios: list[Scenario] = scenarios(lay, spec, self._uuid, self.fma_period_s)
        touched = {u for s in self.scenarios for u in s.gpu_uuids}
        self.healthy_uuids = frozenset(self.all_uuids) - touched
        self._policy = EnginePolicy().with_overrides(demo_policy(spec))
        self._rng = random.Random(spec.seed)
        self._streams = {p: LogitStream(spec.seed * 31 + i) for i, p in enumerate(self._served)}
        self._monitors: dict[Position, InferenceMonitor] = {}
        self._reporters: list[EngineReporter] = []
        self._client: SentinelClient | None = None
        self._armed = False
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the director, which starts the agents; returns at once.

        Agent starts are spread over an FMA period (at most half the fault delay), so the
        hosts' schedules do not all probe at the same instant.
        """
        if self._thread is not None:
            return
        # Monitors run on their GPU's host, so they report with that host's agent token.
        reporters = {
            host: EngineReporter(self._address, token=self._tokens[host])
            for host in sorted({host for host, _ in self._served})
        }
        self._reporters = list(reporters.values())
        self._client = SentinelClient.connect(self._address, default_timeout=10.0)
        self._monitors = {
            p: InferenceMonitor(self._uuid(p), reporters[p[0]], seed=self.spec.seed)
            for p in self._served
        }
        now = time.monotonic()
        spread = min(self.fma_period_s, self.spec.fault_delay_s / 2) / len(self._agents)
        for i, agent in enumerate(self._agents):
            self._at(now + i * spread, agent.start)
        self._at(now + self.spec.fault_delay_s, self._faults_appear)
        self._thread = threading.Thread(target=self._direct, name="sentinel-demo", daemon=True)
        self._thread.start()
        log.info(
            "demo fleet: %d hosts x %d GPUs, FMA every %.3g s, faults in %g s",
            self.spec.hosts,
            self.spec.gpus_per_host,
            self.fma_period_s,
            self.spec.fault_delay_s,
        )

    def stop(self) -> None:
        """Stop the director, the agents (side by side) and the monitors' reporters."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with ThreadPoolExecutor(min(len(self._agents), _STOPPERS), "sentinel-demo-stop") as pool:
            list(pool.map(Agent.stop, self._agents))
        for reporter in self._reporters:
            reporter.close(timeout=2.0)
        self._reporters = []
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the director --------------------------------------------------------------------

    @property
    def _served(self) -> tuple[Position, Position]:
        """GPUs serving inference traffic under a monitor."""
        return self._layout.intermittent, self._layout.false_alarm

    def _uuid(self, position: Position) -> str:
        host, device = position
        return self._backends[host].devices()[device].uuid

    def _at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), action))

    def _direct(self) -> None:
        for _ in range(_WARMUP_BATCHES):
            for p in self._served:
                self._monitors[p].observe(self._streams[p].clean())
        next_batch = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            while self._events and self._events[0][0] <= now:
                _, _, action = heapq.heappop(self._events)
                try:
                    action()
                except Exception:  # one failed step must not end the demo
                    log.exception("demo step %s failed", getattr(action, "__name__", action))
            if now >= next_batch:
                self._serve()
                next_batch = max(next_batch + 1 / _BATCHES_PER_S, now)
            due = min(next_batch, self._events[0][0]) if self._events else next_batch
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _serve(self) -> None:
        """One batch on each monitored GPU; the intermittent fault corrupts some once armed."""
        lay = self._layout
        fault = lay.faults[lay.intermittent]
        stream = self._streams[lay.intermittent]
        hit = self._armed and self._rng.random() < fault.rate
        batch = stream.corrupted(fault.bit) if hit else stream.clean()
        self._monitors[lay.intermittent].observe(batch)
        self._monitors[lay.false_alarm].observe(self._streams[lay.false_alarm].clean())

    def _faults_appear(self) -> None:
        lay = self._layout
        for position, fault in lay.faults.items():
            self._backends[position[0]].inject(position[1], fault)
        self._armed = True
        self.fault_started_at = time.time()
        now = time.monotonic()
        ramp = _HEAT_UP_PERIODS * self.fma_period_s
        self._telemetry[lay.hot_host].overheat(ramp)
        self._at(now + ramp + _TELEMETRY_S, self._hot_node_errs)
        for k in range(_CANARIES if self._canary is not None else 0):
            self._at(now + k * self.fma_period_s, self._run_canary)
        log.info(
            "demo: faults appear now on %d GPUs; %s heats up over %.3g s",
            len(lay.faults),
            hostname(lay.hot_host),
            ramp,
        )
        self._false_alarm()

    def _hot_node_errs(self) -> None:
        for (host, device), fault in self._layout.heat_faults.items():
            self._backends[host].inject(device, fault)
        log.info("demo: %s is hot; its GPUs start to err", hostname(self._layout.hot_host))

    def _run_canary(self) -> None:
        lay = self._layout
        assert self._canary is not None  # scheduled only with a callback
        result = self._canary([self._uuid(p) for p in (lay.tmr, *lay.tmr_peers)])
        if isinstance(result, Future):
            result.add_done_callback(_log_failure)

    def _false_alarm(self) -> None:
        """A burst of drifting batches, sized to take the GPU just below ``suspect_below``.

        The burst is sized from the GPU's reliability as the engine has it now, so the GPU
        turns SUSPECT whatever the passes it has earned, and stays far from
        ``quarantine_below``; its passes then bring it back to HEALTHY.
        """
        position = self._layout.false_alarm
        assert self._client is not None  # set by start
        try:
            health = self._client.query_gpu_health(self._uuid(position))
        except SentinelError as exc:
            log.warning("demo: false alarm postponed; no health for its GPU yet: %s", exc)
            self._at(time.monotonic() + _RETRY_S, self._false_alarm)
            return
        p = self._policy
        target = p.suspect_below - 0.01
        weight = p.anomaly_weight * p.severity_weight(Severity.HIGH)
        gap = health.alpha / target - health.alpha - health.beta
        for _ in range(max(1, math.ceil(gap / weight))):
            self._monitors[position].observe(self._streams[position].drifted())


def _log_failure(future: Future[object]) -> None:
    if (exc := future.exception()) is not None:
        log.error("demo: a TMR canary could not start: %s", exc)
