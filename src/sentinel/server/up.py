"""``sentinel up``: the server on embedded defaults, plus each domain's demo until clients come.

The demo keeps its state in ``<data dir>/demo`` and starts it afresh every time, so a
newcomer always sees the scenarios play out from the beginning; the real database in the
data dir is never touched by it.
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

from sentinel.core.auth import OPEN_MODE_WARNING
from sentinel.core.domain import Demo, Domain, domain_class, installed, parse_domains
from sentinel.core.settings import ServerSettings
from sentinel.server.app import SentinelServer

log = logging.getLogger("sentinel.server")

_TTY_EVERY_S = 1.0
_LOG_EVERY_S = 30.0


def _classes(settings: ServerSettings) -> list[type[Domain]]:
    names = parse_domains(settings.domains) if settings.domains else installed()
    return [domain_class(name) for name in names]


def in_use(settings: ServerSettings) -> bool:
    """Whether real clients use the data dir's database already (then no demo runs)."""
    return any(cls.in_use(settings) for cls in _classes(settings))


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
    """One line: elapsed time, then each domain's own summary (GPUs by state, runs...)."""
    elapsed = int(time.monotonic() - started)
    parts = [line for d in server.domains.values() if (line := d.status_line())]
    return f"{elapsed // 60:02d}:{elapsed % 60:02d}  " + " || ".join(parts)


@dataclass
class Running:
    """A started server, and the domains' demos when they run."""

    server: SentinelServer
    settings: ServerSettings
    demos: dict[str, Demo]
    """Each domain's running demo, by domain name."""
    token: str | None
    """The operator token made at start; ``None`` when the settings had operators."""
    token_file: Path
    """Where that token was written (in the data dir, also while a demo runs)."""

    def stop(self) -> None:
        for demo in reversed(self.demos.values()):
            demo.stop()
        self.server.stop()


def start(settings: ServerSettings, *, demo: bool | None) -> Running:
    """Start the server and, with ``demo`` (``None``: when no real client used the database
    yet), every domain's demo.

    Raises:
        ValueError: before anything starts, when a domain refuses its demo (the fleet's
            ``DemoTooLarge`` when it would not fit in memory).
    """
    classes = _classes(settings)
    if demo is None:
        demo = not any(cls.in_use(settings) for cls in classes)
    private_dir(settings.data_dir)
    settings, token = operator_token(settings)
    token_file = settings.data_dir / "operator-token"
    if demo:
        for cls in classes:
            settings = cls.settings_for_demo(settings)
        # Everything of the demo (database, signing key, checkpoints, objects, agents' state)
        # lives in <data dir>/demo, started afresh; only the operator token stays outside.
        demo_dir = settings.data_dir / "demo"
        shutil.rmtree(demo_dir, ignore_errors=True)
        demo_dir.mkdir(mode=0o700)
        private_database(demo_dir / "sentinel.db")
        settings = dataclasses.replace(
            settings,
            data_dir=demo_dir,
            database_url=f"sqlite:///{(demo_dir / 'sentinel.db').resolve()}",
            checkpoint_store="",
            signing_key="",
        )
    elif not settings.database_url:
        private_database(settings.data_dir / "sentinel.db")
    server = SentinelServer(settings).start()  # SENTINEL_ENGINE_* still apply
    demos: dict[str, Demo] = {}
    if demo:
        try:
            for name, domain in server.domains.items():
                made = domain.demo(server)
                if made is not None:
                    made.start()
                    demos[name] = made
        except BaseException:
            for made in reversed(demos.values()):
                made.stop()
            server.stop()
            raise
    return Running(server, settings, demos, token, token_file)


def run_up(
    settings: ServerSettings,
    *,
    demo: bool | None,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> None:
    """What ``sentinel up`` does: ``start``, print the URL, then a live summary until stopped.

    Args:
        settings: Server settings, as for ``sentinel serve``.
        demo: Run the domains' demos; ``None`` runs them while no real client used the
            database (no fleet agent has registered...). The fleet's demo size comes from
            ``settings.domain_settings["fleet"]``.
        out: Where the URL and the live summary go.
        stop: Set it to stop (tests); SIGINT and SIGTERM do the same from the main thread.
    """
    if demo is None:
        demo = not in_use(settings)
    if demo:
        for cls in _classes(settings):  # refuse before anything is created
            cls.settings_for_demo(settings)
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
        running = start(settings, demo=demo)
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
    server, settings = running.server, running.settings
    lines = [f"Sentinel is up. Dashboard: {server.http_url}/   (gRPC {server.address})"]
    if settings.open_mode:
        lines.append(f"WARNING: {OPEN_MODE_WARNING}.")
    if running.token:
        lines.append(
            f"Operator token for approvals (also in {running.token_file}): {running.token}"
        )
    for demo in running.demos.values():
        lines += demo.describe()
    if running.demos:
        lines.append(
            f"Demo state lives in {settings.data_dir} and starts afresh each time; "
            "`sentinel up --no-demo` serves your own data."
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
