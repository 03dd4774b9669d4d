"""The seed's ``Sentinel``: ingest from Prometheus, train per series, watch drift, retrain,
version, roll back, and serve forecasts.

One thread runs :meth:`Sentinel.cycle` every granularity step; training runs on a separate
worker thread so forecasts keep coming from the serving model meanwhile. Standalone,
:meth:`Sentinel.start` also serves ``/metrics``, the Prometheus query API and remote-read on
``emitter_port``; inside the Sentinel server the forecast domain serves them instead.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from sentinel.forecast import backtest
from sentinel.forecast._prometheus import PrometheusClient, PrometheusError
from sentinel.forecast.artifacts import ArtifactStore, open_artifacts
from sentinel.forecast.config import SentinelConfig, WatchConfig
from sentinel.forecast.drift import DriftMonitor, Severity
from sentinel.forecast.models import BUILTIN
from sentinel.forecast.models.base import BaseModel, ModelError
from sentinel.forecast.series import Forecast, SeriesState, series_key
from sentinel.forecast.sharding import ShardLeases
from sentinel.forecast.versions import Version, VersionError, VersionStore

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""Seconds between cycles while Prometheus is unreachable."""
GONE_AFTER = 5
"""Steps without data after which a series that Prometheus no longer returns is dropped."""


def selector(watch: WatchConfig) -> str:
    """The PromQL selector of a watch: ``metric{k="v",...}``."""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(watch.labels.items())
    )
    return f"{watch.metric}{{{inner}}}" if inner else watch.metric


class Sentinel:
    """Forecasts for every series the watches match."""

    def __init__(
        self,
        config: SentinelConfig,
        *,
        artifacts: ArtifactStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.prometheus = PrometheusClient(config.prometheus_url, config.scrape_timeout)
        self.artifacts = artifacts or open_artifacts(config.artifact_store, config.s3_endpoint_url)
        self._lock = threading.RLock()
        self._series: dict[str, SeriesState] = {}
        self._watch_problems: dict[int, list[str]] = {}
        self._counter: dict[int, bool] = {}
        self._ingested: dict[int, int] = {}
        self._cron_cache: dict[int, tuple[float, float]] = {}
        self.leases: ShardLeases | None = (
            ShardLeases(config.shard_database_url, config.shards)
            if config.shard_database_url
            else None
        )
        """The shards this worker forecasts, when several workers share the watches."""
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentinel-train")
        self._pending: set[Future[None]] = set()
        self._cycling = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emitter: Any = None
        self.cycles = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, block: bool = True) -> Sentinel:
        """Serve on ``emitter_port`` and start the ingest/predict loop.

        Like the published package, blocks until :meth:`stop` (or Ctrl-C); with
        ``block=False`` returns at once (self), the work going on in daemon threads.
        """
        from sentinel.forecast.emitter import serve

        if self._emitter is None:
            self._emitter = serve(self, self.config.emitter_host, self.config.emitter_port)
        self.start_loop()
        if block:
            try:
                self._stop.wait()
            except KeyboardInterrupt:
                self.stop()
        return self

    @property
    def emitter_url(self) -> str:
        """Base URL of the standalone emitter once :meth:`start` ran."""
        host, port = self._emitter.server_address[:2]
        return f"http://{host}:{port}"

    def start_loop(self) -> Sentinel:
        """Start the ingest/predict loop only (the server's domain serves the endpoints)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="sentinel-forecast", daemon=True
            )
            self._thread.start()
        return self

    def _loop(self) -> None:
        step = min((w.step_s for w in self.config.watches), default=60.0)
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception:
                log.exception("forecast cycle failed")
            wait = step - (self.clock() % step) + 0.05
            if self.unreachable():
                wait = min(wait, RETRY_S)  # come back soon when Prometheus returns
            self._stop.wait(wait)

    def unreachable(self) -> bool:
        """Whether the last cycle could not reach Prometheus for some watch."""
        return any("unreachable" in p for ps in self._watch_problems.values() for p in ps)

    def stop(self) -> None:
        """Stop the loop, the emitter and the trainer (waits for a running training)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._emitter is not None:
            self._emitter.shutdown()
            self._emitter.server_close()
            self._emitter = None
        self._trainer.shutdown(wait=True, cancel_futures=True)
        if self.leases is not None:
            self.leases.close()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait for queued training to finish; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._pending if not f.done()]
            if not pending:
                return True
            if time.monotonic() > deadline:
                return False
            pending[0].exception(timeout=max(0.0, deadline - time.monotonic()))

    # -- the cycle -----------------------------------------------------------------------

    def cycle(self) -> None:
        """One round: ingest new data for every watch, judge drift, schedule training,
        forecast. Safe to call from any thread (one cycle runs at a time)."""
        with self._cycling:
            self._cycle()

    def _cycle(self) -> None:
        now = self.clock()
        if self.leases is not None:
            before = self.leases.held
            if self.leases.rebalance() - before:
                self._ingested.clear()  # series of the new shards need their history
            with self._lock:
                for key in [k for k in self._series if not self.leases.owns(k)]:
                    del self._series[key]  # another worker holds its shard now
        for n, watch in enumerate(self.config.watches):
            self._ingest(n, watch, now)
        with self._lock:
            states = list(self._series.values())
        for state in states:
            self._maybe_train(state, now)
            self._predict(state, now)
            mae = state.drift.mae()
            if mae is not None:
                state.drift_history.append((now, mae))
        self.cycles += 1

    def _is_counter(self, n: int, watch: WatchConfig) -> bool:
        if watch.counter is not None:
            return watch.counter
        if n not in self._counter:
            try:
                kind = self.prometheus.metric_type(watch.metric)
            except PrometheusError:
                return watch.metric.endswith("_total")
            self._counter[n] = kind == "counter" if kind else watch.metric.endswith("_total")
        return self._counter[n]

    def _ingest(self, n: int, watch: WatchConfig, now: float) -> None:
        step = watch.step_s
        end = int(now // step)
        start = self._ingested.get(n, end - watch.history_steps) + 1
        if start > end:
            return
        counter = self._is_counter(n, watch)
        sel = selector(watch)
        window = f"{int(max(4 * step, 60))}s"
        expr = f"rate({sel}[{window}])" if counter else sel
        try:
            results = self.prometheus.range(expr, start * step, end * step, step)
        except PrometheusError as exc:
            self._watch_problem(n, watch, str(exc))
            return
        problems = [] if results else [f"no series match {sel} in Prometheus"]
        self._watch_problems[n] = problems
        seen = set()
        with self._lock:
            for item in results:
                labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
                key = series_key(watch.metric, labels)
                if self.leases is not None and not self.leases.owns(key):
                    continue
                seen.add(key)
                state = self._series.get(key) or self._add(watch, labels, counter, now)
                state.problems = [p for p in state.problems if not p.startswith("Prometheus")]
                idx = np.array([round(float(t) / step) for t, _ in item["values"]], dtype=int)
                vals = np.array([float(v) for _, v in item["values"]])
                grid = np.full(end - start + 1, np.nan)
                inside = (idx >= start) & (idx <= end)
                grid[idx[inside] - start] = vals[inside]
                last = int(idx.max()) if len(idx) else start - 1
                first = start
                if not len(state.values):
                    known = np.flatnonzero(np.isfinite(grid))
                    first = start + (int(known[0]) if len(known) else 0)
                for i, actual in state.append(first, grid[first - start : last - start + 1]):
                    state.drift.observe(i, actual)
                    if state.forecast is not None:
                        h = len(state.forecast.values)
                        target = state.forecast.first_index + h - 1
                        if i == target:
                            self._remember(state, h - 1)
            for key in [k for k, s in self._series.items() if s.watch is watch and k not in seen]:
                state = self._series[key]
                if end - state.last_index > GONE_AFTER:
                    del self._series[key]
        self._ingested[n] = end

    def _remember(self, state: SeriesState, h: int) -> None:
        f = state.forecast
        assert f is not None
        lo = float(f.lower[h]) if f.lower is not None else float("nan")
        hi = float(f.upper[h]) if f.upper is not None else float("nan")
        state.past.append((f.first_index + h, float(f.values[h]), lo, hi))

    def _watch_problem(self, n: int, watch: WatchConfig, problem: str) -> None:
        self._watch_problems[n] = [problem]
        with self._lock:
            for state in self._series.values():
                if state.watch is watch:
                    state.problems = [p for p in state.problems if not p.startswith("Prometheus")]
                    state.problems.append(f"{problem}; serving the last forecast")

    def _add(
        self, watch: WatchConfig, labels: dict[str, str], counter: bool, now: float
    ) -> SeriesState:
        key = series_key(watch.metric, labels)
        versions = VersionStore(self.artifacts, key, self.config.max_versions_per_metric)
        state = SeriesState(
            watch=watch,
            metric=watch.metric,
            labels=labels,
            counter=counter,
            versions=versions,
            drift=DriftMonitor(
                watch.drift_finetune_threshold,
                watch.drift_retrain_threshold,
                watch.drift_threshold_mode == "relative",
            ),
        )
        state.next_cron = self._next_cron(watch, now)
        self._restore(state, now)
        self._series[key] = state
        return state

    def _restore(self, state: SeriesState, now: float) -> None:
        """Serve the stored active version, or the newest older one that loads."""
        try:
            if not state.versions.load():
                return
        except VersionError as exc:
            state.problems.append(str(exc))
            return
        current = state.versions.current
        candidates = [
            v for v in reversed(state.versions.versions) if current and v.number <= current.number
        ]
        for version in candidates:
            try:
                state.model = state.versions.load_model(version, self._maker(state.watch))
            except ModelError as exc:
                state.problems.append(f"{exc}; falling back to an older version")
                state.event(now, str(exc))
                continue
            if version is not current:
                state.versions.active = version.version_id
            state.event(now, f"restored {version.version_id} ({version.model_class})")
            return

    def _next_cron(self, watch: WatchConfig, now: float) -> float:
        """The next scheduled retraining after ``now`` (cached per watch: thousands of
        series of one watch share it)."""
        cached = self._cron_cache.get(id(watch))
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[1]
        from croniter import croniter

        nxt = float(croniter(watch.cron, now).get_next(float))
        self._cron_cache[id(watch)] = (now, nxt)
        return nxt

    # -- training ------------------------------------------------------------------------

    def _maker(self, watch: WatchConfig) -> Callable[[str], BaseModel]:
        def make(name: str) -> BaseModel:
            cls = (
                watch.model_class
                if watch.model_class and watch.model_class.__name__ == name
                else BUILTIN.get(name)
            )
            if cls is None:
                raise ModelError(f"no model class named {name!r} is known to this watch")
            return cls(watch.granularity, watch.horizon, watch.lookback)

        return make

    def _candidates(self, watch: WatchConfig) -> list[Callable[[], BaseModel]]:
        classes = [watch.model_class] if watch.model_class else list(BUILTIN.values())
        return [
            functools.partial(c, watch.granularity, watch.horizon, watch.lookback) for c in classes
        ]

    def _maybe_train(self, state: SeriesState, now: float) -> None:
        if state.training or len(state.values) < state.ready_at:
            return
        reason, severity = "", Severity.NONE
        if state.model is None:
            reason = "cold start"
        elif now >= state.next_cron:
            reason = "cron"
        else:
            severity = state.drift.severity(state.scale)
            if severity is not Severity.NONE:
                reason = f"drift ({severity.value})"
        if reason:
            if reason == "cron":
                state.next_cron = self._next_cron(state.watch, now)
            self.train(state.key, reason, severity)

    def train(
        self, key: str, reason: str = "manual", severity: Severity = Severity.HIGH
    ) -> Future[None]:
        """Queue a training run of series ``key`` on the background worker.

        Raises:
            KeyError: no series has that key.
        """
        with self._lock:
            state = self._series[key]
            state.training = True
            future = self._trainer.submit(self._train, state, reason, severity)
            self._pending = {f for f in self._pending if not f.done()} | {future}
        return future

    def _train(self, state: SeriesState, reason: str, severity: Severity) -> None:
        try:
            self._train_once(state, reason, severity)
        except Exception as exc:
            msg = f"training ({reason}) failed: {exc}"
            log.warning("%s: %s", state.key, msg)
            with self._lock:
                state.problems = [p for p in state.problems if not p.startswith("training")]
                state.problems.append(msg + "; serving the last good model")
                state.event(self.clock(), msg)
        finally:
            state.training = False

    def _train_once(self, state: SeriesState, reason: str, severity: Severity) -> None:
        with self._lock:
            values, offset = state.snapshot()
            champion = state.model
        now = self.clock()
        if severity is Severity.LOW and champion is not None and state.versions.current:
            model = state.versions.load_model(state.versions.current, self._maker(state.watch))
            at = backtest.origins(
                len(values), max(model.min_history, model.n_lags), model.horizon_steps
            )
            fitted = model.partial_fit_series(values, offset)
            result = backtest.evaluate(model, values, offset, at)
            scores: dict[str, float] = {type(model).__name__: result.mae}
            policy = "finetune"
        else:
            choice = backtest.choose(self._candidates(state.watch), values, offset)
            model, result, scores = choice.model, choice.backtest, choice.scores
            fitted = None
            policy = "full_retrain"
        h = model.horizon_steps
        at = backtest.origins(len(values), max(model.min_history, model.n_lags), h)
        serve = True
        if champion is not None and at:
            try:
                champion_mae = backtest.evaluate(champion, values, offset, at).mae
            except (ModelError, ValueError):
                champion_mae = float("inf")
            serve = result.mae < champion_mae
        lower, upper = result.interval()
        version = Version(
            version_id="",
            number=0,
            model_class=type(model).__name__,
            trained_at=now,
            training_policy=policy,
            backtest_mae=result.mae,
            train_mae=float(fitted.mae) if fitted is not None else float("nan"),
            n_samples=len(values),
            lower=lower.tolist(),
            upper=upper.tolist(),
            scores=scores,
            reason=reason,
        )
        with self._lock:
            state.versions.add(model, version, serve)
            state.problems = [
                p for p in state.problems if not p.startswith(("training", "the artifact"))
            ]
            if serve:
                state.model = model
                state.drift.reset()
            state.last_trained = now
            verdict = "serving" if serve else "kept the champion (challenger did not beat it)"
            state.event(
                now,
                f"{version.version_id} {version.model_class} ({reason}, {policy}): "
                f"backtest MAE {result.mae:.4g}, {verdict}",
            )
        if serve:
            self._predict(state, self.clock())  # serve the new model now, not next cycle

    # -- forecasting ---------------------------------------------------------------------

    def _predict(self, state: SeriesState, now: float) -> None:
        with self._lock:
            model, version = state.model, state.versions.current
            if model is None or version is None or not len(state.values):
                return
            values, offset = state.snapshot()
        try:
            predicted = model.forecast(values, offset)
        except (ModelError, ValueError, FloatingPointError) as exc:
            state.problems = [p for p in state.problems if not p.startswith("forecast")]
            state.problems.append(f"forecast failed: {exc}; serving the last forecast")
            return
        if not np.isfinite(predicted).all():
            state.problems.append("forecast was not finite; serving the last forecast")
            return
        lower = (
            predicted + np.asarray(version.lower) if len(version.lower) == len(predicted) else None
        )
        upper = (
            predicted + np.asarray(version.upper) if len(version.upper) == len(predicted) else None
        )
        first = offset + len(values)
        with self._lock:
            state.problems = [p for p in state.problems if not p.startswith("forecast")]
            if state.forecast is None or state.forecast.first_index != first:
                state.drift.expect(first, predicted)
            state.forecast = Forecast(
                first_index=first,
                step_s=state.watch.step_s,
                values=predicted,
                lower=lower,
                upper=upper,
                version=version.version_id,
                made_at=now,
            )

    # -- reading -------------------------------------------------------------------------

    def series(self) -> list[SeriesState]:
        """Every series now watched, by key."""
        with self._lock:
            return [self._series[k] for k in sorted(self._series)]

    def get(self, key: str) -> SeriesState | None:
        with self._lock:
            return self._series.get(key)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per series: the seed's keys (``ready``, ``active_version``, ``active_version_mae``,
        ``drift_mae``, ``buffer_fill``) and ``model``, ``training``, ``problems``. A watch that
        matches no series yet appears under its selector."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for n, watch in enumerate(self.config.watches):
                problems = self._watch_problems.get(n, ["waiting for data"])
                # A watch whose series all live on other workers' shards is not waiting.
                if problems and not any(s.watch is watch for s in self._series.values()):
                    out[selector(watch)] = {
                        "ready": False,
                        "active_version": None,
                        "active_version_mae": None,
                        "drift_mae": None,
                        "buffer_fill": 0.0,
                        "model": None,
                        "training": False,
                        "problems": list(problems),
                    }
            for key, s in sorted(self._series.items()):
                current = s.versions.current
                out[key] = {
                    "ready": s.forecast is not None,
                    "active_version": current.version_id if current else None,
                    "active_version_mae": current.backtest_mae if current else None,
                    "drift_mae": s.drift.mae(),
                    "buffer_fill": min(1.0, len(s.values) / s.ready_at),
                    "model": current.model_class if current else None,
                    "training": s.training,
                    "problems": list(s.problems),
                }
        return out

    def rollback(self, metric: str, labels: dict[str, str] | None = None) -> dict[str, str]:
        """Serve the previous version of every series of ``metric`` whose labels include
        ``labels``; returns ``{series key: version now served}``.

        Raises:
            KeyError: no series matches.
            VersionError: a matching series has no older version (nothing changed).
        """
        wanted = labels or {}
        with self._lock:
            states = [
                s
                for s in self._series.values()
                if s.metric == metric and all(s.labels.get(k) == v for k, v in wanted.items())
            ]
            if not states:
                raise KeyError(f"no watched series of {series_key(metric, wanted)}")
            stuck = [
                s.key
                for s in states
                if not any(
                    v.number < (s.versions.current.number if s.versions.current else 0)
                    for v in s.versions.versions
                )
            ]
            if stuck:
                raise VersionError(f"no older version to roll back to for {', '.join(stuck)}")
            done = {}
            for s in states:
                version = s.versions.rollback()
                s.model = s.versions.load_model(version, self._maker(s.watch))
                s.drift.reset()
                s.forecast = None
                s.event(self.clock(), f"rolled back to {version.version_id}")
                done[s.key] = version.version_id
        for s in states:
            self._predict(s, self.clock())
        return done
