"""The ``sentinel`` command: run the server and operate the fleet from a shell.

Client commands talk to the fleet API over gRPC through ``sentinel.fleet``; the
connection options below (each with a ``SENTINEL_*`` default) apply to all of them.
A failed call prints one red line on stderr and exits with a code that says what went
wrong: 3 not found, 4 invalid argument, 5 not authenticated or not allowed,
6 server unreachable, 1 anything else.
"""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from sentinel._cli.agent import agent
from sentinel._cli.audit import audit
from sentinel._cli.connection import Connection
from sentinel._cli.directives import directives, quarantine
from sentinel._cli.fleet import fleet, gpu
from sentinel._cli.llm import llm_detect
from sentinel._cli.options import hoist_token
from sentinel._cli.render import console
from sentinel._cli.server import certs, serve, up
from sentinel._cli.tokens import tokens
from sentinel._cli.track import track
from sentinel.fleet import SentinelError

__all__ = ["cli", "main"]


class _Sentinel(click.Group):
    """Turns SDK errors into one line and an exit code instead of a traceback, and takes
    ``--token`` after the subcommand too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_token(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SentinelError as exc:
            conn: Connection = ctx.obj
            message, code = conn.explain(exc)
            console(stderr=True).print(
                Text.assemble(("error: ", "bold red"), (message, "red")), soft_wrap=True
            )
            ctx.exit(code)


_PEM = click.Path(exists=True, dir_okay=False)


@click.group(cls=_Sentinel)
@click.option(
    "--endpoint",
    envvar="SENTINEL_ENDPOINT",
    default="127.0.0.1:50051",
    show_default=True,
    show_envvar=True,
    help="host:port of the gRPC fleet API.",
)
@click.option(
    "--ca-cert",
    envvar="SENTINEL_CA_CERT",
    type=_PEM,
    show_envvar=True,
    help="CA (PEM) that verifies the server; turns TLS on.",
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
    "--token",
    envvar="SENTINEL_TOKEN",
    show_envvar=True,
    help="Bearer token: an operator's, or for `agent` its host's (before or after the command).",
)
@click.option(
    "--timeout",
    envvar="SENTINEL_TIMEOUT",
    default=30.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds each call may take.",
)
@click.version_option(package_name="sentinel")
@click.pass_context
def cli(ctx: click.Context, **options: Any) -> None:
    """Sentinel: find GPUs that compute wrong answers and take them out of service."""
    ctx.obj = Connection(**options)


for command in (
    serve,
    up,
    fleet,
    gpu,
    quarantine,
    directives,
    audit,
    certs,
    agent,
    tokens,
    track,
    llm_detect,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``sentinel`` console script."""
    cli(prog_name="sentinel")
