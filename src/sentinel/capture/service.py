"""Exception capture as a domain of the server: the gateway, its pages, its card, its demo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sentinel.capture.gateway import RateLimiter
from sentinel.capture.settings import CaptureSettings
from sentinel.capture.store import CaptureStore
from sentinel.capture.writer import EventWriter
from sentinel.core.domain import Card, Demo, Domain, Health, Host, NavEntry
from sentinel.core.identity import TokenStore
from sentinel.core.settings import ServerSettings

if TYPE_CHECKING:
    from fastapi import APIRouter


def reported_issues(settings: ServerSettings) -> int:
    """Issues real services (not the demo shop) reported into this database; 0 when it does
    not exist yet."""
    from sqlalchemy import inspect, text

    from sentinel.capture._demo_shop import REPO
    from sentinel.core.db import make_engine

    if not settings.database_url and not (settings.data_dir / "sentinel.db").exists():
        return 0  # looking must not create the data dir
    db = make_engine(settings.resolved_database_url)
    try:
        if not inspect(db).has_table("capture_issues"):
            return 0
        with db.connect() as conn:
            query = text("SELECT COUNT(*) FROM capture_issues WHERE github_repo != :demo")
            return int(conn.execute(query, {"demo": REPO}).scalar_one())
    finally:
        db.dispose()


class CaptureDomain(Domain):
    """Exception capture (seed 003): the gateway the SDK reports to, issues, pages."""

    name = "capture"
    package = "sentinel.capture"
    attributes = ("capture_store",)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.settings: CaptureSettings = (
            host.settings.domain_settings.get("capture") or CaptureSettings.from_env()
        )
        self.capture_store = CaptureStore(host.db, self.settings.events_per_issue)
        """Issues and events, without HTTP (``server.capture_store``)."""
        self.writer = EventWriter(
            self.capture_store, self.settings.queue_size, self.settings.batch_size
        )
        self.limiter = RateLimiter(self.settings.rate_per_second, self.settings.burst)

    @classmethod
    def in_use(cls, settings: ServerSettings) -> bool:
        return reported_issues(settings) > 0

    def nav(self) -> Sequence[NavEntry]:
        return (NavEntry("Exceptions", "/capture", "capture"),)

    def routers(self) -> Sequence[APIRouter]:
        from sentinel.capture import gateway, pages

        return (
            gateway.router(self.capture_store, self.writer, self.limiter, self.host.authorizer),
            pages.router(self.capture_store, self.host.templates),
        )

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()

    def health(self) -> Health:
        problems = [] if self.writer.running else ["capture: the event writer is not running"]
        return Health(problems=problems, details={"capture_backlog": self.writer.backlog})

    def status_line(self) -> str:
        c = self.capture_store.counts()
        return f"exceptions: {c['open']} open issues, {c['events']:,} events"

    def card(self) -> Card:
        c = self.capture_store.counts()
        recent, _ = self.capture_store.issues(status="open", limit=5)
        regressions = [i for i in recent if i.regressions]
        return Card(
            title="Exceptions",
            href="/capture",
            figures=(
                ("open issues", f"{c['open']:,}"),
                ("resolved", f"{c['resolved']:,}"),
                ("ignored", f"{c['ignored']:,}"),
                ("events", f"{c['events']:,}"),
            ),
            status="bad" if regressions else "warn" if c["open"] else "ok",
            note=(
                f"{len(regressions)} resolved issue(s) came back"
                if regressions
                else "No open issue."
                if not c["open"]
                else "Newest open issues below."
            ),
            items=[
                (
                    i.exception_type,
                    f"{i.event_count:,}× {i.github_repo}",
                    f"/capture/issues/{i.issue_id}",
                )
                for i in recent
            ],
        )

    def demo(self, server: Any) -> Demo:
        return ShopDemo(server.http_url, self.host.tokens)


class ShopDemo(Demo):
    """A small shop in a child process whose requests fail now and then, through the SDK."""

    def __init__(self, gateway_url: str, tokens: TokenStore, interval_s: float = 5.0) -> None:
        self.gateway_url = gateway_url
        self.tokens = tokens
        self.interval_s = interval_s
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from sentinel.capture._demo_shop import REPO

        _, key = self.tokens.create("capture", name="demo-shop", repos=[REPO])
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sentinel.capture._demo_shop",
                "--gateway",
                self.gateway_url,
                "--interval",
                str(self.interval_s),
            ],
            env={**os.environ, "SENTINEL_CAPTURE_DEMO_KEY": key},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def describe(self) -> Sequence[str]:
        return (
            f"Demo shop: a service whose requests fail every {self.interval_s:g} s, reporting "
            "through the capture SDK (emails and card numbers scrubbed) into /capture",
        )


SERVICE = CaptureDomain
