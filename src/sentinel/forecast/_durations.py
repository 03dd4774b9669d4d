"""Prometheus-style durations (``30s``, ``5m``, ``1h30m``) as seconds and as grid steps."""

from __future__ import annotations

import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def seconds(text: str) -> float:
    """``"1h30m"`` as ``5400.0``.

    Raises:
        ValueError: ``text`` is not a positive Prometheus duration.
    """
    raw = str(text).strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw) or total <= 0:
        raise ValueError(
            f"{text!r} is not a duration: write a positive number and a unit, e.g. 30s, 5m, 1h30m"
        )
    return total


def steps(span: str, granularity: str) -> int:
    """How many ``granularity`` steps ``span`` holds (at least one).

    Raises:
        ValueError: either is not a duration, or ``span`` is not a whole number of steps.
    """
    ratio = seconds(span) / seconds(granularity)
    n = round(ratio)
    if n < 1 or abs(ratio - n) > 1e-9:
        raise ValueError(
            f"{span!r} is not a whole number of {granularity!r} steps: choose a span that is a "
            "multiple of the granularity"
        )
    return n
