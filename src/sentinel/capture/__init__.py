"""Exception capture for Python services: standard library only, PII scrubbed before it leaves.

The names of the published ``sentinel-python-sdk`` (``import sentinel_sdk``), reporting to
the Sentinel server's exception gateway::

    import sentinel.capture as sentinel_sdk

    sentinel_sdk.configure(api_key="snt_capture_...", github_repo="owner/repo")
    sentinel_sdk.install_hook()

FastAPI and Starlette: ``app.add_middleware(SentinelMiddleware)``; Flask:
``app.wsgi_app = SentinelWSGIMiddleware(app.wsgi_app)``; handled errors:
``capture_exception()``. The server side of this domain lives in modules this package
never imports (``service``, ``gateway``, ``store``...).
"""

from __future__ import annotations

from sentinel.capture import hook
from sentinel.capture._config import DEFAULT_GATEWAY_URL, CaptureConfig, configure
from sentinel.capture._dispatch import DispatchStats, flush, stats
from sentinel.capture.hook import capture_exception, install_hook, uninstall_hook
from sentinel.capture.middleware import SentinelMiddleware, SentinelWSGIMiddleware
from sentinel.capture.scrubber import scrub

__version__ = "1.0.0"

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "CaptureConfig",
    "DispatchStats",
    "SentinelMiddleware",
    "SentinelWSGIMiddleware",
    "capture_exception",
    "configure",
    "flush",
    "hook",
    "install_hook",
    "scrub",
    "stats",
    "uninstall_hook",
]
