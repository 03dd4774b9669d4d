"""Helpers the tests share: a real Sentinel server on free ports.

A module of its own (not ``conftest``) so that test packages with their own conftest
can import it unambiguously.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OPERATOR_TOKEN = "operator-secret-token"


def start_server(tmp_path: Path, database_url: str = "", **kwargs: Any) -> Any:
    """Start a real Sentinel server on free gRPC and HTTP ports."""
    from sentinel.server.app import SentinelServer
    from sentinel.server.settings import ServerSettings

    settings = ServerSettings(
        grpc_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database_url=database_url,
        operator_tokens=(f"alice:{OPERATOR_TOKEN}",),
        **kwargs,
    )
    return SentinelServer(settings).start()
