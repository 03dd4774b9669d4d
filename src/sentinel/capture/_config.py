"""The SDK's one configuration, set by ``configure()`` and read by the hooks and middleware."""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

_log = logging.getLogger("sentinel.capture")

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"
"""The local Sentinel server (``sentinel up``); ``SENTINEL_GATEWAY_URL`` overrides it."""

_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_OFF = ("false", "0", "no", "off")


@dataclass(frozen=True)
class CaptureConfig:
    """What ``configure()`` was given, checked; replaced whole by the next ``configure()``."""

    api_key: str
    """Bearer token of scope ``capture`` (``sentinel tokens create --scope capture --repo ...``)."""
    github_repo: str
    """``owner/repo`` the exceptions belong to; the key must be bound to it."""
    gateway_url: str = DEFAULT_GATEWAY_URL
    """Base URL of the Sentinel server, without a trailing slash."""
    timeout_seconds: float = 5.0
    """Per-attempt HTTP timeout."""
    max_retries: int = 3
    """Send attempts per event (at least 1) on network errors, 5xx and 429."""
    retry_backoff_base: float = 0.5
    """Backoff before attempt ``n + 1``: ``base * 2**n`` plus up to ``base`` of jitter."""
    endpoint_label: str = "<unknown>"
    """``endpoint`` of events captured outside a request (hooks, ``capture_exception``)."""
    enabled: bool = True
    """False: capture nothing and send nothing (``SENTINEL_ENABLED=false``)."""
    spool_dir: str = ""
    """Directory where undeliverable events wait for the next start; empty: none."""
    queue_size: int = 1000
    """Events waiting to be sent; past it new ones are dropped (and counted)."""


_lock = threading.Lock()
_current: CaptureConfig | None = None


def env_enabled() -> bool:
    """``SENTINEL_ENABLED``: anything but false, 0, no or off (any case) means enabled."""
    return os.environ.get("SENTINEL_ENABLED", "true").strip().lower() not in _OFF


def configure(
    api_key: str,
    github_repo: str,
    gateway_url: str | None = None,
    timeout_seconds: float = 5.0,
    max_retries: int = 3,
    retry_backoff_base: float = 0.5,
    endpoint_label: str = "<unknown>",
    enabled: bool | None = None,
    *,
    spool_dir: str | os.PathLike[str] | None = None,
    queue_size: int = 1000,
) -> CaptureConfig:
    """Set up the SDK; call once at start-up, before ``install_hook()`` or the middleware.

    Args:
        api_key: Bearer token of scope ``capture`` bound to ``github_repo``.
        github_repo: ``owner/repo``.
        gateway_url: The Sentinel server; default ``$SENTINEL_GATEWAY_URL`` or the local one
            (``http://127.0.0.1:8000``).
        timeout_seconds: Per-attempt HTTP timeout.
        max_retries: Send attempts per event (at least 1).
        retry_backoff_base: Base of the exponential backoff, in seconds.
        endpoint_label: ``endpoint`` of events captured outside a request.
        enabled: On/off; default ``$SENTINEL_ENABLED`` (on unless false, 0, no or off).
        spool_dir: Keep events that could not be delivered here and send them on the next
            start (services that run offline).
        queue_size: Events that may wait to be sent; more are dropped and counted.

    Raises:
        ValueError: An argument is malformed (the message says which and how to fix it).
    """
    global _current
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError(
            "sentinel.capture: api_key must not be empty; create one with "
            "`sentinel tokens create --scope capture --repo owner/repo`"
        )
    if not isinstance(github_repo, str) or not _REPO.fullmatch(github_repo):
        raise ValueError(f"sentinel.capture: github_repo must be 'owner/repo', got {github_repo!r}")
    url = (gateway_url or os.environ.get("SENTINEL_GATEWAY_URL") or DEFAULT_GATEWAY_URL).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"sentinel.capture: gateway_url must be an http(s) URL such as "
            f"{DEFAULT_GATEWAY_URL}, got {url!r}"
        )
    if not timeout_seconds > 0 or retry_backoff_base < 0 or queue_size < 1:
        raise ValueError(
            "sentinel.capture: timeout_seconds and queue_size must be positive and "
            "retry_backoff_base not negative"
        )
    config = CaptureConfig(
        api_key=api_key.strip(),
        github_repo=github_repo,
        gateway_url=url.rstrip("/"),
        timeout_seconds=float(timeout_seconds),
        max_retries=max(1, int(max_retries)),
        retry_backoff_base=float(retry_backoff_base),
        endpoint_label=endpoint_label,
        enabled=env_enabled() if enabled is None else bool(enabled),
        spool_dir=os.fspath(spool_dir) if spool_dir else "",
        queue_size=int(queue_size),
    )
    with _lock:
        _current = config
    # The key is never logged.
    _log.info(
        "sentinel.capture configured: repo=%s gateway=%s enabled=%s",
        config.github_repo,
        config.gateway_url,
        config.enabled,
    )
    from sentinel.capture import _dispatch

    _dispatch.reconfigure(config)
    return config


def current() -> CaptureConfig | None:
    """The configuration in force, or ``None`` before ``configure()``."""
    with _lock:
        return _current


def require() -> CaptureConfig:
    """The configuration in force.

    Raises:
        RuntimeError: ``configure()`` was not called yet.
    """
    config = current()
    if config is None:
        raise RuntimeError(
            "sentinel.capture.configure(api_key=..., github_repo=...) must be called before "
            "install_hook() or adding the middleware"
        )
    return config


def reset() -> None:
    """Forget the configuration and stop the dispatcher (tests; a second ``configure``)."""
    global _current
    from sentinel.capture import _dispatch

    with _lock:
        _current = None
    _dispatch.reconfigure(None)
