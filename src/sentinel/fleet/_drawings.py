"""The fleet's own drawings: the per-SM heat map and the trust graph, as inline SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

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
