"""The forecast domain on the server: the seed's ``Sentinel`` engine, its pages, its API,
the Prometheus endpoints for Grafana and remote-read, ``/metrics`` and its demo."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.core.domain import Card, Demo, Domain, Health, Host, NavEntry
from sentinel.forecast import pages, routes
from sentinel.forecast.config import SentinelConfig
from sentinel.forecast.emitter import ForecastCollector
from sentinel.forecast.engine import Sentinel
from sentinel.forecast.settings import ForecastSettings
from sentinel.forecast.store import ActionStore
from sentinel.forecast.versions import series_id

if TYPE_CHECKING:
    from fastapi import APIRouter
    from prometheus_client.registry import Collector

    from sentinel.core.settings import ServerSettings


def _own(settings: ServerSettings) -> ForecastSettings:
    found: ForecastSettings | None = settings.domain_settings.get("forecast")
    return found or ForecastSettings.from_env()


class ForecastDomain(Domain):
    """Forecasting between Prometheus and Grafana (seed 002)."""

    name = "forecast"
    package = "sentinel.forecast"
    attributes = ("forecaster",)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.settings = _own(host.settings)
        config = SentinelConfig(
            prometheus_url=self.settings.prometheus_url,
            artifact_store=self.settings.artifact_store
            or str(Path(host.settings.data_dir) / "forecast-artifacts"),
            max_versions_per_metric=self.settings.max_versions_per_metric,
            watches=list(self.settings.watches),
            scrape_timeout=self.settings.scrape_timeout,
            emit_confidence_bounds=self.settings.emit_confidence_bounds,
            s3_endpoint_url=self.settings.s3_endpoint_url,
            shard_database_url=host.settings.resolved_database_url if self.settings.shards else "",
            shards=self.settings.shards or 64,
        )
        self.forecaster = Sentinel(config)
        """The engine (``server.forecaster``): status, rollback, series."""
        self.actions = ActionStore(host.db)

    @classmethod
    def settings_for_demo(cls, settings: ServerSettings) -> ServerSettings:
        """Watch the demo exporter through the demo's own Prometheus (started by the demo)."""
        from sentinel.forecast._demo import DEMO_WATCHES, demo_prometheus_port

        port = demo_prometheus_port()
        own = dataclasses.replace(
            _own(settings),
            prometheus_url=f"http://127.0.0.1:{port}",
            watches=DEMO_WATCHES,
            demo=True,
            extra={"demo_prometheus_port": str(port)},
        )
        return dataclasses.replace(
            settings, domain_settings={**settings.domain_settings, "forecast": own}
        )

    def nav(self) -> Sequence[NavEntry]:
        return (NavEntry("Forecasts", "/forecast", "forecast"),)

    def routers(self) -> Sequence[APIRouter]:
        return (
            routes.api_router(self.forecaster, self.actions, self.host.authorizer),
            routes.prometheus_router(self.forecaster),
            pages.router(self.forecaster, self.actions, self.host.templates),
        )

    def collectors(self) -> Sequence[Collector]:
        return (ForecastCollector(self.forecaster),)

    def start(self) -> None:
        if self.settings.watches:
            self.forecaster.start_loop()

    def stop(self) -> None:
        self.forecaster.stop()

    def health(self) -> Health:
        status = self.forecaster.status()
        problems = sorted({p for s in status.values() for p in s["problems"] if "unreachable" in p})
        return Health(
            problems=problems[:3],
            details={"forecast_series": sum(1 for s in status.values() if s["ready"])},
        )

    def status_line(self) -> str:
        status = self.forecaster.status()
        if not status:
            return ""
        ready = sum(1 for s in status.values() if s["ready"])
        return f"forecasts: {ready}/{len(status)} series ready"

    def card(self) -> Card | None:
        status = self.forecaster.status()
        if not self.settings.watches:
            return Card(
                title="Forecasts",
                href="/forecast",
                figures=[("series", "0")],
                note="Nothing watched: set SENTINEL_FORECAST_WATCHES.",
            )
        ready = [k for k, s in status.items() if s["ready"]]
        troubled = [k for k, s in status.items() if s["problems"]]
        return Card(
            title="Forecasts",
            href="/forecast",
            figures=[("series", str(len(status))), ("ready", str(len(ready)))],
            status="warn" if troubled else "ok",
            note=status[troubled[0]]["problems"][0] if troubled else "",
            items=[
                (
                    k,
                    f"{status[k]['model']} {status[k]['active_version']}",
                    f"/forecast/series/{series_id(k)}",
                )
                for k in ready[:5]
            ],
        )

    def demo(self, server: Any) -> Demo | None:
        from sentinel.forecast._demo import ForecastDemo

        port = int(self.settings.extra.get("demo_prometheus_port", "0"))
        return ForecastDemo(server.http_url, port) if self.settings.demo and port else None


SERVICE = ForecastDomain
