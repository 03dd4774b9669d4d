"""``sentinel agent``: the probe daemon of one GPU host.

The GPU path is the default: NVML must find the driver and at least one GPU, or the
command exits 1 with what to install. The CPU backend (simulated devices) runs only
when asked for, so a misconfigured GPU host never reports simulated health.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

_PEM = click.Path(exists=True, dir_okay=False)


@click.command()
@click.option(
    "--engine",
    envvar="SENTINEL_ENDPOINT",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the engine's gRPC gateway.",
)
@click.option(
    "--ca-cert",
    envvar="SENTINEL_CA_CERT",
    type=_PEM,
    show_envvar=True,
    help="CA (PEM); turns TLS on.",
)
@click.option(
    "--client-cert",
    envvar="SENTINEL_CLIENT_CERT",
    type=_PEM,
    show_envvar=True,
    help="Client certificate (PEM) for mTLS.",
)
@click.option(
    "--client-key",
    envvar="SENTINEL_CLIENT_KEY",
    type=_PEM,
    show_envvar=True,
    help="Client private key (PEM) for mTLS.",
)
@click.option(
    "--backend",
    type=click.Choice(["gpu", "cpu"]),
    default="gpu",
    show_default=True,
    help="gpu probes the NVIDIA GPUs; cpu simulates devices (CI, demos; no telemetry).",
)
@click.option("--cpu-devices", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--cpu-sms", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--data-dir",
    envvar="SENTINEL_AGENT_DATA_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("./agent-data"),
    show_default=True,
    show_envvar=True,
    help="Report buffer and per-GPU state files.",
)
@click.option("--hostname", help="Name to register as [default: this machine's hostname].")
@click.option(
    "--action-hook",
    envvar="SENTINEL_ACTION_HOOK",
    show_envvar=True,
    help="Command run as CMD <gpu-uuid> <action> <reason> for each applied directive.",
)
@click.option(
    "--buffer-max-bytes",
    type=click.IntRange(min=4096),
    default=64 << 20,
    show_default=True,
    help="Upper bound of the on-disk report buffer.",
)
@click.option(
    "--log-level",
    envvar="SENTINEL_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--token",
    envvar="SENTINEL_TOKEN",
    show_envvar=True,
    help="This host's agent token (`sentinel tokens create --scope agent --host <host>`).",
)
@click.pass_context
def agent(ctx: click.Context, **o: Any) -> None:
    """Probe this host's GPUs for silent data corruption and follow the engine's directives.

    Runs until SIGINT or SIGTERM. Results wait on disk while the engine is unreachable.
    The agent authenticates with its host's agent token (--token or SENTINEL_TOKEN, from
    `sentinel tokens create --scope agent --host <this host>`) or with an mTLS client
    certificate whose common name is the hostname.
    """
    import socket

    from sentinel.fleet.agent import Agent, NvmlTelemetry, NvmlUnavailable, check_nvml
    from sentinel.fleet.config import TlsConfig
    from sentinel.fleet.probes import open_backend

    logging.basicConfig(
        level=o["log_level"].upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hostname = o["hostname"] or socket.gethostname()
    try:
        tls = None
        if o["ca_cert"] or o["client_cert"] or o["client_key"]:
            tls = TlsConfig(o["ca_cert"], o["client_cert"], o["client_key"])
        telemetry = None
        if o["backend"] == "gpu":
            check_nvml()
            backend = open_backend("gpu")
            telemetry = NvmlTelemetry([d.uuid for d in backend.devices()])
        else:
            backend = open_backend(
                "cpu", n_devices=o["cpu_devices"], sm_count=o["cpu_sms"], hostname=hostname
            )
        daemon = Agent(
            o["engine"],
            backend,
            tls_config=tls,
            # `sentinel --token T agent` (or the token after `agent`, which the root command
            # takes) works as well as the agent's own option.
            token=o["token"] or getattr(ctx.obj, "token", None),
            hostname=hostname,
            data_dir=o["data_dir"],
            action_hook=o["action_hook"],
            buffer_max_bytes=o["buffer_max_bytes"],
            telemetry=telemetry,
        )
    except (NvmlUnavailable, ImportError, ValueError) as exc:
        # Each says what is missing and how to fix it.
        raise click.ClickException(str(exc)) from exc
    daemon.run_forever()
