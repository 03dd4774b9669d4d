"""Exceptions of web requests: pure ASGI middleware (FastAPI, Starlette) and WSGI middleware.

Both report an exception that escapes the application and re-raise it, so the
framework's own handlers and 500 responses are unchanged. The ``endpoint`` is the route
template (``/api/orders/{order_id}``): ids in paths are personal data and would split one
bug into many issues. The raw path is used only where no route matched.

Flask and Django turn a view's exception into a 500 response before it reaches any
WSGI middleware; :class:`SentinelWSGIMiddleware` therefore also listens to the
framework's ``got_request_exception`` signal when it wraps a Flask or Django app.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from sentinel.capture import _config
from sentinel.capture.hook import report

__all__ = ["SentinelMiddleware", "SentinelWSGIMiddleware"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
StartResponse = Callable[..., Any]

_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
"""A path parameter of Flask (``<int:cart_id>``) or Django (``<slug:name>``)."""


class SentinelMiddleware:
    """ASGI middleware reporting unhandled exceptions of HTTP and WebSocket requests.

    ``app.add_middleware(SentinelMiddleware)`` in FastAPI or Starlette.

    Raises:
        RuntimeError: ``configure()`` was not called before the app was built.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        _config.require()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            report(type(exc), exc, exc.__traceback__, asgi_endpoint(scope))
            raise


def asgi_endpoint(scope: Scope) -> str:
    """The matched route's template, with the prefix of any mount; else the raw path."""
    path = str(scope.get("path", ""))
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str) or not template:
        return path
    try:
        concrete = template.format(**(scope.get("path_params") or {}))
    except (KeyError, IndexError, ValueError):
        return template
    # A route of a mounted app knows only its part of the path: keep the mount's prefix.
    return path[: len(path) - len(concrete)] + template if path.endswith(concrete) else template


class SentinelWSGIMiddleware:
    """WSGI middleware reporting unhandled exceptions; for Flask, Django and plain WSGI.

    ``app.wsgi_app = SentinelWSGIMiddleware(app.wsgi_app)`` in Flask;
    ``application = SentinelWSGIMiddleware(get_wsgi_application())`` in Django's
    ``wsgi.py``; ``SentinelWSGIMiddleware(app)`` for any other WSGI app. With Flask and
    Django it also subscribes to their ``got_request_exception`` signal, which sees the
    exceptions they turn into 500 responses.

    Raises:
        RuntimeError: ``configure()`` was not called before the app was built.
    """

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        _config.require()
        self.app = app
        owner = getattr(app, "__self__", app)
        framework = type(owner).__module__.split(".")[0]
        if framework == "flask":
            _subscribe_flask(owner)
        elif framework == "django":
            _subscribe_django()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            body = self.app(environ, start_response)
        except Exception as exc:
            report(type(exc), exc, exc.__traceback__, _wsgi_endpoint(environ))
            raise
        return _Reporting(body, environ)


class _Reporting:
    """A response body whose iteration errors are reported too (streamed responses)."""

    def __init__(self, body: Iterable[bytes], environ: dict[str, Any]) -> None:
        self._body = body
        self._environ = environ

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:
            report(type(exc), exc, exc.__traceback__, _wsgi_endpoint(self._environ))
            raise

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _wsgi_endpoint(environ: dict[str, Any]) -> str:
    return str(environ.get("PATH_INFO", "")) or "/"


def _subscribe_flask(app: Any) -> None:
    flask = sys.modules["flask"]

    def on_exception(sender: Any, exception: BaseException, **_: Any) -> None:
        rule = getattr(flask.request, "url_rule", None)
        endpoint = _PARAM.sub(r"{\1}", rule.rule) if rule is not None else flask.request.path
        report(type(exception), exception, exception.__traceback__, endpoint)

    app.__sentinel_receiver__ = on_exception  # the signal holds receivers weakly
    flask.got_request_exception.connect(on_exception, app)


def _subscribe_django() -> None:
    signals = sys.modules["django.core.signals"]

    def on_exception(sender: Any, request: Any = None, **_: Any) -> None:
        exc = sys.exc_info()[1]  # Django sends the signal while it handles the exception
        if exc is None:
            return
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", "") if match is not None else ""
        endpoint = "/" + _PARAM.sub(r"{\1}", route).lstrip("^").rstrip("$") if route else ""
        report(type(exc), exc, exc.__traceback__, endpoint or getattr(request, "path", ""))

    # Once per process, whatever the number of wrapped apps; held strongly by the uid.
    signals.got_request_exception.connect(on_exception, weak=False, dispatch_uid="sentinel.capture")
