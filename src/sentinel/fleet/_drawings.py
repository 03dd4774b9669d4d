"""The fleet's own drawings: the per-SM heat map, the trust graph and the catch curve, as SVG."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

from sentinel.fleet.catch_curve import CatchCurve, CurvePoint
from sentinel.fleet.views import SmCell, TrustGraphView

STATE_COLORS = {
    "HEALTHY": "#2e9d5b",
    "SUSPECT": "#d9a21b",
    "QUARANTINED": "#d9621b",
    "DEEP_TEST": "#3a78c9",
    "CONDEMNED": "#b3261e",
}


def _heat(fails: int, worst: int) -> str:
    """White-ish for no failure, deepening red with the share of the worst SM's failures."""
    if fails <= 0:
        return "#e8f3ec"
    share = math.log1p(fails) / math.log1p(max(worst, 1))
    light = 86 - 50 * share
    return f"hsl(4, 75%, {light:.0f}%)"


def sm_heatmap(cells: Sequence[SmCell], *, columns: int = 0) -> Markup:
    """One square per SM, coloured by its probe failures; disabled SMs are crossed out."""
    if not cells:
        return Markup('<p class="muted">No SMs registered.</p>')
    n = len(cells)
    columns = columns or min(n, max(8, math.ceil(math.sqrt(n * 2))))
    rows = math.ceil(n / columns)
    size, gap = 34, 4
    width, height = columns * (size + gap), rows * (size + gap)
    worst = max(c.fails for c in cells)
    out = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="probe failures per SM" data-sms="{n}">'
    ]
    for c in cells:
        cx, cy = (c.sm_id % columns) * (size + gap), (c.sm_id // columns) * (size + gap)
        tip = (
            f"SM {c.sm_id}: {c.fails} failures, {c.passes} passes, "
            f"reliability {c.reliability:.4f}" + (f"; disabled: {c.reason}" if c.disabled else "")
        )
        cls = "sm failing" if c.fails else "sm"
        out.append(
            f'<g class="{cls}" data-sm="{c.sm_id}" data-fails="{c.fails}">'
            f"<title>{escape(tip)}</title>"
            f'<rect x="{cx}" y="{cy}" width="{size}" height="{size}" rx="3" '
            f'fill="{_heat(c.fails, worst)}"/>'
            f'<text x="{cx + size / 2}" y="{cy + size / 2 + 4}" text-anchor="middle">'
            f"{c.sm_id}</text>"
        )
        if c.disabled:
            out.append(
                f'<path class="disabled" d="M{cx + 4},{cy + 4}L{cx + size - 4},{cy + size - 4}'
                f'M{cx + size - 4},{cy + 4}L{cx + 4},{cy + size - 4}"/>'
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


_LABEL_CHAR_PX = 7.5
"""Width of one character of a 12 px trust-graph label, rounded up (style.css sets 12 px)."""


def trust_color(trust: float) -> str:
    """Red at trust 0, amber at 0.5, green at 1."""
    hue = 120 * max(0.0, min(1.0, trust))
    return f"hsl({hue:.0f}, 70%, 42%)"


def trust_svg(view: TrustGraphView, *, size: int = 640) -> Markup:
    """GPUs on a circle grouped by host; edges coloured by the pair's trust score."""
    if not view.nodes:
        return Markup(
            f'<svg class="trust empty" viewBox="0 0 {size} 80" role="img" '
            'aria-label="trust graph"><text x="10" y="45">No TMR comparisons yet.</text></svg>'
        )
    pos = {n.uuid: (n.x * size, n.y * size) for n in view.nodes}
    labelled = len(view.nodes) <= 64  # beyond that, labels overlap; hover still names each
    # Labels stick out of the circle to the left and right: widen the drawing by the
    # longest one, so that none is cut off at the edge.
    longest = max(len(n.label) for n in view.nodes) if labelled else 0
    pad_x = 14 + _LABEL_CHAR_PX * longest
    pad_y = 10
    out = [
        f'<svg class="trust" viewBox="{-pad_x:.0f} {-pad_y} {size + 2 * pad_x:.0f} '
        f'{size + 2 * pad_y}" role="img" aria-label="trust graph">'
    ]
    for e in sorted(view.edges, key=lambda e: -e.trust):  # distrust drawn last, on top
        (x1, y1), (x2, y2) = pos[e.a], pos[e.b]
        tip = f"{e.a} – {e.b}: trust {e.trust:.2f} ({e.agreements} agree, {e.disagreements} not)"
        out.append(
            f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{trust_color(e.trust)}" data-trust="{e.trust:.3f}">'
            f"<title>{escape(tip)}</title></line>"
        )
    radius = 7 if len(view.nodes) <= 64 else 4
    for n in view.nodes:
        x, y = pos[n.uuid]
        out.append(
            f'<a href="/gpus/{escape(n.uuid)}"><circle class="node" cx="{x:.1f}" cy="{y:.1f}" '
            f'r="{radius}" fill="{STATE_COLORS.get(n.state, "#888")}" data-uuid="{escape(n.uuid)}">'
            f"<title>{escape(n.uuid)} on {escape(n.hostname)}: {n.state}</title></circle></a>"
        )
        if labelled:
            dx = 12 if x >= size / 2 else -12
            anchor = "start" if dx > 0 else "end"
            out.append(
                f'<text class="label" x="{x + dx:.1f}" y="{y + 4:.1f}" '
                f'text-anchor="{anchor}">{escape(n.label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


# -- what Sentinel can catch: the detection curve of bench/bench_fault_curve.py ---------

GOAL_SHARE = 0.99
"""The detection goal: this share of faulty GPUs quarantined within ``goal_periods``…"""
GOAL_RATE = 1e-5
"""…for every fault kind whose per-word error rate is at least this."""

KIND_COLORS = (
    "#3a78c9",
    "#d9621b",
    "#2e9d5b",
    "#6b4fbb",
    "#b3261e",
    "#1b8a8f",
    "#d9a21b",
    "#c2459c",
    "#7a6a4f",
    "#5c8a1f",
)
"""One colour per fault kind, in the curve's order; distinct from each other on white."""

_FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
_MUTED = "#6b7385"
_CHAR_PX = 7.0
"""Width of one character of 12 px legend text, rounded up."""


def number(value: object) -> float | None:
    """``value`` as a finite float, else ``None``: the curve is JSON, where a figure may be null."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def rate_label(rate: float) -> str:
    """``1e-5`` rather than ``1e-05`` or ``0.00001``: the way the bench names its rates."""
    mantissa, exponent = f"{rate:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _series(
    points: Sequence[CurvePoint], share: Callable[[CurvePoint], float | None]
) -> list[tuple[float, float, CurvePoint]]:
    """The points that can be drawn on a log axis, as (rate, ``share``, point), by rate."""
    drawable = []
    for p in points:
        rate, value = number(p.rate), number(share(p))
        if rate is not None and rate > 0 and value is not None:
            drawable.append((rate, value, p))
    return sorted(drawable, key=lambda t: t[0])


def _tip(label: str, rate: float, share: float, p: CurvePoint, goal_periods: int) -> str:
    median, p95 = number(p.median_periods), number(p.p95_periods)
    before, daily = number(p.before_within_goal), number(p.diagnostic_within_day)
    parts = [
        f"{label} at rate {rate_label(rate)}: {100 * share:.1f} % quarantined within "
        f"{goal_periods} periods",
        f"median {median:.1f} periods" if median is not None else "median —",
    ]
    if p95 is not None:
        parts.append(f"p95 {p95:.1f} periods")
    if before is not None:
        parts.append(f"old probes {100 * before:.1f} %")
    if daily is not None:
        parts.append(f"daily diagnostic {100 * daily:.1f} % within a day")
    return "; ".join(parts)


def catch_curve_svg(curve: CatchCurve) -> Markup:
    """Share of faulty GPUs quarantined within the goal, per fault kind, over the error rate.

    Standalone SVG (namespace, fonts, colours and a white background inline), because the
    bench writes the same drawing to ``docs/catch_curve.svg`` for BENCHMARKS.md.
    """
    kinds = [
        (
            c,
            KIND_COLORS[i % len(KIND_COLORS)],
            _series(c.points, lambda p: p.within_goal),
            _series(c.points, lambda p: p.diagnostic_within_day),
        )
        for i, c in enumerate(curve.curves)
    ]
    rates = [rate for _, _, pts, diag in kinds for rate, _, _ in pts + diag]
    # Decades from 1e-7 to 1e-3 at least, wider when the bench measured outside them.
    lo = min([-7, *(math.floor(math.log10(r) + 1e-9) for r in rates)])
    hi = max([-3, *(math.ceil(math.log10(r) - 1e-9) for r in rates)])
    legend = [(c.label, color, False) for c, color, _, _ in kinds]
    if any(diag for _, _, _, diag in kinds):
        legend.append(("daily diagnostic (dashed)", _MUTED, True))

    width, left, right, top, plot_h = 760, 60, 24, 28, 240
    plot_w = width - left - right
    column = 40 + _CHAR_PX * max((len(label) for label, _, _ in legend), default=0)
    columns = max(1, min(3, int(plot_w // column)))
    legend_top = top + plot_h + 58
    height = legend_top + 18 * math.ceil(len(legend) / columns) + 4

    def x(rate: float) -> float:
        return left + plot_w * (math.log10(rate) - lo) / (hi - lo)

    def y(share: float) -> float:
        return top + plot_h * (1 - min(max(share, 0.0), 1.0))

    bottom, goal_x, goal_y = top + plot_h, x(GOAL_RATE), y(GOAL_SHARE)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="catch-curve" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="share of faulty GPUs quarantined within {curve.goal_periods} probe periods, '
        f'by fault kind and error rate" font-family="{_FONT}" font-size="12" fill="#1d2330">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<rect class="goal-region" x="{goal_x:.1f}" y="{top}" '
        f'width="{left + plot_w - goal_x:.1f}" height="{plot_h}" fill="#2e9d5b" '
        'fill-opacity="0.08"/>',
        f'<text x="{goal_x + 4:.1f}" y="{top - 8}" fill="{_MUTED}">goal region: rate ≥ '
        f"{rate_label(GOAL_RATE)}</text>",
    ]
    for pct in (0, 25, 50, 75, 100):
        yy = y(pct / 100)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eceef3"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{_MUTED}">{pct} %</text>'
        )
    for exponent in range(lo, hi + 1):
        xx = x(10.0**exponent)
        out.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{bottom + 4}" stroke="#eceef3"/>'
            f'<text class="tick" x="{xx:.1f}" y="{bottom + 18}" text-anchor="middle" '
            f'font-size="11" fill="{_MUTED}">1e{exponent}</text>'
        )
    out.append(
        f'<path d="M{left},{top}V{bottom}H{left + plot_w}" fill="none" stroke="#c7cdd9"/>'
        f'<line class="goal" x1="{left}" x2="{left + plot_w}" y1="{goal_y:.1f}" '
        f'y2="{goal_y:.1f}" stroke="#1d2330" stroke-width="1.2" stroke-dasharray="6 4">'
        f"<title>goal: {100 * GOAL_SHARE:g} % quarantined within {curve.goal_periods} "
        f"periods</title></line>"
        f'<text x="{left + 4}" y="{top - 8}">goal {100 * GOAL_SHARE:g} % within '
        f"{curve.goal_periods} periods</text>"
        f'<text x="{left + plot_w / 2:.1f}" y="{bottom + 38}" text-anchor="middle" '
        f'fill="{_MUTED}">per-word error rate (log scale)</text>'
        f'<text transform="translate(16 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{_MUTED}">quarantined within {curve.goal_periods} '
        "periods</text>"
    )
    if not rates:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
            f'fill="{_MUTED}">No points recorded.</text>'
        )
    for c, color, pts, diag in kinds:
        out.append(f'<g class="curve" data-kind="{escape(c.kind)}">')
        if diag:
            out.append(
                f'<path class="diagnostic" d="{_polyline([(x(r), y(d)) for r, d, _ in diag])}" '
                f'fill="none" stroke="{color}" stroke-width="1.2" stroke-dasharray="5 4">'
                f"<title>{escape(c.label)}: daily diagnostic, share caught within a day</title>"
                "</path>"
            )
        if pts:
            out.append(
                f'<path class="line" d="{_polyline([(x(r), y(s)) for r, s, _ in pts])}" '
                f'fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for rate, share, p in pts:
            out.append(
                f'<circle class="point" cx="{x(rate):.1f}" cy="{y(share):.1f}" r="4" '
                f'fill="{color}" stroke="#fff" stroke-width="1" data-rate="{rate_label(rate)}">'
                f"<title>{escape(_tip(c.label, rate, share, p, curve.goal_periods))}</title>"
                "</circle>"
            )
        out.append("</g>")
    for i, (label, color, dashed) in enumerate(legend):
        lx, ly = left + (i % columns) * column, legend_top + 18 * (i // columns)
        out.append(
            f'<g class="legend"><line x1="{lx:.0f}" x2="{lx + 24:.0f}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{color}" '
        )
        out.append(
            'stroke-width="1.2" stroke-dasharray="5 4"/>'
            if dashed
            else f'stroke-width="2"/><circle cx="{lx + 12}" cy="{ly - 4}" r="4" fill="{color}"/>'
        )
        out.append(f'<text x="{lx + 30:.0f}" y="{ly}">{escape(label)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _polyline(points: Sequence[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{px:.1f},{py:.1f}" for px, py in points)
