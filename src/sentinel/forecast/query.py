"""The Prometheus HTTP API as Grafana's Prometheus data source calls it.

Every query is PromQL for the upstream Prometheus: Sentinel forwards it and returns the
answer unchanged. Sentinel evaluates nothing itself except one case: a plain selector of
predicted series (``x_sentinel_predicted{job="api"}``) that the upstream answers with no
series (it has no ``remote_read`` entry for Sentinel, and does not scrape it). Then the
answer comes from Sentinel's own store, with Prometheus's lookback rule (the newest point
no older than 5 minutes). The label and metadata calls merge Sentinel's predicted names into
the upstream's answer, so Grafana's metric browser lists them either way.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sentinel.forecast._prometheus import PrometheusError
from sentinel.forecast.stored import SUFFIX, Matcher, StoredSeries, parse_selector, predicted_series

if TYPE_CHECKING:
    from sentinel.forecast.engine import Sentinel

JSON = "application/json"
LOOKBACK_S = 300.0
MAX_POINTS = 11_000

Params = Sequence[tuple[str, str]]


def _json(status: int, doc: Any) -> tuple[int, bytes, str]:
    return status, json.dumps(doc).encode(), JSON


def _error(status: int, kind: str, message: str) -> tuple[int, bytes, str]:
    return _json(status, {"status": "error", "errorType": kind, "error": message})


def _ok(data: Any) -> tuple[int, bytes, str]:
    return _json(200, {"status": "success", "data": data})


def _get(params: Params, name: str, default: str = "") -> str:
    return next((v for k, v in params if k == name), default)


def _time(raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        from datetime import datetime

        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"cannot parse {raw!r} to a valid timestamp") from None


def _step(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        from sentinel.forecast import _durations

        return _durations.seconds(raw)


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return (
        repr(float(v)) if not float(v).is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v)
    )


def _at(s: StoredSeries, t: float) -> float | None:
    i = int(np.searchsorted(s.timestamps, t, side="right")) - 1
    if i < 0 or t - s.timestamps[i] > LOOKBACK_S:
        return None
    return float(s.values[i])


def _forward(sentinel: Sentinel, path: str, params: Params) -> tuple[int, bytes, str]:
    try:
        return sentinel.prometheus.raw(f"/api/v1/{path}", list(params))
    except PrometheusError as exc:
        return _error(502, "unavailable", str(exc))


def _predicted_selector(query: str) -> list[Matcher] | None:
    matchers = parse_selector(query)
    if matchers is None:
        return None
    names = [m for m in matchers if m.name == "__name__" and m.op == "="]
    if not names or SUFFIX not in names[0].value:
        return None
    return matchers


def _empty(status: int, body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return status == 200 and doc.get("status") == "success" and not doc["data"]["result"]


def _instant(sentinel: Sentinel, matchers: list[Matcher], params: Params) -> tuple[int, bytes, str]:
    t = _time(_get(params, "time"), time.time())
    result = []
    for s in predicted_series(sentinel, matchers):
        v = _at(s, t)
        if v is not None:
            result.append({"metric": s.labels, "value": [t, _fmt(v)]})
    return _ok({"resultType": "vector", "result": result})


def _range(sentinel: Sentinel, matchers: list[Matcher], params: Params) -> tuple[int, bytes, str]:
    start, end = _time(_get(params, "start"), 0.0), _time(_get(params, "end"), 0.0)
    step = _step(_get(params, "step", "0"))
    if step <= 0:
        return _error(
            400, "bad_data", "zero or negative query resolution step widths are not accepted"
        )
    if end < start:
        return _error(400, "bad_data", "end timestamp must not be before start time")
    if (end - start) / step > MAX_POINTS:
        return _error(
            400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries"
        )
    times = start + step * np.arange(int((end - start) // step) + 1)
    result = []
    for s in predicted_series(sentinel, matchers):
        values = [[float(t), _fmt(v)] for t in times if (v := _at(s, float(t))) is not None]
        if values:
            result.append({"metric": s.labels, "values": values})
    return _ok({"resultType": "matrix", "result": result})


def _merge(status: int, body: bytes, extra: Any) -> tuple[int, bytes, str]:
    """The upstream's list answer with ``extra`` added (deduplicated, sorted)."""
    try:
        doc = json.loads(body) if status == 200 else {"status": "success", "data": []}
    except ValueError:
        doc = {"status": "success", "data": []}
    if doc.get("status") != "success":
        return _json(status, doc)
    data = doc["data"]
    if isinstance(data, dict):
        data = {**extra, **data}
    elif any(isinstance(d, dict) for d in [*data, *extra]):
        seen = {json.dumps(d, sort_keys=True) for d in data}
        data = [*data, *(d for d in extra if json.dumps(d, sort_keys=True) not in seen)]
    else:
        data = sorted(set(data) | set(extra))
    return _ok(data)


def _matched(sentinel: Sentinel, params: Params) -> list[StoredSeries]:
    selectors = [v for k, v in params if k == "match[]"]
    if not selectors:
        return predicted_series(sentinel)
    out: dict[str, StoredSeries] = {}
    for sel in selectors:
        matchers = parse_selector(sel)
        if matchers is None:
            continue
        for s in predicted_series(sentinel, matchers):
            out[json.dumps(s.labels, sort_keys=True)] = s
    return list(out.values())


def answer(sentinel: Sentinel, path: str, params: Params) -> tuple[int, bytes, str]:
    """Status, body and content type for ``/api/v1/<path>`` with ``params`` (query string
    and form fields together, as Prometheus reads them)."""
    try:
        if path in ("query", "query_range"):
            status, body, ctype = _forward(sentinel, path, params)
            matchers = _predicted_selector(_get(params, "query"))
            if matchers is None or not (_empty(status, body) or status == 502):
                return status, body, ctype
            return (_instant if path == "query" else _range)(sentinel, matchers, params)
        if path == "labels":
            status, body, _ = _forward(sentinel, path, params)
            names = {k for s in _matched(sentinel, params) for k in s.labels}
            return _merge(status, body, sorted(names))
        if path.startswith("label/") and path.endswith("/values"):
            name = path[len("label/") : -len("/values")]
            status, body, _ = _forward(sentinel, path, params)
            values = {s.labels[name] for s in _matched(sentinel, params) if name in s.labels}
            return _merge(status, body, sorted(values))
        if path == "series":
            status, body, _ = _forward(sentinel, path, params)
            return _merge(status, body, [s.labels for s in _matched(sentinel, params)])
        if path == "metadata":
            status, body, _ = _forward(sentinel, path, params)
            ours = {
                s.labels["__name__"]: [
                    {
                        "type": "gauge",
                        "help": "Sentinel's forecast of " + s.labels["__name__"].split(SUFFIX)[0],
                        "unit": "",
                    }
                ]
                for s in predicted_series(sentinel)
            }
            wanted = _get(params, "metric")
            return _merge(
                status, body, {k: v for k, v in ours.items() if not wanted or k == wanted}
            )
        return _forward(sentinel, path, params)
    except (ValueError, TypeError) as exc:
        return _error(400, "bad_data", str(exc))
