"""Refresh the dashboard screenshots in the README from a live demo fleet (``make screenshots``).

Starts ``sentinel up``'s server and demo fleet on free ports, waits until the scenarios
have played out far enough to show (the stuck-bit GPU quarantined, its deep test failed
and a CONDEMN waiting for approval, TMR comparisons made), then photographs each page in
headless Chromium.

Usage: .venv/bin/python scripts/screenshots.py [OUTPUT_DIR]   (default docs/screenshots)
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import sync_playwright

from sentinel.core.settings import ServerSettings
from sentinel.fleet import views
from sentinel.fleet.demo import DemoSpec
from sentinel.fleet.engine.enums import GpuState
from sentinel.fleet.service import FleetSettings
from sentinel.server.up import Running, start

CHROMIUM = "/usr/bin/chromium"
_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _wait(what: str, ready: Callable[[], bool], limit_s: float) -> None:
    began = time.monotonic()
    while not ready():
        if time.monotonic() - began > limit_s:
            raise SystemExit(f"gave up after {limit_s:.0f} s waiting for {what}")
        time.sleep(1)
    print(f"  {what}: after {time.monotonic() - began:.0f} s", flush=True)  # noqa: T201


def _scenario_gpu(running: Running, key: str) -> str:
    assert running.demos["fleet"].fleet is not None
    return next(s.gpu_uuids[0] for s in running.demos["fleet"].fleet.scenarios if s.key == key)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sentinel-screens-") as tmp:
        settings = ServerSettings(grpc_port=0, http_port=0, data_dir=Path(tmp), log_level="WARNING")
        fleet = FleetSettings(demo=DemoSpec(fault_delay_s=10))
        settings = dataclasses.replace(settings, domain_settings={"fleet": fleet})
        running = start(settings, demo=True)
        try:
            _shoot(running, out)
        finally:
            running.stop()


def _shoot(running: Running, out: Path) -> None:
    engine = running.server.engine
    stuck = _scenario_gpu(running, "stuck_bit")
    hot = _scenario_gpu(running, "hot_node")
    print(f"demo fleet up at {running.server.http_url}", flush=True)  # noqa: T201
    _wait(
        "the stuck-bit GPU quarantined",
        lambda: (
            getattr(engine.state.gpus.get(stuck), "state", GpuState.HEALTHY) != GpuState.HEALTHY
        ),
        300,
    )
    _wait("a directive waiting for approval", lambda: bool(engine.pending), 600)
    _wait("TMR comparisons in the trust graph", lambda: bool(views.trust_graph(engine).edges), 300)
    base = running.server.http_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=_FLAGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_init_script(
            f"localStorage.setItem('sentinel.operatorToken', {running.token!r})"
        )
        page = context.new_page()
        runs = running.server.runs.store.search(limit=1)[0]
        shots = [
            ("home", "/"),
            ("fleet", "/fleet"),
            ("gpu-stuck-bit", f"/gpus/{stuck}"),
            ("gpu-hot-node", f"/gpus/{hot}"),
            ("directives", "/directives"),
            ("audit", "/audit"),
            ("trust", "/trust"),
            ("runs", "/runs"),
            *([("run", f"/runs/{runs[0].run_id}")] if runs else []),
            ("capture", "/capture"),
            ("llm", "/llm"),
            ("forecast", "/forecast"),
        ]
        for name, path in shots:
            page.goto(base + path)
            page.wait_for_selector("#live.on")
            if name == "audit":
                page.click("#verify")
                page.wait_for_selector(".verify-result.valid, .verify-result.broken")
            page.screenshot(path=str(out / f"{name}.png"), full_page=name != "audit")
            print(f"  wrote {out / name}.png", flush=True)  # noqa: T201
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
