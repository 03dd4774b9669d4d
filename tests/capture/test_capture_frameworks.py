"""Web frameworks reporting into a real server: FastAPI and Starlette through the ASGI
middleware, Flask through the WSGI one, and the published ``sentinel-python-sdk``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from capture_helpers import REPO, events_of, issues, need, serve_asgi, wait_for_events
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.routing import Mount, Route

import sentinel.capture as sdk


def configure(server: Any) -> None:
    sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(sdk.SentinelMiddleware)

    @app.get("/api/orders/{order_id}")
    def get_order(order_id: int) -> dict[str, int]:
        raise LookupError(f"order {order_id} of carol@example.com is missing")

    @app.get("/api/missing")
    def missing() -> None:
        raise HTTPException(404, "not here")

    @app.get("/api/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    return app


def call_asgi(app: Any, path: str) -> None:
    """One GET of ``path`` straight through ``app``'s ASGI interface (errors propagate)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("test", 80),
    }
    # On a thread of its own: a browser test of the same session leaves a loop running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()


def test_fastapi_reports_the_route_template_and_keeps_its_500(server: Any) -> None:
    configure(server)
    with serve_asgi(fastapi_app()) as url:
        for order in (17, 4242):
            assert httpx.get(f"{url}/api/orders/{order}").status_code == 500
        assert httpx.get(f"{url}/api/missing").status_code == 404  # handled: no exception
        assert httpx.get(f"{url}/api/ok").json() == {"ok": True}
        assert httpx.get(f"{url}/nowhere").status_code == 404
    with pytest.raises(LookupError):
        call_asgi(fastapi_app(), "/api/orders/1")  # re-raised, never swallowed
    (issue,) = wait_for_events(server, 3)
    assert issue["exception_type"] == "LookupError" and issue["event_count"] == 3
    events = events_of(server, issue["issue_id"])
    assert {e["endpoint"] for e in events} == {"/api/orders/{order_id}"}
    assert "carol" not in json.dumps(events)


def test_mounted_starlette_apps_keep_the_mount_prefix_and_unmatched_paths_stay_raw(
    server: Any,
) -> None:
    configure(server)

    async def item(request: Any) -> Any:
        raise ValueError("bad item")

    inner = Starlette(routes=[Route("/items/{item_id}", item)])
    app = Starlette(routes=[Mount("/shop", app=inner)])
    app.add_middleware(sdk.SentinelMiddleware)

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no router here")

    with serve_asgi(app) as url:
        assert httpx.get(f"{url}/shop/items/99").status_code == 500
    with pytest.raises(RuntimeError, match="no router here"):
        call_asgi(sdk.SentinelMiddleware(raw), "/users/77/profile")
    found = wait_for_events(server, 2)
    endpoints = {
        i["exception_type"]: events_of(server, i["issue_id"])[0]["endpoint"] for i in found
    }
    assert endpoints == {"ValueError": "/shop/items/{item_id}", "RuntimeError": "/users/77/profile"}


def test_flask_reports_through_the_wsgi_middleware(server: Any) -> None:
    flask = need("flask", "flask>=3.0")
    configure(server)
    app = flask.Flask("shop")

    @app.get("/api/carts/<int:cart_id>/items/<item>")
    def cart_item(cart_id: int, item: str) -> str:
        raise KeyError(f"item {item} of cart {cart_id}, card 4111 1111 1111 1111")

    app.wsgi_app = sdk.SentinelWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    client = app.test_client()
    assert client.get("/api/carts/5/items/socks").status_code == 500  # Flask's own answer
    assert client.get("/api/carts/6/items/hats").status_code == 500
    assert client.get("/nowhere").status_code == 404
    (issue,) = wait_for_events(server, 2)
    events = events_of(server, issue["issue_id"])
    assert {e["endpoint"] for e in events} == {"/api/carts/{cart_id}/items/{item}"}
    assert "4111" not in json.dumps(events) and "[CREDIT_CARD]" in events[0]["error_message"]


DJANGO_APP = """
import os, sys, types, wsgiref.util
import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

import sentinel.capture as sentinel_sdk


def invoice(request, invoice_id):
    raise ValueError(f"invoice {invoice_id} of frank@example.com has no lines")


urls = types.ModuleType("shop_urls")
urls.urlpatterns = [path("api/invoices/<int:invoice_id>/", invoice)]
sys.modules["shop_urls"] = urls
settings.configure(DEBUG=False, ROOT_URLCONF="shop_urls", ALLOWED_HOSTS=["*"], SECRET_KEY="x",
                   MIDDLEWARE=[], INSTALLED_APPS=[], LOGGING_CONFIG=None)
django.setup()
from django.core.wsgi import get_wsgi_application

sentinel_sdk.configure(api_key=os.environ["KEY"], github_repo="acme/shop",
                       gateway_url=os.environ["GATEWAY"])
application = sentinel_sdk.SentinelWSGIMiddleware(get_wsgi_application())
for n in (7, 8):
    environ = {"PATH_INFO": f"/api/invoices/{n}/", "REQUEST_METHOD": "GET"}
    wsgiref.util.setup_testing_defaults(environ)
    status = []
    b"".join(application(environ, lambda s, h, *a: status.append(s)))
    print(status[0])
assert sentinel_sdk.flush(10)
"""


def test_django_reports_through_the_wsgi_middleware(server: Any) -> None:
    need("django", "django>=4.2")
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_APP],
        env={**os.environ, "KEY": server.key, "GATEWAY": server.http_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["500", "Internal", "Server", "Error"] * 2  # Django's own 500
    (issue,) = wait_for_events(server, 2)
    events = events_of(server, issue["issue_id"])
    assert {e["endpoint"] for e in events} == {"/api/invoices/{invoice_id}/"}
    assert issue["exception_type"] == "ValueError" and "frank" not in json.dumps(events)


def test_plain_wsgi_errors_while_streaming_are_reported_and_re_raised(server: Any) -> None:
    configure(server)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise OSError("disk gone while streaming report 12")

    wrapped = sdk.SentinelWSGIMiddleware(app)
    body = wrapped({"PATH_INFO": "/reports/12"}, lambda *a: None)
    with pytest.raises(OSError, match="disk gone"):
        list(body)
    (issue,) = wait_for_events(server, 1)
    assert events_of(server, issue["issue_id"])[0]["endpoint"] == "/reports/12"


def test_the_published_sdk_reports_into_our_gateway_unchanged(server: Any) -> None:
    sentinel_sdk = need("sentinel_sdk", "sentinel-python-sdk==1.0.0")
    from sentinel_sdk.config import SentinelConfig

    sentinel_sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
    app = FastAPI()
    app.add_middleware(sentinel_sdk.SentinelMiddleware)

    @app.get("/api/orders/{order_id}")
    def get_order(order_id: int) -> None:
        raise LookupError(f"order {order_id} for dave@example.com")

    original = sys.excepthook
    try:
        with serve_asgi(app) as url:
            assert httpx.get(f"{url}/api/orders/5").status_code == 500
            wait_for_events(server, 1)  # its async dispatcher runs on the app's loop
        sentinel_sdk.install_hook()
        try:
            raise ValueError("published hook, password=hunter2")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        found = wait_for_events(server, 2)
    finally:
        sentinel_sdk.uninstall_hook()
        sys.excepthook = original
        SentinelConfig._reset()
    by_type = {i["exception_type"]: i for i in found}
    assert set(by_type) == {"LookupError", "ValueError"}
    (from_middleware,) = events_of(server, by_type["LookupError"]["issue_id"])
    assert from_middleware["endpoint"] == "/api/orders/5"  # it sends the raw path
    assert from_middleware["error_message"] == "order 5 for [EMAIL]"
    (from_hook,) = events_of(server, by_type["ValueError"]["issue_id"])
    assert from_hook["error_message"] == "published hook, password=[REDACTED_SECRET]"
    assert issues(server, status="open") == found
