"""Sentinel's own predicted series at their true timestamps, and label matching on them.

Both the remote-read endpoint and the query API read from here: each series is the value
predicted at the horizon for times now past, then the latest forecast for future times.
Labels: ``__name__`` (``{metric}_sentinel_predicted`` or its ``_lower``/``_upper``), the
series' own labels and ``sentinel_horizon``. ``sentinel_version`` and ``sentinel_step`` are
left out on purpose: they would split one line into many as versions change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentinel.forecast.engine import Sentinel

SUFFIX = "_sentinel_predicted"
KINDS = ("", "_lower", "_upper")


@dataclass(frozen=True)
class Matcher:
    """A label matcher: ``=``, ``!=``, ``=~`` or ``!~`` (regular expressions fully anchored,
    as Prometheus anchors them)."""

    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class StoredSeries:
    labels: dict[str, str]
    timestamps: np.ndarray
    """Seconds since the epoch, ascending."""
    values: np.ndarray


def predicted_series(sentinel: Sentinel, matchers: Sequence[Matcher] = ()) -> list[StoredSeries]:
    """Every stored predicted series whose labels satisfy all ``matchers``."""
    out = []
    bounds = sentinel.config.emit_confidence_bounds
    for state in sentinel.series():
        f = state.forecast
        for n, kind in enumerate(KINDS):
            if kind and not bounds:
                continue
            labels = {
                **state.labels,
                "__name__": f"{state.metric}{SUFFIX}{kind}",
                "sentinel_horizon": state.watch.horizon,
            }
            if not all(m.matches(labels) for m in matchers):
                continue
            past = [(p[0], p[1 + n]) for p in state.past]
            future: list[tuple[int, float]] = []
            if f is not None:
                series = (f.values, f.lower, f.upper)[n]
                if series is not None:
                    future = [(f.first_index + i, float(v)) for i, v in enumerate(series.tolist())]
            cut = future[0][0] if future else None
            points = [p for p in past if cut is None or p[0] < cut] + future
            points = [p for p in points if np.isfinite(p[1])]
            if not points:
                continue
            step = state.watch.step_s
            out.append(
                StoredSeries(
                    labels=labels,
                    timestamps=np.array([i * step for i, _ in points], dtype=float),
                    values=np.array([v for _, v in points], dtype=float),
                )
            )
    return out


_SELECTOR = re.compile(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{(.*)\})?\s*")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_selector(text: str) -> list[Matcher] | None:
    """The matchers of a plain vector selector (``name{a="b", c=~"d.*"}``), or ``None`` when
    ``text`` is anything else (functions, operators, ranges): that is PromQL for Prometheus."""
    m = _SELECTOR.fullmatch(text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    matchers = [Matcher("__name__", "=", m.group(1))] if m.group(1) else []
    body = (m.group(3) or "").strip()
    pos = 0
    while pos < len(body):
        mm = _MATCHER.match(body, pos)
        if not mm:
            return None
        value = bytes(mm.group(3), "utf-8").decode("unicode_escape")
        matchers.append(Matcher(mm.group(1), mm.group(2), value))
        pos = mm.end()
    return matchers
