"""Unhandled exceptions of the main thread and of other threads, through the interpreter's hooks.

``install_hook()`` puts a reporter in front of ``sys.excepthook`` and
``threading.excepthook``; each reporter captures the exception and then calls the hook
that was installed before it, so Python's traceback printing (or another tool's hook)
still runs. ``uninstall_hook()`` puts back exactly what was there, where nobody replaced
the reporter since; a reporter that another hook still chains to just passes through.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sentinel.capture import _config, _dispatch
from sentinel.capture._payload import snapshot

__all__ = ["capture_exception", "install_hook", "is_installed", "uninstall_hook"]

_log = logging.getLogger("sentinel.capture")
_lock = threading.Lock()
_installed: dict[str, Any] = {}
"""While installed: ``endpoint``, the two reporters and the hooks they chain to."""


def report(
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    endpoint: str | None = None,
) -> bool:
    """Snapshot ``exc`` and queue it; never raises. ``False`` when nothing was queued."""
    try:
        config = _config.current()
        if config is None or not config.enabled or exc is None:
            return False
        if getattr(exc, "__sentinel_reported__", False):
            return False  # seen by another integration on its way up
        with contextlib.suppress(Exception):  # one without a __dict__ is still reported
            exc.__sentinel_reported__ = True  # type: ignore[attr-defined]
        return _dispatch.submit(snapshot(exc_type, exc, tb, endpoint or config.endpoint_label))
    except Exception:  # the application's own error handling comes first
        _log.warning("sentinel.capture could not capture an exception", exc_info=True)
        return False


def capture_exception(exc: BaseException | None = None, *, endpoint: str | None = None) -> bool:
    """Report a handled exception (default: the one being handled now).

    Args:
        exc: The exception; default ``sys.exc_info()``'s.
        endpoint: The route or label it happened in; default the configured
            ``endpoint_label``.

    Returns:
        Whether the event was queued (``False`` when disabled, unconfigured or full).
    """
    if exc is None:
        exc = sys.exc_info()[1]
        if exc is None:
            return False
    return report(type(exc), exc, exc.__traceback__, endpoint)


def install_hook(endpoint: str | None = None) -> None:
    """Report unhandled exceptions of every thread; idempotent.

    Args:
        endpoint: The ``endpoint`` of these events; default the configured
            ``endpoint_label``.

    Raises:
        RuntimeError: ``configure()`` was not called first.
    """
    _config.require()
    with _lock:
        if _installed:
            return
        previous_sys = sys.excepthook
        previous_threading = threading.excepthook

        def sys_hook(
            exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            if _installed and not issubclass(exc_type, KeyboardInterrupt):
                report(exc_type, exc, tb, _installed.get("endpoint"))
            previous_sys(exc_type, exc, tb)

        def threading_hook(args: threading.ExceptHookArgs) -> None:
            if _installed and args.exc_value is not None:
                endpoint = _installed.get("endpoint")
                report(args.exc_type, args.exc_value, args.exc_traceback, endpoint)
            previous_threading(args)

        _installed.update(
            endpoint=endpoint,
            sys_hook=sys_hook,
            threading_hook=threading_hook,
            previous_sys=previous_sys,
            previous_threading=previous_threading,
        )
        sys.excepthook = sys_hook
        threading.excepthook = threading_hook


def uninstall_hook() -> None:
    """Stop reporting, and restore the hooks found by ``install_hook()``; idempotent."""
    with _lock:
        if not _installed:
            return
        _restore(sys, "excepthook", _installed["sys_hook"], _installed["previous_sys"])
        _restore(
            threading, "excepthook", _installed["threading_hook"], _installed["previous_threading"]
        )
        _installed.clear()


def is_installed() -> bool:
    """Whether unhandled exceptions are being reported."""
    with _lock:
        return bool(_installed)


def _restore(module: Any, name: str, ours: Callable[..., None], previous: Any) -> None:
    # A hook installed after ours chains to ours; replacing it would drop it, so ours
    # stays in its chain and passes through.
    if getattr(module, name) is ours:
        setattr(module, name, previous)
