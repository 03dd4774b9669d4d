"""Inline SVG line charts for every domain's dashboard pages.

Drawn on the server, so pages need no chart library and no build step, and a screenshot
or a test sees exactly what a person sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup


@dataclass(frozen=True)
class Series:
    """One line of a chart."""

    label: str
    color: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class Marker:
    """A vertical line at a moment, e.g. a state transition."""

    ts: datetime
    color: str
    label: str


def _fmt_time(ts: datetime, span_s: float) -> str:
    return ts.strftime("%H:%M:%S" if span_s < 3 * 3600 else "%m-%d %H:%M")


def line_chart(
    series: Sequence[Series],
    *,
    markers: Sequence[Marker] = (),
    width: int = 720,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
    unit: str = "",
    title: str = "",
) -> Markup:
    """A time-series chart with a labelled y axis, time ticks and optional markers."""
    pts = [p for s in series for p in s.points]
    if not pts:
        return Markup(
            f'<svg class="chart empty" viewBox="0 0 {width} 60" role="img" '
            f'aria-label="{escape(title)}"><text x="10" y="35">No data yet</text></svg>'
        )
    times = [p[0] for p in pts] + [m.ts for m in markers]
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    lo, hi = y_range if y_range else (min(p[1] for p in pts), max(p[1] for p in pts))
    if hi - lo < 1e-9:  # a flat series: centre it in a band of ±5 % (never below 0 if it is not)
        pad = max(abs(lo) * 0.05, 1.0)
        lo, hi = (lo - pad if lo < 0 else max(lo - pad, 0.0)), hi + pad
    magnitude = max(abs(lo), abs(hi))
    values = [lo + (hi - lo) * i / 4 for i in range(5)]
    ticks = [(v, _tick(v, hi - lo, magnitude, unit)) for v in values]
    # The left margin fits the longest tick label (12 px text, about 7 px a character).
    left = max(70, 12 + math.ceil(_CHAR_PX * max(len(label) for _, label in ticks)))
    right, top, bottom = 12, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(ts: datetime) -> float:
        return left + plot_w * (ts - t0).total_seconds() / span

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
    ]
    for v, label in ticks:
        yy = y(v)
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    for i in range(5):
        ts = t0 + (t1 - t0) * (i / 4)
        xx = x(ts)
        out.append(
            f'<text class="tick" x="{xx:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{_fmt_time(ts, span)}</text>"
        )
    for m in markers:
        xx = x(m.ts)
        out.append(
            f'<line class="marker" x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" '
            f'y2="{top + plot_h}" stroke="{m.color}"><title>{escape(m.label)}</title></line>'
            f'<circle cx="{xx:.1f}" cy="{top + 3}" r="4" fill="{m.color}">'
            f"<title>{escape(m.label)}</title></circle>"
        )
    for s in series:
        if not s.points:
            continue
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(s.points)
        )
        out.append(
            f'<path class="line" d="{path}" stroke="{s.color}"><title>{escape(s.label)}</title>'
            "</path>"
        )
    if len(series) > 1:
        for i, s in enumerate(series):
            lx = left + 8 + i * 150
            out.append(
                f'<rect x="{lx}" y="{top}" width="10" height="3" fill="{s.color}"/>'
                f'<text class="legend" x="{lx + 14}" y="{top + 5}">{escape(s.label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_CHAR_PX = 7.0


def _tick(v: float, span: float, magnitude: float, unit: str) -> str:
    """A tick label: the unit after a space, and large counts or bytes with a decimal prefix
    (``39.7 MB``; a unit that has its own prefix, such as MiB or MHz, keeps its numbers)."""
    scale, prefix = 1.0, ""
    if unit.strip() in ("", "B", "B/s"):
        scale, prefix = next(((f, p) for f, p in _PREFIXES if magnitude >= 10 * f), (1.0, ""))
    number = _fmt_value(v / scale, span / scale)
    suffix = prefix + unit.strip()
    return f"{number} {suffix}" if suffix else number


def _fmt_value(v: float, span: float) -> str:
    """Enough decimals to tell the five ticks of ``span`` apart, no more."""
    decimals = max(0, min(4, 1 - math.floor(math.log10(span / 4))))
    return f"{v:.{decimals}f}"
