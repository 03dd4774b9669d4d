"""Running device work with a time limit the caller keeps, whatever the work does.

A probe stuck in a driver call cannot be interrupted from Python, so each call runs on
a fresh daemon thread and the caller stops waiting after the limit. The abandoned thread
is handed back so the agent can keep the device out of the schedule until it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Guarded", "guarded"]

T = TypeVar("T")


@dataclass(frozen=True)
class Guarded(Generic[T]):
    """What a guarded call came to: a value, an exception, or a thread still running."""

    value: T | None = None
    error: BaseException | None = None
    hung: threading.Thread | None = None
    """Set when the call outlived the limit; the thread is still running it."""


def guarded(fn: Callable[[], T], limit_s: float, name: str) -> Guarded[T]:
    """Run ``fn`` on its own thread and wait at most ``limit_s`` seconds for it."""
    done = threading.Event()
    box: list[Guarded[T]] = []

    def target() -> None:
        try:
            box.append(Guarded(value=fn()))
        except BaseException as exc:  # reported to the caller, which decides
            box.append(Guarded(error=exc))
        finally:
            done.set()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    if not done.wait(limit_s):
        return Guarded(hung=thread)
    return box[0]
