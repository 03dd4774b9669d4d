"""The baseline of one (service, model): windows, learned history, references, and checks.

Everything runs on event time. An event opens or fills the window its timestamp falls in;
the first event of a later window closes the earlier ones, which are scored against the
baseline and, when normal, learned. So the same events in the same order always give the
same anomalies at the same event times, live or replayed at full speed. The whole state is
JSON (:meth:`Baseline.to_state`), persisted so a restart resumes instead of relearning.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sentinel.llm import checks
from sentinel.llm.checks import Finding, finite
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.findings import Anomaly, GpuReport, WindowRecord, anomaly_id, severity_for
from sentinel.llm.judge import Verdict
from sentinel.llm.learned import LstmAutoencoder, OutlierModel
from sentinel.llm.security import Threat
from sentinel.llm.settings import LlmSettings
from sentinel.llm.types import AnomalyType, DetectionMethod, Severity
from sentinel.llm.windows import Window, features

log = logging.getLogger("sentinel.llm")

T = AnomalyType
M = DetectionMethod
_SAMPLE_CAP = 4096
_FEATURE_CAP = 1024
_EMBEDDING_CAP = 400
_EARLY_EVERY = 10
_MAX_GAP_WINDOWS = 10
_LSTM_FIGURES = (
    ("latency_p95_ms", T.LATENCY_SPIKE),
    ("tokens_mean", T.TOKEN_USAGE_SPIKE),
    ("error_rate", T.ERROR_RATE_INCREASE),
    ("count", T.THROUGHPUT_DEGRADATION),
    ("cost_per_1k_tokens", T.COST_ANOMALY),
    ("quality_mean", T.QUALITY_DEGRADATION),
)
_OUTLIER_METHODS = (M.ISOLATION_FOREST, M.ONE_CLASS_SVM)


@dataclass
class Changes:
    """What processing events changed: anomalies to upsert, windows closed, GPU reports."""

    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    windows: list[WindowRecord] = field(default_factory=list)
    gpu_reports: list[GpuReport] = field(default_factory=list)

    def merge(self, other: Changes) -> None:
        self.anomalies.update(other.anomalies)
        self.windows.extend(other.windows)
        self.gpu_reports.extend(other.gpu_reports)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na and nb else 0.0


class Baseline:
    """Learns what normal looks like for one (service, model) and scores every window."""

    def __init__(
        self, service: str, model: str, settings: LlmSettings, lstm: bool, state: dict | None
    ) -> None:
        self.service, self.model, self.s = service, model, settings
        self.lstm_enabled = lstm
        st = state or {}
        self.events: int = st.get("events", 0)
        self.late: int = st.get("late", 0)
        self.closed: int = st.get("closed", 0)
        w = st.get("window")
        self.window: Window | None = Window.from_state(w) if w else None
        self.history: deque[dict[str, float]] = deque(
            st.get("history", []), maxlen=settings.history_windows
        )
        self.sample: dict[str, Any] = st.get("sample") or (
            {
                "prompt": [],
                "completion": [],
                "latency": [],
                "features": [],
                "embeddings": [],
                "finish": {},
                "low_quality": 0,
                "n": 0,
            }
        )
        self.reference: dict[str, Any] | None = st.get("reference")
        self.ring: deque[dict[str, Any]] = deque(st.get("ring", []), maxlen=settings.drift_windows)
        self.gpu_ring: dict[str, deque[list[int]]] = {
            g: deque(r, maxlen=settings.drift_windows) for g, r in st.get("gpu_ring", {}).items()
        }
        self.cusum: list[float] = st.get("cusum", [0.0, 0.0])
        self.open: dict[str, Anomaly] = {
            k: _anomaly_from_state(v) for k, v in st.get("open", {}).items()
        }
        self._outliers: dict[DetectionMethod, OutlierModel] | None = None
        self._lstm: LstmAutoencoder | None = None
        self._lstm_failed = False
        self._drifting = False
        # A partial window has fewer events, so its figures are noisier: stricter thresholds.
        self._early = replace(
            settings,
            z_threshold=settings.z_threshold * 1.5,
            mad_threshold=settings.mad_threshold * 1.5,
            iqr_k=settings.iqr_k * 1.5,
            outlier_z=settings.outlier_z * 1.5,
        )

    # -- state -------------------------------------------------------------------------

    @property
    def warm(self) -> bool:
        return self.reference is not None

    def to_state(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "late": self.late,
            "closed": self.closed,
            "window": self.window.to_state() if self.window else None,
            "history": list(self.history),
            "sample": self.sample if not self.warm else None,
            "reference": self.reference,
            "ring": list(self.ring),
            "gpu_ring": {g: list(r) for g, r in self.gpu_ring.items()},
            "cusum": self.cusum,
            "open": {k: _anomaly_state(a) for k, a in self.open.items()},
        }

    # -- events ------------------------------------------------------------------------

    def observe(self, event: TelemetryEvent, verdict: Verdict, threats: list[Threat]) -> Changes:
        """Fold one event in; returns what it changed."""
        changes = Changes()
        ts = event.timestamp.timestamp()
        width = self.s.window_s
        start = math.floor(ts / width) * width
        self.events += 1
        if self.window is None:
            self.window = Window(start)
        elif start < self.window.start:
            self.late += 1  # windows already scored stay as they were; threats still count
            self._threats(event, threats, ts, self.window.start, changes)
            return changes
        elif start > self.window.start:
            gap = int((start - self.window.start) // width)
            self._close(self.window, changes)
            for i in range(1, min(gap, _MAX_GAP_WINDOWS)):
                self._close(Window(self.window.start + i * width), changes)
            self.window = Window(start)
        win = self.window
        win.add(event, verdict, self._similarity(event))
        if not self.warm:
            self._collect(event, verdict)
        self._threats(event, threats, ts, win.start, changes)
        if self.warm and win.count >= self.s.min_events and win.count % _EARLY_EVERY == 0:
            figures = win.figures()
            for f in self._point_checks(figures, closed=False, s=self._early):
                self._emit(f, win.start, ts, changes)
        return changes

    def _similarity(self, event: TelemetryEvent) -> float | None:
        emb = event.response.embedding or event.prompt.embedding
        ref = self.reference
        if emb is None or not ref or not ref.get("centroid"):
            return None
        centroid = np.asarray(ref["centroid"])
        if len(emb) != len(centroid):
            return None
        return _cosine(np.asarray(emb, dtype=np.float64), centroid)

    def _collect(self, event: TelemetryEvent, verdict: Verdict) -> None:
        s = self.sample
        s["n"] += 1
        s["low_quality"] += verdict.quality < 0.5
        reason = event.response.finish_reason or "stop"
        s["finish"][reason] = s["finish"].get(reason, 0) + 1
        if len(s["prompt"]) < _SAMPLE_CAP:
            s["prompt"].append(event.prompt.tokens)
            s["completion"].append(event.response.tokens)
            s["latency"].append(float(event.latency_ms))
        if len(s["features"]) < _FEATURE_CAP:
            s["features"].append(features(event.prompt.tokens, event.response.tokens))
        emb = event.response.embedding or event.prompt.embedding
        if emb is not None and len(s["embeddings"]) < _EMBEDDING_CAP:
            s["embeddings"].append([float(x) for x in emb])

    def _threats(
        self, event: TelemetryEvent, threats: list[Threat], ts: float, start: float, ch: Changes
    ) -> None:
        for t in threats:
            critical = t.kind == "secret_leak"
            self._emit(
                Finding(
                    T.SECURITY_THREAT,
                    M.LLM_CHECK,
                    score=6.0 if critical else 3.0,
                    threshold=1.0,
                    metric="count",
                    value=1.0,
                    expected=0.0,
                    evidence={
                        "kind": t.kind,
                        "pattern": t.pattern,
                        "where": t.where,
                        "excerpt": t.excerpt,
                        "event_id": str(event.event_id),
                        "trace_id": event.trace_id,
                    },
                ),
                start,
                ts,
                ch,
            )

    # -- windows -----------------------------------------------------------------------

    def _close(self, win: Window, changes: Changes) -> None:
        self.closed += 1
        figures = win.figures()
        changes.windows.append(WindowRecord(self.service, self.model, win.start, figures))
        at = win.start + self.s.window_s
        if not self.warm:
            self._learn(figures)
            if len(self.history) >= self.s.warmup_windows:
                self._build_reference()
            return
        found = self._point_checks(figures, closed=True)
        entry = self._ring_entry(win)
        if not found:
            # A window that spiked would pull the pooled distributions with it for several
            # windows after the spike; the drift tests look at unremarkable windows only.
            self.ring.append(entry)
        fired = {f.type for f in found}
        found += self._drift_checks(fired)
        fired = {f.type for f in found}
        found += self._outlier_checks(fired)
        found += self._lstm_check(figures, {f.type for f in found})
        for f in found:
            self._emit(f, win.start, at, changes)
        self._gpu_checks(win, at, changes)
        if not any(f.type is not T.SECURITY_THREAT for f in found):
            self._learn(figures)
        horizon = win.start - 2 * self.s.window_s
        self.open = {k: a for k, a in self.open.items() if a.window_end >= horizon}

    def _learn(self, figures: dict[str, float]) -> None:
        if figures["count"] < self.s.min_events:
            figures = {k: (v if k == "count" else float("nan")) for k, v in figures.items()}
        self.history.append(figures)

    def _column(self, name: str) -> np.ndarray:
        return finite([h[name] for h in self.history])

    def _build_reference(self) -> None:
        s = self.sample
        ref: dict[str, Any] = {}
        for name in ("prompt", "completion", "latency"):
            edges = checks.edges_of(s[name])
            ref[name] = {"edges": edges, "hist": checks.histogram(s[name], edges)}
        ref["finish"] = dict(s["finish"])
        ref["low_quality"] = s["low_quality"] / max(s["n"], 1)
        ref["features"] = s["features"]
        embeddings = np.asarray(s["embeddings"], dtype=np.float64)
        if len(embeddings) >= 100:
            # The centroid from one half, the reference similarities from the other: an
            # embedding is closer to a centroid it helped make, which would bias them high.
            half = len(embeddings) // 2
            centroid = embeddings[:half].mean(axis=0)
            sims = [_cosine(e, centroid) for e in embeddings[half:]]
            edges = checks.edges_of(sims)
            ref["centroid"] = [float(x) for x in centroid]
            ref["similarity"] = {"edges": edges, "hist": checks.histogram(sims, edges)}
        self.reference = ref
        self.sample = {}

    def _ring_entry(self, win: Window) -> dict[str, Any]:
        ref = self.reference
        assert ref is not None
        entry: dict[str, Any] = {
            "n": win.count,
            "prompt": checks.histogram(win.prompt_tokens, ref["prompt"]["edges"]),
            "completion": checks.histogram(win.completion_tokens, ref["completion"]["edges"]),
            "latency": checks.histogram(win.latency, ref["latency"]["edges"]),
            "finish": dict(win.finish),
        }
        if "similarity" in ref and win.similarity:
            entry["similarity"] = checks.histogram(win.similarity, ref["similarity"]["edges"])
        models = self._outlier_models()
        if models and win.count:
            x = np.asarray(
                [
                    features(p, c)
                    for p, c in zip(win.prompt_tokens, win.completion_tokens, strict=True)
                ]
            )
            for method, model in models.items():
                entry[method.value] = model.outliers(x)
        return entry

    # -- tests -------------------------------------------------------------------------

    def _point_checks(
        self, fig: dict[str, float], closed: bool, s: LlmSettings | None = None
    ) -> list[Finding]:
        s = s or self.s
        found: list[Finding] = []
        n = int(fig["count"])
        enough = n >= s.min_events
        if enough:
            found += _latency(
                fig, self._column("latency_p95_ms"), self._column("latency_mean_ms"), s
            )
            f = _tokens(fig, self._column("tokens_mean"), s)
            if f:
                found.append(f)
            f = _errors(fig, n, self.history, s)
            if f:
                found.append(f)
            f = _quality(fig, self._column("quality_mean"), s)
            if f:
                found.append(f)
            f = _hallucination(fig, self.history, s)
            if f:
                found.append(f)
        if not closed:
            return found
        f = _throughput(fig, self._column("count"), s)
        if f:
            found.append(f)
        costs = self._column("cost_per_1k_tokens")
        if enough and len(costs) >= 3 and math.isfinite(fig["cost_per_1k_tokens"]):
            _, sums = checks.cusum_step(fig["cost_per_1k_tokens"], costs, self.cusum, s.cusum_k)
            self.cusum = sums
            stat = sums[0]  # dearer tokens only: a cheaper mix is not a cost anomaly
            if stat >= s.cusum_h:
                self.cusum = [0.0, 0.0]  # handled: restart the chart
                found.append(
                    Finding(
                        T.COST_ANOMALY,
                        M.CUSUM,
                        stat,
                        s.cusum_h,
                        "cost_per_1k_tokens",
                        fig["cost_per_1k_tokens"],
                        float(np.median(costs)),
                        {"cost_usd": round(fig["cost_usd"], 6)},
                    )
                )
        return found

    def _pooled(self, key: str) -> list[float] | None:
        ref = self.reference
        if not ref or not self.ring:
            return None
        rows = [e[key] for e in self.ring if key in e]
        if not rows or len({len(r) for r in rows}) != 1:
            return None
        return [float(x) for x in np.sum(np.asarray(rows), axis=0)]

    def _drift_checks(self, fired: set[AnomalyType]) -> list[Finding]:
        ref, s = self.reference, self.s
        assert ref is not None
        found: list[Finding] = []
        self._drifting = False
        total = sum(e["n"] for e in self.ring)
        if total < 100:
            return found
        tests = [
            ("prompt", T.INPUT_DRIFT, "prompt_tokens_mean"),
            ("completion", T.OUTPUT_DRIFT, "completion_tokens_mean"),
            ("latency", T.LATENCY_SPIKE, "latency_p50_ms"),
            ("similarity", T.EMBEDDING_DRIFT, "count"),
        ]
        for key, kind, metric in tests:
            if kind in fired or key not in ref:
                continue
            recent = self._pooled(key)
            if recent is None or sum(recent) < 100:
                continue
            method, score, threshold, ev = checks.divergence(
                ref[key]["hist"], recent, s.psi_threshold, s.kl_threshold
            )
            if key in ("prompt", "completion") and score >= threshold / 2:
                self._drifting = True  # a marginal is moving: not a change of relation alone
            if score >= threshold:
                fired.add(kind)
                found.append(
                    Finding(
                        kind,
                        method,
                        score,
                        threshold,
                        metric,
                        score,
                        0.0,
                        {**ev, "events": int(sum(recent)), "distribution": key},
                    )
                )
        if T.OUTPUT_DRIFT not in fired:
            reasons = sorted(set(ref["finish"]) | {r for e in self.ring for r in e["finish"]})
            recent = [sum(e["finish"].get(r, 0) for e in self.ring) for r in reasons]
            base = [ref["finish"].get(r, 0) for r in reasons]
            kl = float(checks.kl_divergence(recent, base, eps=1e-4))
            if kl >= s.kl_threshold and len(reasons) > 1:
                found.append(
                    Finding(
                        T.OUTPUT_DRIFT,
                        M.KL_DIVERGENCE,
                        kl,
                        s.kl_threshold,
                        "count",
                        kl,
                        0.0,
                        {
                            "distribution": "finish_reason",
                            "recent": dict(zip(reasons, recent, strict=True)),
                        },
                    )
                )
        return found

    def _outlier_models(self) -> dict[DetectionMethod, OutlierModel] | None:
        if self._outliers is None and self.reference and len(self.reference["features"]) >= 50:
            x = np.asarray(self.reference["features"], dtype=np.float64)
            self._outliers = {m: OutlierModel(m, x) for m in _OUTLIER_METHODS}
        return self._outliers

    def _outlier_checks(self, fired: set[AnomalyType]) -> list[Finding]:
        generic_causes = {T.INPUT_DRIFT, T.OUTPUT_DRIFT, T.TOKEN_USAGE_SPIKE}
        models = self._outlier_models()
        if not models or fired & generic_causes or self._drifting:
            return []
        n = sum(e["n"] for e in self.ring)
        last = list(self.ring)[-2:]
        best: Finding | None = None
        for method, model in models.items():
            hits = sum(e.get(method.value, 0) for e in self.ring)
            z = checks.binomial_z(hits, n, model.base_rate)
            # The excess must hold in each of the last two windows: one odd window is noise
            # or the first window of a drift the marginal tests have not caught up with.
            lasting = len(last) == 2 and all(
                e.get(method.value, 0) >= 4 * model.base_rate * max(e["n"], 1) for e in last
            )
            rare = checks.binomial_tail(hits, n, model.base_rate) <= 1e-6
            if (
                z >= self.s.outlier_z
                and hits >= 4 * model.base_rate * n
                and n >= 50
                and lasting
                and rare
            ):
                f = Finding(
                    T.CONCEPT_DRIFT,
                    method,
                    z,
                    self.s.outlier_z,
                    "completion_tokens_mean",
                    hits / n,
                    model.base_rate,
                    {"outliers": hits, "events": n, "expected_share": round(model.base_rate, 4)},
                )
                if best is None or f.score > best.score:
                    best = f
        return [best] if best else []

    def _lstm_check(self, fig: dict[str, float], fired: set[AnomalyType]) -> list[Finding]:
        if not self.lstm_enabled or self._lstm_failed:
            return []
        rows = [h for h in self.history if all(math.isfinite(h[k]) for k, _ in _LSTM_FIGURES)]
        if len(rows) < self.s.lstm_train_windows or not all(
            math.isfinite(fig[k]) for k, _ in _LSTM_FIGURES
        ):
            return []
        names = [k for k, _ in _LSTM_FIGURES]
        if self._lstm is None:
            try:
                self._lstm = LstmAutoencoder(np.asarray([[h[k] for k in names] for h in rows]))
            except ImportError:
                self._lstm_failed = True
                log.warning(
                    "LSTM autoencoder off for %s/%s: torch is missing", self.service, self.model
                )
                return []
        model = self._lstm
        recent = np.asarray(
            [[h[k] for k in names] for h in rows[-(model.seq - 1) :]] + [[fig[k] for k in names]]
        )
        err, per = model.score(recent)
        if err < model.threshold:
            return []
        i = int(np.argmax(per))
        kind = _LSTM_FIGURES[i][1]
        if kind in fired:
            return []
        return [
            Finding(
                kind,
                M.LSTM_AUTOENCODER,
                err,
                model.threshold,
                names[i],
                fig[names[i]],
                float(model.mean[i]),
                {
                    "feature_errors": {
                        n: round(float(e), 4) for n, e in zip(names, per, strict=True)
                    }
                },
            )
        ]

    def _gpu_checks(self, win: Window, at: float, changes: Changes) -> None:
        ref = self.reference
        assert ref is not None
        edges = ref["completion"]["edges"]
        for gpu, rows in win.gpus.items():
            a = np.asarray(rows)
            sig = checks.histogram(a[:, 0], edges) + [int(np.sum(a[:, 1] < 0.5))]
            self.gpu_ring.setdefault(gpu, deque(maxlen=self.s.drift_windows)).append(sig)
        for gpu in list(self.gpu_ring):
            if gpu not in win.gpus:
                self.gpu_ring[gpu].append([0] * (len(edges) + 2))
                if not any(sum(r) for r in self.gpu_ring[gpu]):
                    del self.gpu_ring[gpu]
        n_ref = sum(ref["completion"]["hist"])
        base = list(ref["completion"]["hist"]) + [ref["low_quality"] * n_ref]
        scores, sizes = {}, {}
        for gpu, ring in self.gpu_ring.items():
            pooled = np.sum(np.asarray(list(ring)), axis=0)
            if pooled.sum() >= 30:
                scores[gpu] = float(checks.kl_divergence(pooled, base, eps=1e-4))
                sizes[gpu] = float(pooled.sum())
        if len(scores) < 2:
            return
        # Each GPU sees a fraction of the traffic: its pooled distribution is noisier, so
        # the threshold is at least twice the key's and above the chance level of its size.
        floor = max(2 * self.s.kl_threshold, 0.5)
        df = len(base) - 1
        for gpu, kl in scores.items():
            thr = max(floor, checks.chi2_critical(df) * (1 / sizes[gpu] + 1 / n_ref) / 2)
            others = [v for g, v in scores.items() if g != gpu]
            if kl >= thr and float(np.median(others)) < floor / 2:
                f = Finding(
                    T.OUTPUT_DRIFT,
                    M.KL_DIVERGENCE,
                    kl,
                    thr,
                    "quality_mean",
                    kl,
                    float(np.median(others)),
                    {
                        "gpu_uuid": gpu,
                        "other_gpus": len(others),
                        "other_gpus_kl_median": round(float(np.median(others)), 4),
                        "signal": "output drift on this GPU alone: possible silent data corruption",
                    },
                    gpu=gpu,
                )
                found = self._emit(f, win.start, at, changes)
                if found.windows > 1:
                    continue  # the fleet heard of this drift when it began
                changes.gpu_reports.append(
                    GpuReport(
                        found.anomaly_id,
                        gpu,
                        self.service,
                        self.model,
                        found.severity,
                        kl,
                        thr,
                        at,
                        f"{self.service}/{self.model}: outputs of this GPU drifted (KL {kl:.2f}) "
                        f"while {len(others)} other GPU(s) stayed normal",
                    )
                )

    # -- anomalies ---------------------------------------------------------------------

    def _emit(self, f: Finding, start: float, detected_at: float, changes: Changes) -> Anomaly:
        """Record ``f``: extend the same kind's anomaly of this or the previous window, or
        open a new one."""
        width = self.s.window_s
        key = f"{f.type.value}|{f.gpu}"
        current = self.open.get(key)
        severity = severity_for(f.score / f.threshold if f.threshold else f.score)
        if f.type is T.SECURITY_THREAT:
            severity = (
                Severity.CRITICAL if f.evidence.get("kind") == "secret_leak" else Severity.HIGH
            )
        if current is not None and start <= current.window_end + 0.5 * width:
            end = max(current.window_end, start + width)
            if end > current.window_end:
                current.windows += 1
            current.window_end = end
            if f.type is T.SECURITY_THREAT:
                current.evidence["events"] = current.evidence.get("events", 1) + 1
                current.severity = max(current.severity, severity)
            elif f.score / f.threshold > current.score / current.threshold:
                current.method, current.score, current.threshold = f.method, f.score, f.threshold
                current.metric, current.value, current.expected = f.metric, f.value, f.expected
                current.severity = severity
                current.evidence = {**f.evidence}
            changes.anomalies[current.anomaly_id] = current
            return current
        a = Anomaly(
            anomaly_id=anomaly_id(self.service, self.model, f.type, start, f.gpu),
            service=self.service,
            model=self.model,
            type=f.type,
            method=f.method,
            severity=severity,
            score=float(f.score),
            threshold=float(f.threshold),
            metric=f.metric,
            value=float(f.value) if math.isfinite(f.value) else 0.0,
            expected=float(f.expected) if math.isfinite(f.expected) else 0.0,
            window_start=start,
            window_end=start + width,
            detected_at=detected_at,
            evidence={**f.evidence, **({"events": 1} if f.type is T.SECURITY_THREAT else {})},
            gpu_uuid=f.gpu,
        )
        self.open[key] = a
        changes.anomalies[a.anomaly_id] = a
        return a


def _latency(
    fig: dict[str, float], p95: np.ndarray, mean: np.ndarray, s: LlmSettings
) -> list[Finding]:
    if len(p95) < 3:
        return []
    # Latencies are multiplicative and skewed: tested on a log scale.
    z, hit = checks.mad_high(math.log(fig["latency_p95_ms"]), np.log(p95), s.mad_threshold)
    # The 95th percentile of a small window is nearly its largest value, whose tail is
    # heavier than a MAD shows; a spike must also exceed every normal window seen.
    if hit and fig["latency_p95_ms"] > 1.1 * float(p95.max()):
        return [
            Finding(
                T.LATENCY_SPIKE,
                M.MAD,
                z,
                s.mad_threshold,
                "latency_p95_ms",
                fig["latency_p95_ms"],
                float(np.median(p95)),
                {"robust_z": round(z, 2)},
            )
        ]
    zs = checks.zscore(math.log(fig["latency_mean_ms"]), np.log(mean))
    if zs >= s.z_threshold and fig["latency_mean_ms"] > 1.1 * float(mean.max()):
        return [
            Finding(
                T.LATENCY_SPIKE,
                M.Z_SCORE,
                zs,
                s.z_threshold,
                "latency_mean_ms",
                fig["latency_mean_ms"],
                float(mean.mean()),
                {"z": round(zs, 2)},
            )
        ]
    return []


def _tokens(fig: dict[str, float], hist: np.ndarray, s: LlmSettings) -> Finding | None:
    if len(hist) < 4:
        return None
    fence, dist = checks.iqr_fence(math.log(fig["tokens_mean"]), np.log(hist), s.iqr_k)
    if dist <= s.iqr_k:
        return None
    return Finding(
        T.TOKEN_USAGE_SPIKE,
        M.IQR,
        dist,
        s.iqr_k,
        "tokens_mean",
        fig["tokens_mean"],
        float(np.median(hist)),
        {"upper_fence": round(math.exp(fence), 2)},
    )


def _errors(
    fig: dict[str, float], n: int, history: deque[dict[str, float]], s: LlmSettings
) -> Finding | None:
    rows = [h for h in history if math.isfinite(h["error_rate"])]
    total = sum(h["count"] for h in rows)
    if total < 100:
        return None
    base = sum(h["error_rate"] * h["count"] for h in rows) / total
    rate = fig["error_rate"]
    hits = round(rate * n)
    z = checks.binomial_z(hits, n, base)
    if z < s.z_threshold or rate - base < 0.05 or checks.binomial_tail(hits, n, base) > 1e-6:
        return None
    return Finding(
        T.ERROR_RATE_INCREASE,
        M.Z_SCORE,
        z,
        s.z_threshold,
        "error_rate",
        rate,
        base,
        {"errors": round(rate * n), "events": n},
    )


def _quality(fig: dict[str, float], hist: np.ndarray, s: LlmSettings) -> Finding | None:
    if len(hist) < 3:
        return None
    centre = float(np.median(hist))
    # Quality sits near 1.0 with almost no spread; a floor keeps the score meaningful.
    spread = max(1.4826 * float(np.median(np.abs(hist - centre))), 0.02)
    z = (centre - fig["quality_mean"]) / spread
    if z < s.mad_threshold or centre - fig["quality_mean"] < 0.15:
        return None
    return Finding(
        T.QUALITY_DEGRADATION,
        M.LLM_CHECK,
        z,
        s.mad_threshold,
        "quality_mean",
        fig["quality_mean"],
        centre,
        {"robust_z": round(z, 2)},
    )


def _hallucination(
    fig: dict[str, float], history: deque[dict[str, float]], s: LlmSettings
) -> Finding | None:
    rate = fig["ungrounded_rate"]
    if not math.isfinite(rate):
        return None
    n = round(fig["judged"])
    rows = [h for h in history if math.isfinite(h["ungrounded_rate"])]
    base = float(np.mean([h["ungrounded_rate"] for h in rows])) if rows else 0.0
    hits = round(rate * n)
    z = checks.binomial_z(hits, n, max(base, 0.01))
    tail = checks.binomial_tail(hits, n, max(base, 0.01))
    if z < s.outlier_z or rate - base < 0.1 or n < 10 or tail > 1e-6:
        return None
    return Finding(
        T.HALLUCINATION,
        M.RAG,
        z,
        s.outlier_z,
        "ungrounded_rate",
        rate,
        base,
        {"ungrounded_share": round(rate, 3)},
    )


def _throughput(fig: dict[str, float], counts: np.ndarray, s: LlmSettings) -> Finding | None:
    if len(counts) < 5:
        return None
    centre = float(np.median(counts))
    # Counts are Poisson-like: on a square-root scale their spread no longer grows with the
    # rate, so one threshold suits a quiet service and a busy one.
    z = -checks.robust_zscore(math.sqrt(fig["count"]), np.sqrt(counts))
    if z < s.mad_threshold or fig["count"] > 0.5 * centre:
        return None
    return Finding(
        T.THROUGHPUT_DEGRADATION,
        M.MAD,
        z,
        s.mad_threshold,
        "count",
        fig["count"],
        centre,
        {"robust_z": round(z, 2)},
    )


def _anomaly_state(a: Anomaly) -> dict[str, Any]:
    d = dict(a.__dict__)
    d["type"], d["method"], d["severity"] = a.type.value, a.method.value, a.severity.value
    return d


def _anomaly_from_state(d: dict[str, Any]) -> Anomaly:
    d = dict(d)
    d["type"] = AnomalyType(d["type"])
    d["method"] = DetectionMethod(d["method"])
    d["severity"] = Severity(d["severity"])
    return Anomaly(**d)
