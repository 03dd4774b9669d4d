"""In-memory state of the fleet: the engine answers queries from here, never from SQL.

Every mutation happens on the engine's writer thread; readers take ``FleetState.lock``
briefly. Aggregates by state are kept incrementally so a fleet summary over 100,000
GPUs costs O(1) when it is not filtered by host or model.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.engine.rates import WindowCounter
from sentinel.fleet.engine.reliability import BetaReliability

GPU_UUID_RE = re.compile(
    r"^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
GPU_UUID_FORMAT = "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (x = hex digit)"

# Packed per-SM columns: alpha, beta (float64) and pass, fail (stored as float64 too,
# exact up to 2**53) so one numpy buffer round-trips through a single blob column.
_SM_COLUMNS = 4


def sm_blob(arr: np.ndarray) -> bytes:
    """Serialize the per-SM array for the ``sm_blob`` column."""
    return arr.astype("<f8", copy=False).tobytes()


def sm_array(blob: bytes, sm_count: int, policy: EnginePolicy) -> np.ndarray:
    """Per-SM array from a blob, or a fresh prior when the blob is empty or mis-sized."""
    if blob and len(blob) == sm_count * _SM_COLUMNS * 8:
        return np.frombuffer(blob, dtype="<f8").reshape(_SM_COLUMNS, sm_count).copy()
    arr = np.zeros((_SM_COLUMNS, sm_count), dtype=np.float64)
    arr[0] = policy.prior_alpha
    arr[1] = policy.prior_beta
    return arr


@dataclass(slots=True)
class Gpu:
    """Everything the engine knows about one GPU."""

    uuid: str
    hostname: str
    device_index: int
    model: str
    driver_version: str
    firmware_version: str
    sm_count: int
    state: int
    state_changed_us: int
    state_change_reason: str
    rel: BetaReliability
    sm: np.ndarray
    fail_window: WindowCounter
    anomaly_window: WindowCounter
    probe_pass_count: int = 0
    probe_fail_count: int = 0
    anomaly_count: int = 0
    last_probe_us: int = 0
    last_anomaly_us: int = 0
    passes_since_deep_test: int = 0
    deep_test_types: int = 0
    deep_test_failed: bool = False
    agent_id: str = ""
    registered_us: int = 0
    sm_disabled: dict[int, str] = field(default_factory=dict)
    persisted: bool = False
    sm_persisted_us: int = 0
    sm_dirty: bool = False
    last_sample_us: int = 0
    last_sample_score: float = 0.0

    @property
    def score(self) -> float:
        return self.rel.score

    def sm_disabled_json(self) -> str:
        return json.dumps({str(k): v for k, v in sorted(self.sm_disabled.items())})


def agent_id_of(hostname: str) -> str:
    """The id of the agent of ``hostname``: the same on every server and after restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, hostname))


@dataclass(slots=True)
class Agent:
    """A probe agent, known from registration and kept alive by heartbeats."""

    agent_id: str
    hostname: str
    agent_version: str
    registered_us: int
    last_heartbeat_us: int
    config_version: int = 0
    config_error: str = ""
    persisted: bool = False


@dataclass(slots=True)
class Tally:
    """GPU count and reliability-score sum per lifecycle state, for one group of GPUs."""

    count: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    score: dict[int, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, state: int, score: float, n: int = 1) -> None:
        self.count[state] += n
        self.score[state] += score


class FleetState:
    """GPUs, agents and the aggregates that make fleet queries cheap.

    Counts and score sums are kept per state for the fleet and per host, and SDC events
    (probe failures and anomalies) in sliding windows for the fleet and per host, so a
    summary filtered by state or host prefix never walks every GPU.
    """

    def __init__(self, window_seconds: float = 3600.0) -> None:
        self.lock = threading.RLock()
        self.window_seconds = window_seconds
        self.gpus: dict[str, Gpu] = {}
        self.agents: dict[str, Agent] = {}
        self.sorted_uuids: list[str] = []
        self.by_host: dict[str, set[str]] = defaultdict(set)
        self.by_state: dict[int, set[str]] = defaultdict(set)
        self.fleet = Tally()
        self.hosts: dict[str, Tally] = defaultdict(Tally)
        self.events = WindowCounter(window_seconds)
        self.host_events: dict[str, WindowCounter] = {}
        self.version_count: dict[tuple[str, str], int] = defaultdict(int)

    @property
    def state_count(self) -> dict[int, int]:
        return self.fleet.count

    def _tally(self, gpu: Gpu, sign: int) -> None:
        self.fleet.add(gpu.state, sign * gpu.score, sign)
        self.hosts[gpu.hostname].add(gpu.state, sign * gpu.score, sign)

    def add(self, gpu: Gpu) -> None:
        """Track a new GPU (caller holds the lock)."""
        self.gpus[gpu.uuid] = gpu
        bisect.insort(self.sorted_uuids, gpu.uuid)
        self.by_host[gpu.hostname].add(gpu.uuid)
        self.by_state[gpu.state].add(gpu.uuid)
        self._tally(gpu, +1)
        self.version_count[(gpu.driver_version, gpu.firmware_version)] += 1

    def remove(self, gpu: Gpu) -> None:
        """Forget a GPU (caller holds the lock): undoes ``add`` when its batch failed."""
        self._tally(gpu, -1)
        del self.gpus[gpu.uuid]
        del self.sorted_uuids[bisect.bisect_left(self.sorted_uuids, gpu.uuid)]
        self.by_host[gpu.hostname].discard(gpu.uuid)
        self.by_state[gpu.state].discard(gpu.uuid)
        self.version_count[(gpu.driver_version, gpu.firmware_version)] -= 1

    def reidentify(self, gpu: Gpu, hostname: str, driver: str, firmware: str) -> None:
        """Move a GPU to a new host or firmware version, keeping indexes right."""
        self._tally(gpu, -1)
        self.by_host[gpu.hostname].discard(gpu.uuid)
        self.version_count[(gpu.driver_version, gpu.firmware_version)] -= 1
        gpu.hostname, gpu.driver_version, gpu.firmware_version = hostname, driver, firmware
        self.by_host[hostname].add(gpu.uuid)
        self.version_count[(driver, firmware)] += 1
        self._tally(gpu, +1)

    def rescore(self, gpu: Gpu, old_score: float) -> None:
        """Account for a change of ``gpu``'s reliability score from ``old_score``."""
        delta = gpu.score - old_score
        self.fleet.score[gpu.state] += delta
        self.hosts[gpu.hostname].score[gpu.state] += delta

    def move(self, gpu: Gpu, new_state: int) -> None:
        """Account for ``gpu`` changing lifecycle state."""
        self._tally(gpu, -1)
        self.by_state[gpu.state].discard(gpu.uuid)
        gpu.state = new_state
        self.by_state[new_state].add(gpu.uuid)
        self._tally(gpu, +1)

    def record_event(self, gpu: Gpu, ts: float) -> None:
        """Count an SDC event (probe failure or anomaly) of ``gpu`` for the rate windows."""
        self.events.add(ts)
        counter = self.host_events.get(gpu.hostname)
        if counter is None:
            counter = self.host_events[gpu.hostname] = WindowCounter(self.window_seconds)
        counter.add(ts)

    def total(self) -> int:
        return len(self.gpus)

    def hosts_with_prefix(self, prefix: str) -> list[str]:
        return [h for h in self.hosts if h.startswith(prefix)]

    def select(self, hostname_prefix: str, model_filter: str, states: set[int]) -> list[Gpu]:
        """GPUs matching the filters, in UUID order."""
        if hostname_prefix:
            uuids = sorted(
                u
                for host, members in self.by_host.items()
                if host.startswith(hostname_prefix)
                for u in members
            )
        else:
            uuids = self.sorted_uuids
        out = []
        for u in uuids:
            g = self.gpus[u]
            if model_filter and model_filter.lower() not in g.model.lower():
                continue
            if states and g.state not in states:
                continue
            out.append(g)
        return out


ALL_STATES = frozenset(int(s) for s in GpuState)
