"""Bounds on what the fleet accepts and stores, shared by the gRPC edge
(:mod:`sentinel.fleet.validation`) and the engine's own checks, so that the two agree."""

from __future__ import annotations

EARLIEST_REPORT = 946_684_800
"""2000-01-01T00:00:00Z: no report is dated before it."""
FUTURE_SLACK_SECONDS = 86_400
"""How far ahead of the server's clock a report may be dated (clock skew)."""
MAX_INT64 = 2**63 - 1
"""Largest value of a BIGINT column: unsigned 64-bit fields above it are refused."""
MAX_INT32 = 2**31 - 1
"""Largest value of an INTEGER column: unsigned 32-bit fields above it are refused."""
