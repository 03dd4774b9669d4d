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


class FleetState:
    """GPUs, agents and the aggregates that make fleet queries cheap."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.gpus: dict[str, Gpu] = {}
        self.agents: dict[str, Agent] = {}
        self.sorted_uuids: list[str] = []
        self.by_host: dict[str, set[str]] = defaultdict(set)
        self.state_count: dict[int, int] = defaultdict(int)
        self.state_score_sum: dict[int, float] = defaultdict(float)
        self.version_count: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, gpu: Gpu) -> None:
        """Track a new GPU (caller holds the lock)."""
        self.gpus[gpu.uuid] = gpu
        bisect.insort(self.sorted_uuids, gpu.uuid)
        self.by_host[gpu.hostname].add(gpu.uuid)
        self.state_count[gpu.state] += 1
        self.state_score_sum[gpu.state] += gpu.score
        self.version_count[(gpu.driver_version, gpu.firmware_version)] += 1

    def reidentify(self, gpu: Gpu, hostname: str, driver: str, firmware: str) -> None:
        """Move a GPU to a new host or firmware version, keeping indexes right."""
        self.by_host[gpu.hostname].discard(gpu.uuid)
        self.version_count[(gpu.driver_version, gpu.firmware_version)] -= 1
        gpu.hostname, gpu.driver_version, gpu.firmware_version = hostname, driver, firmware
        self.by_host[hostname].add(gpu.uuid)
        self.version_count[(driver, firmware)] += 1

    def rescore(self, gpu: Gpu, old_score: float) -> None:
        """Account for a change of ``gpu``'s reliability score from ``old_score``."""
        self.state_score_sum[gpu.state] += gpu.score - old_score

    def move(self, gpu: Gpu, new_state: int) -> None:
        """Account for ``gpu`` changing lifecycle state."""
        self.state_count[gpu.state] -= 1
        self.state_score_sum[gpu.state] -= gpu.score
        gpu.state = new_state
        self.state_count[new_state] += 1
        self.state_score_sum[new_state] += gpu.score

    def total(self) -> int:
        return len(self.gpus)

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
