"""Runs the published ``sentinel-mlops`` models on series given as JSON on stdin.

Its top-level package is also named ``sentinel``, so this file runs under the separate
virtual environment where it is installed (``/tmp/mlops-venv``), called by
``bench_forecast_accuracy.py``; it imports nothing from this project. For each series and
origin it builds the published feature matrix (lags, rolling mean and std, clock features)
from the values before the origin, fits each model from scratch, and predicts the horizon
from the last feature row, as the published trainer and predictor do.

stdin: {"granularity", "horizon", "lookback", "series": {name: [values]},
        "origins": {name: [origin, ...]}}; stdout: {model: {name: [[forecast], ...]}}.
"""

import json
import sys
import time

import numpy as np
from sentinel.ingestor.features import build_feature_matrix, build_prediction_input

from sentinel.pipeline.models import (
    ARIMAModel,
    ExponentialSmoothingModel,
    LinearTrendModel,
    SGDRegressorModel,
)

T0 = 1_700_000_000.0


def main() -> None:
    job = json.load(sys.stdin)
    g, h, lb = job["granularity"], job["horizon"], job["lookback"]
    out: dict = {"forecasts": {}, "fit_s": {}, "predict_s": {}}
    for cls in (LinearTrendModel, ExponentialSmoothingModel, ARIMAModel, SGDRegressorModel):
        name = "mlops " + cls.__name__
        out["forecasts"][name], fit_s, pred_s = {}, [], []
        for sid, values in job["series"].items():
            v = np.asarray(values, dtype=float)
            rows = []
            for o in job["origins"][sid]:
                ts = T0 + 60.0 * np.arange(o)
                try:
                    model = cls(granularity=g, horizon=h, lookback=lb)
                    X, y = build_feature_matrix(v[:o], lb, g, timestamps=ts)
                    t = time.perf_counter()
                    model.fit(X, y)
                    t2 = time.perf_counter()
                    x = build_prediction_input(v[:o], lb, g, timestamps=ts)
                    pred = np.asarray(model.predict(x).values, dtype=float).ravel().tolist()
                    pred_s.append(time.perf_counter() - t2)
                    fit_s.append(t2 - t)
                except Exception as exc:  # a published model that fails scores as missing
                    pred = {"error": str(exc)}
                rows.append(pred)
            out["forecasts"][name][sid] = rows
        out["fit_s"][name] = float(np.median(fit_s)) if fit_s else None
        out["predict_s"][name] = float(np.median(pred_s)) if pred_s else None
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
