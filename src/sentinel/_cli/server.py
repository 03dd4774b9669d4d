"""``sentinel serve``, ``sentinel up`` and ``sentinel certs dev``: run or set up a server.

The server stack is imported inside the commands, so the client commands never load it.
A server that cannot start prints one ``error:`` line and exits 1, or
``PORT_UNAVAILABLE_EXIT`` when a port is busy or not allowed.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.text import Text

from sentinel._cli.render import console

PORT_UNAVAILABLE_EXIT = 8
"""Exit code of ``serve`` and ``up`` when a port is in use or not allowed."""

_PORT = click.IntRange(0, 65535)
_PORT_SETTINGS = (
    ("gRPC", "grpc_port", "--grpc-port", "SENTINEL_GRPC_PORT"),
    ("HTTP", "http_port", "--http-port", "SENTINEL_HTTP_PORT"),
)

_SERVER_OPTIONS = (
    click.option(
        "--grpc-port",
        type=_PORT,
        help="gRPC port, 0 for a free one [$SENTINEL_GRPC_PORT or 50051].",
    ),
    click.option(
        "--http-port", type=_PORT, help="HTTP port, 0 for a free one [$SENTINEL_HTTP_PORT or 8000]."
    ),
    click.option("--host", help="Address to bind [$SENTINEL_HOST or 127.0.0.1]."),
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Embedded state [$SENTINEL_DATA_DIR or ./data].",
    ),
    click.option(
        "--database-url", help="SQLAlchemy URL [$SENTINEL_DATABASE_URL or SQLite in the data dir]."
    ),
    click.option("--tls-cert", help="Server certificate, PEM [$SENTINEL_TLS_CERT]."),
    click.option("--tls-key", help="Server private key, PEM [$SENTINEL_TLS_KEY]."),
    click.option(
        "--tls-client-ca", help="CA for client certificates: mTLS [$SENTINEL_TLS_CLIENT_CA]."
    ),
    click.option(
        "--domains",
        help="Domains to host, comma-separated (fleet,runs,...) [$SENTINEL_DOMAINS or all].",
    ),
    click.option(
        "--insecure-open",
        "auth_mode",
        flag_value="open",
        default=None,
        help="Let anyone change state, for a lab only [$SENTINEL_AUTH_MODE=open].",
    ),
)


def _server_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_SERVER_OPTIONS):
        fn = option(fn)
    return fn


def _settings(flags: dict[str, Any]) -> Any:
    """Settings from the environment and the flags, with both ports checked.

    Flags are range-checked by click; this catches the variables, and refuses a busy port
    before anything is created (``up`` resets the demo's state as it starts).
    """
    from sentinel.core.settings import ServerSettings
    from sentinel.server._ports import check_port

    settings = dataclasses.replace(
        ServerSettings.from_env(),
        **{name: value for name, value in flags.items() if value is not None},
    )
    for service, field, flag, variable in _PORT_SETTINGS:
        port = getattr(settings, field)
        if not 0 <= port <= 65535:
            raise ValueError(
                f"{variable}={port} is not a port: give 0 to 65535 (0 picks a free one) "
                f"in {variable} or {flag}"
            )
        if port:
            check_port(service, settings.host, port)
    return settings


def _fail(exc: ValueError) -> NoReturn:
    """One ``error:`` line for a server that cannot start, and the exit code that says why."""
    from sentinel.server._ports import PortUnavailable

    console(stderr=True).print(
        Text.assemble(("error: ", "bold red"), (str(exc), "red")), soft_wrap=True
    )
    code = PORT_UNAVAILABLE_EXIT if isinstance(exc, PortUnavailable) else 1
    click.get_current_context().exit(code)


@click.command()
@_server_options
def serve(**flags: Any) -> None:
    """Run the Sentinel server until interrupted.

    Every setting comes from its SENTINEL_* variable unless given as a flag. Exits 8 when a
    port is in use or not allowed, 1 for other settings problems.
    """
    try:
        settings = _settings(flags)  # before the server stack loads, so a refusal is quick
        from sentinel.server.app import run_server

        run_server(settings)
    except ValueError as exc:
        # Configuration problems (bad variables, busy ports, unreadable TLS files) are
        # ValueErrors whose messages say what to fix.
        _fail(exc)


@click.command()
@_server_options
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Run a simulated fleet [default: on while no agent has registered].",
)
@click.option("--demo-hosts", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--demo-gpus-per-host", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--demo-fault-delay",
    type=click.FloatRange(min=0),
    default=45.0,
    show_default=True,
    help="Seconds before the demo's faults appear.",
)
def up(
    demo: bool | None,
    demo_hosts: int,
    demo_gpus_per_host: int,
    demo_fault_delay: float,
    **flags: Any,
) -> None:
    """Run the server and the dashboard; with no agents yet, a simulated fleet too.

    The demo fleet runs the real probe, monitor and TMR code on the CPU backend, with
    scenarios for every correlation pattern. The dashboard URL and an operator token
    for approvals are printed at start. Exits as ``serve`` does when it cannot start.
    """
    from sentinel.fleet.demo import DemoSpec
    from sentinel.fleet.service import FleetSettings
    from sentinel.server.up import run_up

    try:
        spec = DemoSpec(
            hosts=demo_hosts, gpus_per_host=demo_gpus_per_host, fault_delay_s=demo_fault_delay
        )
        settings = _settings(flags)
        settings = dataclasses.replace(
            settings,
            domain_settings={**settings.domain_settings, "fleet": FleetSettings(demo=spec)},
        )
        run_up(settings, demo=demo)
    except ValueError as exc:  # DemoTooLarge included: the refusal comes before anything starts
        _fail(exc)


@click.group()
def certs() -> None:
    """Certificates for TLS and mTLS."""


@certs.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    default=("localhost", "127.0.0.1"),
    show_default=True,
    help="Name or IP address clients use for the server; repeatable.",
)
@click.option(
    "--agent-host",
    help="Host the agent certificate acts for: its common name [default: this machine's name].",
)
def dev(directory: Path, hostnames: tuple[str, ...], agent_host: str | None) -> None:
    """Write a development CA, server, operator and agent certificates to DIRECTORY.

    A verified client certificate is the agent of the host its common name names, unless
    that name is in SENTINEL_OPERATOR_SUBJECTS.
    """
    import socket

    try:
        from sentinel.server.pki import generate_dev_pki
    except ImportError as exc:
        raise click.ClickException(str(exc)) from exc

    agent_host = agent_host or socket.gethostname()
    pki = generate_dev_pki(directory, hostnames=hostnames, client_name=agent_host)

    def export(variable: str, value: Path | str) -> str:
        text = str(value.resolve()) if isinstance(value, Path) else value
        return f"  export {variable}={shlex.quote(text)}"

    lines = [
        f"Wrote a development PKI to {directory} (unencrypted keys: not for production).",
        "",
        "Server (mTLS, the operator certificate may act):",
        export("SENTINEL_TLS_CERT", pki.server_cert),
        export("SENTINEL_TLS_KEY", pki.server_key),
        export("SENTINEL_TLS_CLIENT_CA", pki.ca_cert),
        export("SENTINEL_OPERATOR_SUBJECTS", "operator"),
        "",
        "Operator CLI and SDK:",
        export("SENTINEL_ENDPOINT", f"{hostnames[0]}:50051"),
        export("SENTINEL_CA_CERT", pki.ca_cert),
        export("SENTINEL_CLIENT_CERT", pki.operator_cert),
        export("SENTINEL_CLIENT_KEY", pki.operator_key),
        "",
        f"Agent of host {agent_host}: the same CA with {pki.client_cert.name} and "
        f"{pki.client_key.name}.",
    ]
    click.echo("\n".join(lines))
