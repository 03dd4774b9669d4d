"""LLM fixtures: a Kafka broker per module (Tansu, or ``SENTINEL_TEST_KAFKA``), and moto for
a broker whose storage survives restarts (the browser fixtures are the suite's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _broker import Broker, free_port, listening
from sentinel_testing import wait_for


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker: ``SENTINEL_TEST_KAFKA``, or Tansu started here."""
    external = os.environ.get("SENTINEL_TEST_KAFKA", "").strip()
    if external:
        yield external
        return
    broker = Broker(tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def moto_s3() -> Iterator[dict[str, str]]:
    """A real ``moto_server`` with bucket ``tansu``; yields the S3 settings Tansu reads."""
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(binary).exists():
        pytest.fail("moto_server is missing: pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
    }
    try:
        wait_for(lambda: listening(port), "moto_server to listen")
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        ).create_bucket(Bucket="tansu")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)
