"""``sentinel up``: the server on embedded defaults, plus a simulated fleet until agents come.

The demo keeps its state in ``<data dir>/demo`` and starts it afresh every time, so a
newcomer always sees the scenarios play out from the beginning; the real fleet's
database in the data dir is never touched by it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import inspect, text

from sentinel.core.auth import OPEN_MODE_WARNING
from sentinel.core.db import make_engine
from sentinel.fleet.demo import DemoFleet, DemoSpec, check_capacity, demo_policy
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.server import views
from sentinel.server.app import SentinelServer
from sentinel.server.settings import ServerSettings

log = logging.getLogger("sentinel.server")

_TTY_EVERY_S = 1.0
_LOG_EVERY_S = 30.0


def registered_agents(settings: ServerSettings) -> int:
    """Agents the real fleet's database knows; 0 when it does not exist yet."""
    if not settings.database_url and not (settings.data_dir / "sentinel.db").exists():
        return 0  # looking must not create the data dir
    url = settings.resolved_database_url
    db = make_engine(url)
    try:
        if not inspect(db).has_table("fleet_agents"):
            return 0
        with db.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM fleet_agents")).scalar_one())
    finally:
        db.dispose()


def operator_token(settings: ServerSettings) -> tuple[ServerSettings, str | None]:
    """Settings with an operator token; a new one (also written to the data dir) if none is set.

    The file is created 0600 and exclusively, never through a symlink, so no other user
    can read the token or redirect it elsewhere, not even for an instant.

    Returns the settings and the token made, or ``None`` when the settings had tokens.
    """
    if settings.operator_tokens or settings.operator_subjects:
        return settings, None
    token = secrets.token_urlsafe(32)
    private_dir(settings.data_dir)
    path = settings.data_dir / "operator-token"
    path.unlink(missing_ok=True)  # a symlink planted here is removed, not followed
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ValueError(
            f"{path} reappeared while it was being replaced: another process is writing "
            "into the data dir; stop it, or choose another --data-dir"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return dataclasses.replace(settings, operator_tokens=(f"operator:{token}",)), token


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) readable by this user only, when it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)


def private_database(path: Path) -> None:
    """Create the SQLite file ``path`` 0600 before SQLite does (it would follow the umask,
    and its -wal and -shm files take the database's mode), or make an existing one 0600."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    path.chmod(0o600)


def summary_line(server: SentinelServer, started: float) -> str:
    """One line: elapsed time, GPUs by state, SDC rate, approvals waiting, ledger size."""
    o = views.fleet_overview(server.engine)
    c = o.counts
    elapsed = int(time.monotonic() - started)
    return (
        f"{elapsed // 60:02d}:{elapsed % 60:02d}  {o.total_gpus} GPUs: "
        f"{c['HEALTHY']} healthy, {c['SUSPECT']} suspect, {c['QUARANTINED']} quarantined, "
        f"{c['DEEP_TEST']} deep test, {c['CONDEMNED']} condemned | "
        f"SDC {o.sdc_rate:.3f}/GPU-h | reliability {o.average_reliability:.4f} | "
        f"{o.pending_approvals} awaiting approval | {o.active_agents} agents | "
        f"ledger {o.ledger_entries:,}"
    )


@dataclass
class Running:
    """A started server, and the demo fleet when one runs."""

    server: SentinelServer
    settings: ServerSettings
    fleet: DemoFleet | None
    token: str | None
    """The operator token made at start; ``None`` when the settings had operators."""

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        self.server.stop()


def start(settings: ServerSettings, *, demo: bool | None, spec: DemoSpec | None = None) -> Running:
    """Start the server and, with ``demo`` (``None``: when no agent registered), the demo fleet.

    Raises:
        DemoTooLarge: before anything starts, when the demo would not fit in memory.
    """
    if demo is None:
        demo = registered_agents(settings) == 0
    spec = spec or DemoSpec()
    policy = EnginePolicy()
    private_dir(settings.data_dir)
    if demo:
        check_capacity(spec)
        demo_dir = settings.data_dir / "demo"
        shutil.rmtree(demo_dir, ignore_errors=True)
        demo_dir.mkdir(mode=0o700)
        private_database(demo_dir / "sentinel.db")
        settings = dataclasses.replace(
            settings, database_url=f"sqlite:///{(demo_dir / 'sentinel.db').resolve()}"
        )
        policy = policy.with_overrides(demo_policy(spec))
    elif not settings.database_url:
        private_database(settings.data_dir / "sentinel.db")
    settings, token = operator_token(settings)
    server = SentinelServer(settings, policy).start()  # SENTINEL_ENGINE_* still apply
    fleet = None
    if demo:
        try:
            fleet = DemoFleet(
                server.address,
                spec,
                data_dir=settings.data_dir / "demo" / "agents",
                canary=server.engine.create_tmr_canary,
                agent_token=lambda host: server.tokens.create("agent", host=host)[1],
            )
            fleet.start()
        except BaseException:
            server.stop()
            raise
    return Running(server, settings, fleet, token)


def run_up(
    settings: ServerSettings,
    *,
    demo: bool | None,
    spec: DemoSpec | None = None,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> None:
    """What ``sentinel up`` does: ``start``, print the URL, then a live summary until stopped.

    Args:
        settings: Server settings, as for ``sentinel serve``.
        demo: Run the simulated fleet; ``None`` runs it when no agent has registered.
        spec: The demo's size and timing; ``None`` for 4 hosts × 8 GPUs.
        out: Where the URL and the live summary go.
        stop: Set it to stop (tests); SIGINT and SIGTERM do the same from the main thread.
    """
    if demo is None:
        demo = registered_agents(settings) == 0
    if demo:
        check_capacity(spec or DemoSpec())  # refuse before anything is created
    # The terminal belongs to the summary line; the log (agents' included) goes to a file.
    private_dir(settings.data_dir)
    log_file = settings.data_dir / "sentinel.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        running = start(settings, demo=demo, spec=spec)
        try:
            _announce(out, running, log_file)
            _watch(out, running.server, stop or _signalled())
        finally:
            running.stop()
            out.write("\nSentinel stopped.\n")
            out.flush()
    finally:
        root.removeHandler(handler)
        handler.close()


def _announce(out: TextIO, running: Running, log_file: Path) -> None:
    server, settings, fleet = running.server, running.settings, running.fleet
    lines = [f"Sentinel is up. Dashboard: {server.http_url}/   (gRPC {server.address})"]
    if settings.open_mode:
        lines.append(f"WARNING: {OPEN_MODE_WARNING}.")
    if running.token:
        lines.append(
            f"Operator token for approvals (also in {settings.data_dir / 'operator-token'}): "
            f"{running.token}"
        )
    if fleet is not None:
        lines.append(
            f"Demo fleet: {len(fleet.all_uuids)} simulated GPUs on the CPU backend; "
            f"faults appear {fleet.spec.fault_delay_s:g} s after start:"
        )
        lines += [f"  - {s.title} ({s.pattern})" for s in fleet.scenarios]
        lines.append(
            f"Demo state lives in {settings.data_dir / 'demo'} and starts afresh each time; "
            "`sentinel up --no-demo` serves your own fleet."
        )
    lines.append(f"Log: {log_file}. Ctrl-C stops.")
    out.write("\n".join(lines) + "\n")
    out.flush()


def _signalled() -> threading.Event:
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
    return done


def _watch(out: TextIO, server: SentinelServer, stop: threading.Event) -> None:
    """Print the summary line: rewritten in place on a terminal, every 30 s otherwise."""
    tty = out.isatty()
    started = time.monotonic()
    every = _TTY_EVERY_S if tty else _LOG_EVERY_S
    while True:
        line = summary_line(server, started)
        if tty:
            width = shutil.get_terminal_size((160, 20)).columns
            out.write("\r\x1b[2K" + line[: width - 1])
        else:
            out.write(line + "\n")
        out.flush()
        if stop.wait(every):
            return
