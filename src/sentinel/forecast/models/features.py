"""Lag features without target leakage: each row sees only values before its target.

A row is ``[v[i], ..., v[i+n-1], mean, std]`` where ``mean`` and ``std`` are over those same
``n`` lags, and its target is ``v[i+n]``. (The published package's rolling mean and std
included the target itself.) No clock features: a model learns seasonality from lags or
from the seasonal model's phase, not from sine waves of the wall clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def lag_matrix(values: FloatArray, n_lags: int) -> tuple[FloatArray, FloatArray]:
    """Rows of ``n_lags`` lags plus their mean and std, and each row's next value."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) <= n_lags:
        raise ValueError(f"need more than {n_lags} values to build lag features, got {len(v)}")
    windows = sliding_window_view(v[:-1], n_lags)
    X = np.hstack(
        [windows, windows.mean(axis=1, keepdims=True), windows.std(axis=1, keepdims=True)]
    )
    return X, v[n_lags:].copy()


def prediction_input(values: FloatArray, n_lags: int) -> FloatArray:
    """The feature row (1, n_lags + 2) that forecasts what follows ``values``."""
    v = np.asarray(values, dtype=float)
    if len(v) < n_lags:
        raise ValueError(f"need {n_lags} values to build a prediction input, got {len(v)}")
    w = v[-n_lags:]
    return np.concatenate([w, [w.mean(), w.std()]]).reshape(1, -1)


def series_from_features(X: FloatArray, y: FloatArray, n_lags: int) -> FloatArray:
    """The series a :func:`lag_matrix` came from (its first row's lags, then the targets)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] < n_lags or len(X) != len(y) or not len(X):
        raise ValueError(
            f"expected X of shape (n, {n_lags + 2}) and y of length n, got {X.shape} and {len(y)}"
        )
    return np.concatenate([X[0, :n_lags], np.asarray(y, dtype=float)])
