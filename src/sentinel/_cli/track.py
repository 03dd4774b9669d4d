"""``sentinel track -- CMD ...``: run a command and track its resources as a run.

The command always runs: tracking is best effort. When the server cannot be reached
the command runs as it would without us, a warning says so, and the CSV is kept on
disk. The exit status is the command's (``128 + n`` when signal ``n`` ended it, 127
when it cannot be found, 126 when it cannot be run); SIGINT and SIGTERM sent to
``sentinel track`` are passed on to the command.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

_TRACK_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _warn(message: str) -> None:
    click.secho(f"sentinel track: {message}", fg="yellow", err=True)


def _token(ctx: click.Context) -> str | None:
    """``--token`` given on the command line, else ``SENTINEL_API_TOKEN``, else
    ``SENTINEL_TOKEN``."""
    root = ctx.find_root()
    given = root.params.get("token")
    if given and root.get_parameter_source("token") is click.core.ParameterSource.COMMANDLINE:
        return str(given)
    return os.environ.get("SENTINEL_API_TOKEN") or given or None


def _forward(child: subprocess.Popen[bytes]) -> None:
    """Pass SIGINT and SIGTERM on to the command.

    A Ctrl-C typed in the terminal already reached the command (it is in our
    foreground process group), so SIGINT is passed on only when we are not in the
    foreground: otherwise the command would get it twice.
    """

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _in_foreground():
            return
        if child.returncode is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def _in_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):  # no terminal
        return False


def _wait_exited(pid: int) -> int:
    """Wait until the command exits, and return its exit status as a shell gives it
    (``128 + n`` when signal ``n`` ended it).

    The command is left unreaped, so that the tracker's last sample still reads its
    final CPU and I/O counters.
    """
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    assert info is not None  # None only with WNOHANG
    return info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status


@click.command(context_settings=_TRACK_SETTINGS)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Seconds between samples.",
)
@click.option(
    "--upload-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds between uploaded batches.",
)
@click.option("--project", help="Project name of the run.")
@click.option("--job", help="Job name of the run.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also keep the samples in this CSV file.",
)
@click.option(
    "--api-url",
    envvar="SENTINEL_API_URL",
    show_envvar=True,
    help="Base URL of the runs API [default: http://127.0.0.1:8000].",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def track(
    ctx: click.Context,
    interval: float,
    upload_interval: float,
    project: str | None,
    job: str | None,
    tags: tuple[str, ...],
    csv_path: Path | None,
    api_url: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND and track its processes, the machine and its GPUs as a run.

    Put `--` before the command. The run is registered with the API token of scope
    `runs` (`--token`, $SENTINEL_API_TOKEN or $SENTINEL_TOKEN); without one, or when
    the server cannot be reached, the command still runs and the samples stay in a CSV.
    """
    from sentinel.runs.tracker import ResourceTracker

    tag_map: dict[str, str] = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{tag!r} is not KEY=VALUE", param_hint="--tag")
        tag_map[key] = value
    if api_url:
        os.environ["SENTINEL_API_URL"] = api_url
    token = _token(ctx)
    metadata: dict[str, Any] = {
        "command": list(command),
        "project_name": project,
        "job_name": job,
        "tags": tag_map or None,
    }
    try:
        child = subprocess.Popen(command)
    except FileNotFoundError:
        click.secho(f"sentinel track: command not found: {command[0]}", fg="red", err=True)
        ctx.exit(127)
    except PermissionError:
        click.secho(
            f"sentinel track: cannot run {command[0]}: permission denied", fg="red", err=True
        )
        ctx.exit(126)
    _forward(child)
    tracker = ResourceTracker(
        child.pid,
        interval=interval,
        token=token,
        metadata=metadata,
        upload_interval=upload_interval,
        csv_path=csv_path,
    )
    tracker.start()
    if not token:
        _warn(
            "no API token ($SENTINEL_API_TOKEN, --token): not sending this run to a server; "
            f"samples go to {tracker.csv_path}"
        )
    elif tracker.run_url:
        click.echo(f"sentinel track: run {tracker.run_id}: {tracker.run_url}", err=True)
    else:
        _warn(f"{tracker.error}; running {shlex.join(command)} anyway")
    status = _wait_exited(child.pid)
    from sentinel.runs.api import RunStatus

    tracker.stop(status, RunStatus.finished if status == 0 else RunStatus.failed)
    child.wait()
    if tracker.result is not None:
        click.echo(f"sentinel track: finished run {tracker.run_id}: {tracker.run_url}", err=True)
    elif token:
        _warn(f"{tracker.error or 'run not finished'}; samples kept at {tracker.csv_path}")
    ctx.exit(status)
