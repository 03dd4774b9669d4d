"""Sliding-window correlation of failure signals into the six fleet patterns.

Single signals are weak evidence: a probe can fail once by chance and a model can drift for
reasons of its own. Signals that agree — on one GPU, one SM, one node or one firmware — point at
a cause, and each pattern found says which cause and what to do about it.

"Failure signals" are ``probe_fail``, ``anomaly`` and ``tmr_dissent``; ``env`` signals are
excursions of the environment (heat, throttling, ECC, Xid) that only explain failures. The
correlator also keeps whether each GPU's surroundings are out of limits right now (heat,
throttling), so the engine does not judge a GPU by a deep test run in a bad environment.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sentinel.fleet.engine.enums import AnomalyKind, Pattern, Severity
from sentinel.fleet.engine.policy import EnginePolicy

PROBE_FAIL = "probe_fail"
ANOMALY = "anomaly"
ENV = "env"
TMR_DISSENT = "tmr_dissent"
SIGNAL_KINDS = frozenset({PROBE_FAIL, ANOMALY, ENV, TMR_DISSENT})
"""Every valid ``Signal.kind``."""

_FAILURES = frozenset({PROBE_FAIL, ANOMALY, TMR_DISSENT})
_ERRORS = frozenset({PROBE_FAIL, ANOMALY})  # computation errors seen by the GPU's own checks
_SEVERITIES = frozenset(Severity)
_ANOMALY_KINDS = frozenset(AnomalyKind)
_QUIET_REST_CHANCE = 0.05
"""Largest chance, at the version's failure share, that the rest of the fleet shows no
failure at all, for that silence to count as a difference (FIRMWARE_CORRELATED)."""
_PER_GPU_LIMIT = 256  # patterns are checked on arrival, so a flood only drops repeats
_THROTTLE_BITS = (
    (0x4, "SW power cap"),
    (0x8, "HW slowdown"),
    (0x20, "SW thermal slowdown"),
    (0x40, "HW thermal slowdown"),
    (0x80, "HW power brake"),
)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """Where a GPU sits and what it runs, for node and firmware correlation."""

    uuid: str
    hostname: str
    model: str
    driver_version: str
    firmware_version: str


@dataclass(frozen=True, slots=True)
class Signal:
    """One observation about one GPU.

    Attributes:
        event_id: Id of the stored event, listed in the findings it takes part in.
        gpu_uuid: The GPU observed.
        ts: Epoch seconds of the observation.
        kind: One of ``probe_fail``, ``anomaly``, ``env``, ``tmr_dissent``.
        sm_id: The SM the signal is attributed to, if known.
        detail: Human-readable detail, quoted in descriptions.
        anomaly_type: ``AnomalyKind`` value for ``anomaly`` signals.
        severity: ``Severity`` value, when the source assessed one.
    """

    event_id: str
    gpu_uuid: str
    ts: float
    kind: str
    sm_id: int | None = None
    detail: str = ""
    anomaly_type: int = 0
    severity: int = 0


@dataclass(frozen=True)
class Finding:
    """A pattern found across signals.

    ``gpu_uuid`` is the GPU at fault; for NODE_CORRELATED and FIRMWARE_CORRELATED, whose cause
    is shared, it is the GPU whose signal completed the pattern.
    """

    pattern: int
    confidence: float
    severity: int
    gpu_uuid: str | None
    sm_id: int | None
    description: str
    recommended_action: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Seen:
    ts: float
    event_id: str
    hostname: str


_K = TypeVar("_K")
_Keyed = tuple[Hashable, Finding]  # a finding with the key its cooldown applies to


class Correlator:
    """Finds patterns among signals of the last ``policy.correlation_window_seconds``.

    Each pattern is reported at most once per key (GPU, SM, host or firmware) per
    ``policy.correlation_cooldown_seconds``. State holds only the current window, plus the last
    ECC counters and surroundings of each GPU that sent telemetry. Not thread-safe: the engine
    serialises calls.

    Attributes:
        policy: Thresholds in force; assign a new policy to change them.
    """

    def __init__(
        self,
        policy: EnginePolicy,
        gpu_info: Callable[[str], GpuInfo | None],
        fleet_counts: Callable[[], Mapping[tuple[str, str], int]],
    ) -> None:
        """Create an empty correlator.

        Args:
            policy: Thresholds in force.
            gpu_info: Looks a GPU up by uuid; None for a GPU not registered.
            fleet_counts: Number of GPUs in the fleet per ``(driver_version, firmware_version)``.
        """
        self.policy = policy
        self._gpu_info = gpu_info
        self._fleet_counts = fleet_counts
        self._recent: dict[str, deque[Signal]] = {}
        self._failing: dict[str, _Seen] = {}
        self._by_host: dict[str, dict[str, _Seen]] = {}
        self._by_version: dict[tuple[str, str], dict[str, _Seen]] = {}
        self._emitted: dict[tuple[int, Hashable], float] = {}
        self._ecc: dict[str, tuple[int, int]] = {}
        self._surroundings: dict[str, tuple[float, str]] = {}
        self._clock = -math.inf
        self._swept_at = -math.inf

    def observe(self, signal: Signal) -> list[Finding]:
        """Add ``signal`` and return the patterns it completes.

        A signal older than the window (relative to the newest seen), or an ``event_id`` already
        seen on its GPU, is ignored.
        """
        if signal.kind not in SIGNAL_KINDS:
            kinds = ", ".join(sorted(SIGNAL_KINDS))
            raise ValueError(f"unknown signal kind {signal.kind!r}; expected one of {kinds}")
        now = self._clock = max(self._clock, signal.ts)
        cutoff = now - self.policy.correlation_window_seconds
        if signal.ts <= cutoff:
            return []
        if now - self._swept_at >= self.policy.correlation_window_seconds:
            self._sweep(now, cutoff)
        recent = self._recent.setdefault(signal.gpu_uuid, deque(maxlen=_PER_GPU_LIMIT))
        while recent and recent[0].ts <= cutoff:
            recent.popleft()
        if any(seen.event_id == signal.event_id for seen in recent):
            return []
        recent.append(signal)
        window = [s for s in recent if s.ts > cutoff]
        found = [
            keyed
            for keyed in (
                self._tmr_confirmed(signal, window),
                self._multi_signal(signal, window),
                self._sm_localized(signal, window),
                self._environmental(signal, window),
            )
            if keyed is not None
        ]
        if signal.kind in _FAILURES:
            found.extend(self._fleet_patterns(signal, cutoff))
        return [finding for key, finding in found if self._cooled(finding.pattern, key, now)]

    def observe_telemetry(
        self,
        gpu_uuid: str,
        ts: float,
        temperature_c: float,
        power_w: float,
        throttle_reasons: int,
        ecc_single_bit: int,
        ecc_double_bit: int,
        xid_events: Sequence[int],
        event_id: str,
    ) -> list[Finding]:
        """Turn an excursion in a telemetry sample into an ``env`` signal and observe it.

        Excursions: temperature above ``policy.temperature_limit_c``, a thermal or power throttle
        reason (NVML bits 0x4, 0x8, 0x20, 0x40, 0x80), any increase of the single- or double-bit
        ECC counters since this GPU's previous sample, and any Xid. The first sample of a GPU
        only sets its ECC baseline, since its counts cannot be dated; steady healthy telemetry
        produces nothing.
        """
        excursions = []
        severity = Severity.WARNING
        limit = self.policy.temperature_limit_c
        if temperature_c > limit:
            excursions.append(f"temperature {temperature_c:g} °C above the {limit:g} °C limit")
        throttled = [name for bit, name in _THROTTLE_BITS if throttle_reasons & bit]
        if throttled:
            excursions.append(f"throttled ({', '.join(throttled)})")
        latest = self._surroundings.get(gpu_uuid)
        if latest is None or ts >= latest[0]:
            self._surroundings[gpu_uuid] = (ts, "; ".join(excursions))
        previous = self._ecc.get(gpu_uuid)
        self._ecc[gpu_uuid] = (ecc_single_bit, ecc_double_bit)
        if previous is not None:
            if ecc_double_bit > previous[1]:
                excursions.append(f"{ecc_double_bit - previous[1]} new double-bit ECC errors")
                severity = Severity.HIGH
            if ecc_single_bit > previous[0]:
                excursions.append(f"{ecc_single_bit - previous[0]} new single-bit ECC errors")
        if xid_events:
            excursions.append(f"Xid {', '.join(map(str, xid_events))}")
            severity = Severity.HIGH
        if not excursions:
            return []
        detail = f"{'; '.join(excursions)} at {power_w:g} W"
        return self.observe(Signal(event_id, gpu_uuid, ts, ENV, detail=detail, severity=severity))

    def environment_out_of_limits(self, gpu_uuid: str) -> str | None:
        """What keeps the GPU's surroundings out of limits in its latest telemetry sample.

        Temperature above ``policy.temperature_limit_c`` and throttling count; new ECC errors
        and Xids do not, since they are faults of the GPU itself, which a deep test should
        judge. ``None`` when the latest sample is within limits, or no sample came yet.
        """
        latest = self._surroundings.get(gpu_uuid)
        return (latest[1] or None) if latest is not None else None

    def _tmr_confirmed(self, signal: Signal, window: list[Signal]) -> _Keyed | None:
        if signal.kind not in _FAILURES:
            return None
        failures = [s for s in window if s.kind in _FAILURES]
        if len(failures) < 2 or all(s.kind != TMR_DISSENT for s in failures):
            return None
        return signal.gpu_uuid, _finding(
            Pattern.TMR_CONFIRMED,
            _confidence(len(failures) + 1),
            Severity.CRITICAL,
            failures,
            signal.gpu_uuid,
            None,
            f"GPU {signal.gpu_uuid} was outvoted in a TMR comparison and has "
            f"{len(failures) - 1} other failure signals within {self._span()}",
            "quarantine the GPU now; its results disagree with its peers",
        )

    def _multi_signal(self, signal: Signal, window: list[Signal]) -> _Keyed | None:
        if signal.kind not in _ERRORS:
            return None
        errors = [s for s in window if s.kind in _ERRORS]
        classes = {(s.kind, s.anomaly_type if s.kind == ANOMALY else 0) for s in errors}
        if len(classes) < 2:
            return None
        names = sorted(_class_name(kind, anomaly) for kind, anomaly in classes)
        return signal.gpu_uuid, _finding(
            Pattern.MULTI_SIGNAL,
            _confidence(len(classes)),
            Severity.HIGH,
            errors,
            signal.gpu_uuid,
            None,
            f"{len(classes)} independent signals on GPU {signal.gpu_uuid} within "
            f"{self._span()}: {', '.join(names)}",
            "quarantine the GPU and run a deep test",
        )

    def _sm_localized(self, signal: Signal, window: list[Signal]) -> _Keyed | None:
        if signal.kind not in _FAILURES or signal.sm_id is None:
            return None
        attributed = [s for s in window if s.kind in _FAILURES and s.sm_id is not None]
        same = [s for s in attributed if s.sm_id == signal.sm_id]
        if len(same) < 2:
            return None
        return (signal.gpu_uuid, signal.sm_id), _finding(
            Pattern.SM_LOCALIZED,
            _confidence(len(same)) * len(same) / len(attributed),
            Severity.HIGH,
            same,
            signal.gpu_uuid,
            signal.sm_id,
            f"{len(same)} of {len(attributed)} SM-attributed failures on GPU "
            f"{signal.gpu_uuid} within {self._span()} hit SM {signal.sm_id}",
            f"mask SM {signal.sm_id}, or quarantine the GPU where SMs cannot be masked",
        )

    def _environmental(self, signal: Signal, window: list[Signal]) -> _Keyed | None:
        if signal.kind not in _ERRORS and signal.kind != ENV:
            return None
        env = [s for s in window if s.kind == ENV]
        errors = [s for s in window if s.kind in _ERRORS]
        if not env or not errors:
            return None
        return signal.gpu_uuid, _finding(
            Pattern.ENVIRONMENTAL,
            _confidence(len(env) + len(errors)),
            Severity.WARNING,
            env + errors,
            signal.gpu_uuid,
            None,
            f"{len(errors)} computation errors on GPU {signal.gpu_uuid} coincide with "
            f"environmental excursions within {self._span()}: {env[-1].detail}",
            "check the GPU's cooling, power delivery and ECC/Xid log; the errors may stop "
            "once the environment is fixed",
        )

    def _fleet_patterns(self, signal: Signal, cutoff: float) -> list[_Keyed]:
        info = self._gpu_info(signal.gpu_uuid)
        hostname = info.hostname if info is not None else ""
        seen = _Seen(signal.ts, signal.event_id, hostname)
        _note(self._failing, signal.gpu_uuid, seen)
        if info is None:
            return []
        on_host = _live(self._by_host.setdefault(info.hostname, {}), cutoff)
        _note(on_host, signal.gpu_uuid, seen)
        version = (info.driver_version, info.firmware_version)
        on_version = _live(self._by_version.setdefault(version, {}), cutoff)
        _note(on_version, signal.gpu_uuid, seen)
        found = [
            self._node_correlated(signal, info.hostname, on_host),
            self._firmware_correlated(signal, version, on_version, cutoff),
        ]
        return [keyed for keyed in found if keyed is not None]

    def _node_correlated(
        self, signal: Signal, hostname: str, on_host: dict[str, _Seen]
    ) -> _Keyed | None:
        if len(on_host) < 2:
            return None
        return hostname, Finding(
            pattern=Pattern.NODE_CORRELATED,
            confidence=_confidence(len(on_host)),
            severity=Severity.HIGH,
            gpu_uuid=signal.gpu_uuid,
            sm_id=None,
            description=f"{len(on_host)} GPUs on host {hostname} failed within {self._span()}",
            recommended_action=f"inspect node {hostname}: power supply, cooling, PCIe/NVLink",
            events=tuple(seen.event_id for seen in sorted(on_host.values(), key=_by_ts)),
        )

    def _firmware_correlated(
        self,
        signal: Signal,
        version: tuple[str, str],
        on_version: dict[str, _Seen],
        cutoff: float,
    ) -> _Keyed | None:
        failing = len(on_version)
        if failing < 3 or len({seen.hostname for seen in on_version.values()}) < 2:
            return None
        counts = self._fleet_counts()
        population = max(counts.get(version, 0), failing)
        rest_population = sum(n for v, n in counts.items() if v != version)
        if rest_population <= 0:
            return None  # the whole fleet runs this version: nothing to compare it with
        rest_failing = len(_live(self._failing, cutoff)) - failing
        share = failing / population
        rest_share = max(rest_failing, 0) / rest_population
        if rest_failing > 0 and share < 3 * rest_share:
            return None
        if rest_failing <= 0 and (1 - share) ** rest_population > _QUIET_REST_CHANCE:
            # Too few GPUs elsewhere for their silence to mean anything: 3 of 29 on the
            # common firmware failing while the 3 others do not is no evidence against it.
            return None
        driver, firmware = version
        return version, Finding(
            pattern=Pattern.FIRMWARE_CORRELATED,
            confidence=_confidence(failing),
            severity=Severity.HIGH,
            gpu_uuid=signal.gpu_uuid,
            sm_id=None,
            description=(
                f"{failing} of {population} GPUs on driver {driver} / firmware {firmware} "
                f"failed within {self._span()} ({share:.1%}, against {rest_share:.1%} "
                "elsewhere in the fleet)"
            ),
            recommended_action=(
                f"roll back or upgrade driver {driver} / firmware {firmware} on the affected GPUs"
            ),
            events=tuple(seen.event_id for seen in sorted(on_version.values(), key=_by_ts)),
        )

    def _cooled(self, pattern: int, key: Hashable, now: float) -> bool:
        """Whether (pattern, key) may be reported at ``now``; if so, restart its cooldown."""
        last = self._emitted.get((pattern, key))
        if last is not None and now - last < self.policy.correlation_cooldown_seconds:
            return False
        self._emitted[(pattern, key)] = now
        return True

    def _sweep(self, now: float, cutoff: float) -> None:
        """Forget whatever left the window, for GPUs, hosts and versions gone quiet too."""
        self._swept_at = now
        for gpu in list(self._recent):
            recent = self._recent[gpu]
            while recent and recent[0].ts <= cutoff:
                recent.popleft()
            if not any(s.ts > cutoff for s in recent):
                del self._recent[gpu]
        _live(self._failing, cutoff)
        _drop_quiet(self._by_host, cutoff)
        _drop_quiet(self._by_version, cutoff)
        cooldown = self.policy.correlation_cooldown_seconds
        self._emitted = {k: t for k, t in self._emitted.items() if now - t < cooldown}

    def _span(self) -> str:
        return f"{self.policy.correlation_window_seconds:g} s"


def _finding(
    pattern: Pattern,
    confidence: float,
    base: Severity,
    signals: Sequence[Signal],
    gpu_uuid: str,
    sm_id: int | None,
    description: str,
    recommended_action: str,
) -> Finding:
    """A per-GPU finding, as severe as its worst signal and at least ``base``."""
    ordered = sorted(signals, key=_by_ts)
    return Finding(
        pattern=pattern,
        confidence=confidence,
        severity=max([base, *(s.severity for s in signals if s.severity in _SEVERITIES)]),
        gpu_uuid=gpu_uuid,
        sm_id=sm_id,
        description=description,
        recommended_action=recommended_action,
        events=tuple(dict.fromkeys(s.event_id for s in ordered)),
    )


def _confidence(corroborating: int) -> float:
    """Each corroborating signal halves the remaining doubt; never quite certain."""
    return min(0.99, 1.0 - 0.5**corroborating)


def _class_name(kind: str, anomaly_type: int) -> str:
    if kind != ANOMALY:
        return "probe failures"
    if anomaly_type in _ANOMALY_KINDS:
        return AnomalyKind(anomaly_type).name
    return f"anomaly {anomaly_type}"


def _by_ts(item: Signal | _Seen) -> float:
    return item.ts


def _note(index: dict[str, _Seen], gpu_uuid: str, seen: _Seen) -> None:
    """Record ``gpu_uuid``'s latest failure; a late report never replaces a newer one."""
    previous = index.get(gpu_uuid)
    if previous is None or previous.ts <= seen.ts:
        index[gpu_uuid] = seen


def _live(index: dict[str, _Seen], cutoff: float) -> dict[str, _Seen]:
    """Drop entries at or before ``cutoff`` from ``index`` in place, and return it."""
    for gpu in [gpu for gpu, seen in index.items() if seen.ts <= cutoff]:
        del index[gpu]
    return index


def _drop_quiet(groups: dict[_K, dict[str, _Seen]], cutoff: float) -> None:
    """Drop the groups (hosts, versions) with no failure left in the window."""
    for key in [key for key, index in groups.items() if not _live(index, cutoff)]:
        del groups[key]
