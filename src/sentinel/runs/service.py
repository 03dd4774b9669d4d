"""The runs domain on the server: ingestion routes, dashboard pages, its home card, its demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sentinel.core.domain import Card, Demo, Domain, Health, Host, NavEntry, Related
from sentinel.runs import pages, routes
from sentinel.runs.ingest import RunIngest
from sentinel.runs.objects import open_store
from sentinel.runs.settings import RunsSettings

if TYPE_CHECKING:
    from fastapi import APIRouter


class RunsDomain(Domain):
    """Run resource tracking (seed 001): register, upload, finish, statistics, pages."""

    name = "runs"
    package = "sentinel.runs"
    attributes = ("runs",)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.settings: RunsSettings = (
            host.settings.domain_settings.get("runs") or RunsSettings.from_env()
        )
        self.runs = RunIngest(
            host.db, open_store(self.settings, host.settings.data_dir), self.settings
        )
        """Register, refresh, upload and finish, without HTTP (``server.runs``)."""

    def nav(self) -> Sequence[NavEntry]:
        return (NavEntry("Runs", "/runs", "runs"),)

    def routers(self) -> Sequence[APIRouter]:
        return (
            routes.router(self.runs, self.host.authorizer),
            pages.router(self.runs.store, self.host.templates),
        )

    def body_limits(self) -> Mapping[str, int]:
        """Inline finishes and uploaded batches are larger than the server's 1 MiB default."""
        return {"/runs": self.settings.max_body_bytes}

    def health(self) -> Health:
        return Health(details={"runs_object_store": "local" if self.runs.objects.local else "s3"})

    def card(self) -> Card | None:
        counts = self.runs.store.counts()
        recent, _ = self.runs.store.search(limit=5)
        return Card(
            title="Runs",
            href="/runs",
            figures=[(name, f"{n:,}") for name, n in counts.items()],
            status="warn" if any(r.status == "failed" for r in recent) else "ok",
            note="" if recent else "No runs yet: `sentinel track -- CMD` registers one.",
            items=[
                (
                    f"{r.project_name or 'no project'} / {r.job_name or r.run_id[:8]}",
                    r.status if r.duration_s is None else f"{r.status}, {r.duration_s:.0f} s",
                    f"/runs/{r.run_id}",
                )
                for r in recent
            ],
        )

    def related(self, kind: str, key: str) -> Sequence[Related]:
        if kind != "gpu":
            return ()
        return [
            Related(
                domain="runs",
                label=f"run {r.project_name or '—'} / {r.job_name or r.run_id[:8]}",
                detail=r.status if r.duration_s is None else f"{r.status}, {r.duration_s:.0f} s",
                href=f"/runs/{r.run_id}",
            )
            for r in self.runs.store.for_gpu(key)
        ]

    def demo(self, server: Any) -> Demo | None:
        from sentinel.runs._demo import RunsDemo

        return RunsDemo(server.http_url, self.host.tokens)


SERVICE = RunsDomain
