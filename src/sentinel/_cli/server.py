"""``sentinel serve`` and ``sentinel certs dev``: the commands that run or set up a server.

The server stack is imported inside the commands, so the client commands never load it.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_SERVER_OPTIONS = (
    click.option("--grpc-port", type=int, help="gRPC port [$SENTINEL_GRPC_PORT or 50051]."),
    click.option("--http-port", type=int, help="HTTP port [$SENTINEL_HTTP_PORT or 8000]."),
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
)


def _server_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_SERVER_OPTIONS):
        fn = option(fn)
    return fn


def _settings(flags: dict[str, Any]) -> Any:
    from sentinel.server.settings import ServerSettings

    return dataclasses.replace(
        ServerSettings.from_env(),
        **{name: value for name, value in flags.items() if value is not None},
    )


@click.command()
@_server_options
def serve(**flags: Any) -> None:
    """Run the Sentinel server until interrupted.

    Every setting comes from its SENTINEL_* variable unless given as a flag.
    """
    from sentinel.server.app import run_server

    try:
        run_server(_settings(flags))
    except ValueError as exc:
        # Configuration problems (bad variables, unreadable TLS files) are ValueErrors
        # whose messages say what to fix.
        raise click.ClickException(str(exc)) from exc


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
    for approvals are printed at start.
    """
    from sentinel.fleet.demo import DemoSpec
    from sentinel.server.up import run_up

    try:
        spec = DemoSpec(
            hosts=demo_hosts, gpus_per_host=demo_gpus_per_host, fault_delay_s=demo_fault_delay
        )
        run_up(_settings(flags), demo=demo, spec=spec)
    except ValueError as exc:  # DemoTooLarge included: the refusal comes before anything starts
        raise click.ClickException(str(exc)) from exc


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
def dev(directory: Path, hostnames: tuple[str, ...]) -> None:
    """Write a development CA, server, operator and agent certificates to DIRECTORY."""
    try:
        from sentinel.server.pki import generate_dev_pki
    except ImportError as exc:
        raise click.ClickException(str(exc)) from exc

    pki = generate_dev_pki(directory, hostnames=hostnames)

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
        f"Agents: the same CA with {pki.client_cert.name} and {pki.client_key.name}.",
    ]
    click.echo("\n".join(lines))
