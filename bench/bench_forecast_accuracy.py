"""Forecast accuracy at the seed's default horizon (5 steps), rolling origin: MASE and
sMAPE of every model, beside the seasonal naive baseline, Prometheus's own
``predict_linear`` and ``holt_winters`` (computed by the real Prometheus binary over
backfilled copies of the series), statsforecast's AutoETS, and the published
``sentinel-mlops`` models (run from their own virtual environment). Also the measured
coverage of the 90 % intervals, and fit/predict time per series.

Series: real ones shipped inside ``statsmodels`` (co2, sunspots, elnino, nile, macrodata)
and synthetic service metrics at 1-minute granularity with a daily season and a trend.

    .venv/bin/python bench/bench_forecast_accuracy.py [--mlops-python /tmp/mlops-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np

from sentinel.forecast import backtest
from sentinel.forecast.models import BUILTIN, BaseModel
from sentinel.forecast.prometheus_process import PrometheusProcess

H = 5
ORIGINS = 10
COVERAGE_ORIGINS = 10


def real_series() -> dict[str, tuple[np.ndarray, int, str]]:
    """``name -> (values, season length, granularity)`` from statsmodels' datasets."""
    import statsmodels.api as sm

    out: dict[str, tuple[np.ndarray, int, str]] = {}
    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().to_numpy()
    out["co2 (weekly)"] = (co2, 52, "7d")
    out["sunspots (yearly)"] = (
        sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(),
        1,
        "365d",
    )
    nino = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().ravel()
    out["elnino (monthly)"] = (nino, 12, "30d")
    out["nile (yearly)"] = (sm.datasets.nile.load_pandas().data["volume"].to_numpy(), 1, "365d")
    macro = sm.datasets.macrodata.load_pandas().data
    for col in ("realgdp", "realcons", "realinv", "cpi", "unemp", "m1", "tbilrate"):
        out[f"macro {col} (quarterly)"] = (macro[col].to_numpy(dtype=float), 4, "91d")
    return {k: (np.asarray(v, dtype=float), m, g) for k, (v, m, g) in out.items()}


def synthetic_series() -> dict[str, tuple[np.ndarray, int, str]]:
    """Service metrics over three days at 1-minute steps: daily season, trend, noise."""
    rng = np.random.default_rng(2024)
    t = np.arange(3 * 1440, dtype=float)
    day = 2 * np.pi * t / 1440
    out = {
        "latency": 0.25
        + 0.06 * np.sin(day)
        + 0.02 * np.sin(2 * day)
        + 1e-5 * t
        + rng.normal(0, 0.01, t.size),
        "request rate": 40 + 25 * np.sin(day - 1) + 0.002 * t + rng.normal(0, 2, t.size),
        "queue depth": np.maximum(
            0, 20 + 12 * np.sin(day) + np.cumsum(rng.normal(0, 0.3, t.size)) * 0.1
        ),
        "cpu (ar noise)": 50
        + 15 * np.sin(day)
        + np.convolve(rng.normal(0, 2, t.size), np.ones(15) / 4, "same"),
        "errors (multiplicative)": (5 + 0.001 * t) * (1 + 0.6 * np.sin(day))
        + rng.normal(0, 0.4, t.size),
        "memory (level shift)": 800
        + 60 * np.sin(day)
        + 150 * (t > 3000)
        + rng.normal(0, 5, t.size),
    }
    return {f"synthetic {k}": (v, 1440, "1m") for k, v in out.items()}


def origins(n: int) -> list[int]:
    return sorted(n - H - k * H for k in range(ORIGINS))


def scale(y: np.ndarray, m: int) -> float:
    m = m if len(y) > 2 * m else 1
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def our_factories(g: str, lags: int) -> dict[str, Callable[[], BaseModel]]:
    step = g[:-1], g[-1]
    n, unit = int(step[0]), step[1]
    horizon, lookback = f"{n * H}{unit}", f"{n * lags}{unit}"
    return {name: (lambda c=cls: c(g, horizon, lookback)) for name, cls in BUILTIN.items()}


def run_ours(series: dict[str, tuple[np.ndarray, int, str]]) -> tuple[dict, dict, dict]:
    forecasts: dict[str, dict[str, list]] = {}
    timing: dict[str, list[tuple[float, float]]] = {}
    chosen: dict[str, list[str]] = {}
    coverage = {"hits": 0, "total": 0}
    for sid, (y, _m, g) in series.items():
        lags = 30 if len(y) >= 1000 else 12
        factories = our_factories(g, lags)
        for name, make in [*factories.items(), ("Sentinel auto choice", None)]:
            rows = []
            for o in origins(len(y)):
                if make is None:
                    choice = backtest.choose(list(factories.values()), y[:o], 0)
                    f = choice.model.forecast(y[:o], 0)
                    chosen.setdefault(sid, []).append(type(choice.model).__name__)
                    lo, hi = choice.backtest.interval()
                    if len(lo) == H:
                        inside = (y[o : o + H] >= f + lo) & (y[o : o + H] <= f + hi)
                        coverage["hits"] += int(inside.sum())
                        coverage["total"] += H
                else:
                    model = make()
                    t0 = time.perf_counter()
                    model.fit_series(y[:o], 0)
                    t1 = time.perf_counter()
                    f = model.forecast(y[:o], 0)
                    t2 = time.perf_counter()
                    if sid.startswith("synthetic"):
                        timing.setdefault(name, []).append((t1 - t0, t2 - t1))
                rows.append(np.asarray(f, dtype=float).tolist())
            forecasts.setdefault(name, {})[sid] = rows
    return forecasts, {"timing": timing, "coverage": coverage}, chosen


def run_prometheus(series: dict[str, tuple[np.ndarray, int, str]], workdir: Path) -> dict:
    """``predict_linear`` and ``holt_winters`` evaluated by the real Prometheus: each series
    is backfilled one sample per minute, and queried at each origin's last sample."""
    end = (time.time() // 60 - 180) * 60
    lines = ["# TYPE bench_series gauge"]
    stamps = {}
    for n, (sid, (y, _m, _g)) in enumerate(series.items()):
        ts = end - 60.0 * (len(y) - 1 - np.arange(len(y)))
        stamps[sid] = ts
        lines += [f'bench_series{{id="s{n}"}} {v:.10g} {t:.0f}' for v, t in zip(y, ts, strict=True)]
    lines.append("# EOF")
    prom = PrometheusProcess(workdir)
    prom.backfill("\n".join(lines) + "\n")
    prom.start()
    out: dict[str, dict[str, list]] = {
        "Prometheus predict_linear": {},
        "Prometheus holt_winters(0.3, 0.1)": {},
    }
    try:
        with httpx.Client(base_url=prom.url, timeout=30) as client:

            def instant(q: str, t: float) -> float:
                r = client.get("/api/v1/query", params={"query": q, "time": t}).json()
                res = r["data"]["result"]
                return float(res[0]["value"][1]) if res else float("nan")

            for n, (sid, (y, _m, _g)) in enumerate(series.items()):
                lags = 30 if len(y) >= 1000 else 12
                sel = f'bench_series{{id="s{n}"}}[{lags}m]'
                pl, hw = [], []
                for o in origins(len(y)):
                    t = stamps[sid][o - 1]
                    pl.append(
                        [instant(f"predict_linear({sel}, {60 * h})", t) for h in range(1, H + 1)]
                    )
                    hw.append([instant(f"holt_winters({sel}, 0.3, 0.1)", t)] * H)
                out["Prometheus predict_linear"][sid] = pl
                out["Prometheus holt_winters(0.3, 0.1)"][sid] = hw
    finally:
        prom.stop()
    return out


def run_autoets(series: dict[str, tuple[np.ndarray, int, str]]) -> tuple[dict, float | None]:
    try:
        from statsforecast.models import AutoETS
    except ImportError:
        return {}, None
    out: dict[str, list] = {}
    times = []
    for sid, (y, m, _g) in series.items():
        season = m if 1 < m <= 52 else 1  # ETS with a 1440-step season is not practical
        rows = []
        for o in origins(len(y)):
            t0 = time.perf_counter()
            rows.append(AutoETS(season_length=season).forecast(y=y[:o], h=H)["mean"].tolist())
            if sid.startswith("synthetic"):
                times.append(time.perf_counter() - t0)
        out[sid] = rows
    return {"statsforecast AutoETS": out}, float(np.median(times)) if times else None


def run_mlops(series: dict[str, tuple[np.ndarray, int, str]], python: str) -> tuple[dict, dict]:
    if not Path(python).exists():
        return {}, {}
    job = {
        "granularity": "1m",
        "horizon": f"{H}m",
        "lookback": "30m",
        "series": {k: v.tolist() for k, (v, _m, _g) in series.items() if len(v) >= 1000},
        "origins": {k: origins(len(v)) for k, (v, _m, _g) in series.items()},
    }
    short = {
        "granularity": "1m",
        "horizon": f"{H}m",
        "lookback": "12m",
        "series": {k: v.tolist() for k, (v, _m, _g) in series.items() if len(v) < 1000},
        "origins": job["origins"],
    }
    merged: dict[str, dict[str, list]] = {}
    times: dict[str, tuple[float | None, float | None]] = {}
    script = str(Path(__file__).with_name("bench_forecast_published.py"))
    for spec in (job, short):
        if not spec["series"]:
            continue
        done = subprocess.run(
            [python, script], input=json.dumps(spec), capture_output=True, text=True, check=True
        )
        result = json.loads(done.stdout)
        for model, per in result["forecasts"].items():
            merged.setdefault(model, {}).update(per)
            if spec is job:
                times[model] = (result["fit_s"][model], result["predict_s"][model])
    return merged, times


def score(
    forecasts: dict[str, dict[str, list]], series: dict[str, tuple[np.ndarray, int, str]]
) -> dict:
    """``model -> series -> (MASE, sMAPE %)``; a series a model could not forecast is NaN."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for model, per in forecasts.items():
        for sid, rows in per.items():
            y, m, _g = series[sid]
            os_ = origins(len(y))
            errs, smape = [], []
            ok = True
            for o, f in zip(os_, rows, strict=True):
                if not isinstance(f, list) or len(f) < H or not np.all(np.isfinite(f[:H])):
                    ok = False
                    break
                a, p = y[o : o + H], np.asarray(f[:H], dtype=float)
                errs.append(np.abs(a - p))
                smape.append(2 * np.abs(a - p) / np.maximum(np.abs(a) + np.abs(p), 1e-12))
            s = scale(y[: os_[0]], m)
            out.setdefault(model, {})[sid] = (
                (float(np.mean(errs)) / s, float(np.mean(smape)) * 100)
                if ok
                else (math.nan, math.nan)
            )
    return out


def table(scores: dict, series: dict, group: str) -> list[str]:
    names = [s for s in series if s.startswith("synthetic") == (group == "synthetic")]
    rows = []
    for model, per in scores.items():
        mase = [per[s][0] for s in names if s in per]
        smape = [per[s][1] for s in names if s in per]
        failed = sum(1 for v in mase if math.isnan(v))
        good = [v for v in mase if not math.isnan(v)]
        if not good:
            continue
        rows.append((float(np.median(good)), model, float(np.nanmedian(smape)), failed, len(names)))
    rows.sort()
    out = [
        f"| model | median MASE ({group}) | median sMAPE % | series failed |",
        "| --- | ---: | ---: | ---: |",
    ]
    out += [f"| {m} | {a:.3f} | {b:.2f} | {f}/{n} |" for a, m, b, f, n in rows]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlops-python", default="/tmp/mlops-venv/bin/python")
    args = parser.parse_args()
    series = {**real_series(), **synthetic_series()}
    started = time.perf_counter()
    forecasts, extra, chosen = run_ours(series)
    with tempfile.TemporaryDirectory() as tmp:
        forecasts.update(run_prometheus(series, Path(tmp)))
    ets, ets_s = run_autoets(series)
    forecasts.update(ets)
    mlops, mlops_times = run_mlops(series, args.mlops_python)
    forecasts.update(mlops)
    scores = score(forecasts, series)
    print(
        f"# Forecast accuracy ({platform.processor() or platform.machine()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d}, {time.perf_counter() - started:.0f} s)"
    )
    print(f"horizon {H} steps, {ORIGINS} rolling origins per series, refit at every origin\n")
    for group in ("real", "synthetic"):
        print("\n".join(table(scores, series, group)) + "\n")
    print("Automatic choice per series (most frequent over the origins):")
    for sid, names in chosen.items():
        top = max(set(names), key=names.count)
        print(f"- {sid}: {top} ({names.count(top)}/{len(names)})")
    cov = extra["coverage"]
    print(
        f"\n90 % interval coverage (automatic choice, all series): "
        f"{cov['hits'] / max(cov['total'], 1):.1%} of {cov['total']} points\n"
    )
    print("| model | fit ms (median, 1-min series of ~4,300 points) | predict ms |")
    print("| --- | ---: | ---: |")
    for name, pairs in extra["timing"].items():
        f, p = np.median([a for a, _ in pairs]) * 1e3, np.median([b for _, b in pairs]) * 1e3
        print(f"| {name} | {f:.2f} | {p:.3f} |")
    for name, (f, p) in mlops_times.items():
        if f is not None and p is not None:
            print(f"| {name} | {f * 1e3:.2f} | {p * 1e3:.3f} |")
    if ets_s is not None:
        print(f"| statsforecast AutoETS (fit + predict) | {ets_s * 1e3:.2f} | — |")


if __name__ == "__main__":
    main()
