"""How the CLI shows things: consoles, states, times, rates and sparklines."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.text import Text

from sentinel.fleet.types import GpuHealthState

_STATE_STYLES = {
    GpuHealthState.HEALTHY: "green",
    GpuHealthState.SUSPECT: "yellow",
    GpuHealthState.QUARANTINED: "red",
    GpuHealthState.DEEP_TEST: "magenta",
    GpuHealthState.CONDEMNED: "bold red",
}
_BARS = "▁▂▃▄▅▆▇█"
# Piped output is read by grep and scripts, so it gets long lines instead of rich's
# 80 columns, which would cut UUIDs and wrap table rows.
_PIPE_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (results) or stderr (errors, spinners, progress).

    Markup is off, so that text from the server (reasons, descriptions) is shown as is;
    styles are given with ``rich.text.Text``.
    """
    out = Console(stderr=stderr, markup=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = _PIPE_WIDTH
    return out


def state_text(state: GpuHealthState) -> Text:
    """The state's name, coloured by how much attention it needs."""
    return Text(state.name, style=_STATE_STYLES.get(state, "dim"))


def when(moment: datetime | None) -> str:
    """A UTC timestamp to the second, or a dash when there is none."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "—"


def span(seconds: int) -> str:
    """``3600`` as ``1h``: the largest unit that divides the duration."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def sparkline(values: Sequence[float], width: int = 48) -> str:
    """Values as a row of bars between their minimum and maximum.

    When there are more values than columns, each column shows the lowest value of its
    slice: for reliability the dips are what matters.
    """
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    points = [min(values[i : i + step]) for i in range(0, len(values), step)]
    low, high = min(points), max(points)
    if high == low:
        return _BARS[len(_BARS) // 2] * len(points)
    scale = (len(_BARS) - 1) / (high - low)
    return "".join(_BARS[round((point - low) * scale)] for point in points)
