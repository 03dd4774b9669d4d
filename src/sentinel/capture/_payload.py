"""An exception as the gateway's JSON: a snapshot on the raising thread, the rest on the worker.

The raising thread only records the exception, its traceback and the time (a few
microseconds). Walking the frames, reading source lines, formatting the chain and the
groups, scrubbing and truncating happen on the dispatcher's thread: a traceback keeps
each frame's code and line number as they were when it was raised. The price: a queued
exception keeps its frames (and their locals) alive until the worker has formatted it,
which the queue's size bounds.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from sentinel.capture.scrubber import scrub

MAX_MESSAGE_CHARS = 64 * 1024
"""Longest ``errorMessage`` sent; the gateway takes 1 MiB per event in all."""
MAX_TRACE_CHARS = 512 * 1024
"""Longest ``stackTrace`` sent (its last part, where the raising frames are, is kept)."""


@dataclass(frozen=True)
class Snapshot:
    """What the raising thread records of an exception."""

    exc_type: type[BaseException]
    exc: BaseException
    tb: TracebackType | None
    endpoint: str
    at: datetime


def type_name(exc_type: type[BaseException]) -> str:
    """``module.ClassName``, or just the class name for builtins (as the published SDK)."""
    module = getattr(exc_type, "__module__", "") or ""
    name = getattr(exc_type, "__qualname__", None) or exc_type.__name__
    return name if module in ("", "builtins") else f"{module}.{name}"


def snapshot(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    endpoint: str,
) -> Snapshot:
    """Record ``exc`` for the worker; nothing is formatted here."""
    return Snapshot(exc_type, exc, tb, endpoint, datetime.now(timezone.utc))


def build(snap: Snapshot, github_repo: str) -> dict[str, Any]:
    """The gateway's JSON body for ``snap``: formatted, scrubbed, within the size limits."""
    try:
        message = str(snap.exc)
    except Exception:  # an exception whose __str__ fails is still worth reporting
        message = f"<{type_name(snap.exc_type)} whose str() failed>"
    trace = "".join(traceback.format_exception(snap.exc_type, snap.exc, snap.tb))
    message = scrub(_head(message, MAX_MESSAGE_CHARS))
    trace = scrub(_tail(trace, MAX_TRACE_CHARS))
    return {
        "exceptionType": type_name(snap.exc_type),
        "errorMessage": message,
        "stackTrace": trace,
        "endpoint": snap.endpoint,
        "timestamp": snap.at.isoformat(),
        "githubRepo": github_repo,
        "language": "python",
    }


def _head(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 256, limit)  # not inside a secret, which the cut would hide
    cut = cut if cut > 0 else limit
    return f"{text[:cut]} … [{len(text) - cut:,} characters cut]"


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.find("\n", len(text) - limit, len(text) - limit + 4096)
    cut = cut + 1 if cut >= 0 else len(text) - limit
    return f"[{cut:,} characters cut] …\n{text[cut:]}"
