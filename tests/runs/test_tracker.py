"""ResourceTracker and ``sentinel track`` with real processes, without a server."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sentinel_testing import wait_for

from sentinel.runs._procfs import COLUMNS
from sentinel.runs.stats import compute_statistics
from sentinel.runs.tracker import ResourceTracker

BURN = "while True: pass"
TRACK = [sys.executable, "-c", "from sentinel._cli.track import track; track()"]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def burner() -> subprocess.Popen[bytes]:
    with subprocess.Popen([sys.executable, "-c", BURN]) as proc:
        yield proc
        proc.kill()


def test_local_csv_has_the_published_columns_and_sees_the_work(
    burner: subprocess.Popen[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTINEL_API_TOKEN", raising=False)
    out = tmp_path / "run.csv"
    before = _cpu_seconds(burner.pid)
    with ResourceTracker(burner.pid, interval=0.1, csv_path=out) as tracker:
        wait_for(lambda: tracker.samples >= 5, "five samples")
    burnt = _cpu_seconds(burner.pid) - before
    assert tracker.result is None and tracker.error is None and tracker.run_id is None
    with out.open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) - 1 == tracker.samples
    seen = sum(
        float(row[COLUMNS.index("process_utime")]) + float(row[COLUMNS.index("process_stime")])
        for row in rows[1:]
    )
    assert burnt > 0
    assert abs(seen - burnt) <= 0.05  # every tick the burner used, in the rows
    # the published tracker's own reader and the server's statistics both take it
    from resource_tracker.tiny_data_frame import TinyDataFrame

    assert len(TinyDataFrame(csv_file_path=str(out))) == tracker.samples
    stats = compute_statistics([out.read_text()])
    assert stats.samples == tracker.samples
    assert stats.cpu_core_hours > 0


def test_unreachable_server_keeps_the_csv(
    burner: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTINEL_API_URL", _closed_port_url())
    tracker = ResourceTracker(burner.pid, interval=0.1, token="runs-token").start()
    assert tracker.error is not None and "could not register" in tracker.error
    wait_for(lambda: tracker.samples >= 2, "two samples")
    assert tracker.stop() is None
    assert tracker.csv_path.exists()  # not removed: the server never got it
    tracker.csv_path.unlink()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        ResourceTracker(interval=0)
    with pytest.raises(ValueError, match="no process"):
        ResourceTracker(pid=2**22 + 1)


def _track(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRACK, *args], capture_output=True, text=True, timeout=60, check=False, **kwargs
    )


def test_track_passes_the_exit_status_through(tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    done = _track(
        "--interval",
        "0.1",
        "--csv",
        str(out),
        "--",
        sys.executable,
        "-c",
        "raise SystemExit(7)",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 7, done.stderr
    assert "no API token" in done.stderr
    assert out.read_text().startswith('"timestamp",')


def test_track_missing_command_is_127() -> None:
    done = _track("--", "no-such-command-here")
    assert done.returncode == 127
    assert "command not found: no-such-command-here" in done.stderr


def test_track_runs_the_command_when_the_server_is_down(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = _track(
        "--api-url",
        _closed_port_url(),
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w').close()",
        env={"PATH": "/usr/bin:/bin", "SENTINEL_API_TOKEN": "runs-token"},
    )
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert "could not register the run" in done.stderr
    assert "samples kept at" in done.stderr


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 42), (signal.SIGINT, 130)])
def test_track_forwards_signals(sig: signal.Signals, status: int) -> None:
    # the command says when its SIGTERM handler is in place; SIGINT keeps Python's default
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    with subprocess.Popen(
        [*TRACK, "--", sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    ) as track:
        assert track.stdout is not None and track.stdout.readline() == "ready\n"
        track.send_signal(sig)
        assert track.wait(timeout=30) == status
