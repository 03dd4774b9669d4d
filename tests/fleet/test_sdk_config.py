"""TlsConfig, RetryConfig and the SENTINEL_* environment defaults."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from sentinel.fleet import ClientConfig, RetryConfig, SentinelClient, TlsConfig
from sentinel.fleet.config import SDK_LOGGER

ENV = (
    "SENTINEL_ENDPOINT",
    "SENTINEL_CA_CERT",
    "SENTINEL_CLIENT_CERT",
    "SENTINEL_CLIENT_KEY",
    "SENTINEL_TIMEOUT",
    "SENTINEL_MAX_RETRIES",
    "SENTINEL_LOG_LEVEL",
    "SENTINEL_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SENTINEL_* variable from the caller's shell, and the SDK logger's level restored."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    sdk_logger = logging.getLogger(SDK_LOGGER)
    level = sdk_logger.level
    sdk_logger.setLevel(logging.NOTSET)
    yield
    sdk_logger.setLevel(level)


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_tls_config_needs_cert_and_key_together(pem: Path) -> None:
    with pytest.raises(ValueError, match="both client_cert_path and client_key_path"):
        TlsConfig(ca_cert_path=str(pem), client_cert_path=str(pem))


def test_tls_config_names_a_missing_file(pem: Path, tmp_path: Path) -> None:
    missing = tmp_path / "client-key.pem"

    with pytest.raises(ValueError, match=r"client_key_path: file '.*client-key\.pem'"):
        TlsConfig(client_cert_path=str(pem), client_key_path=str(missing))


def test_retry_defaults_are_the_seeds() -> None:
    config = RetryConfig()

    assert (config.max_retries, config.initial_backoff_s, config.max_backoff_s) == (3, 0.1, 10.0)
    assert config.backoff_multiplier == 2.0
    assert list(config.retryable_status_codes) == [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ]


def test_backoff_is_jittered_around_the_documented_growing_capped_value() -> None:
    config = RetryConfig(initial_backoff_s=0.1, max_backoff_s=1.0, backoff_multiplier=2.0)
    rng = random.Random(7)

    for attempt, nominal in [(0, 0.1), (1, 0.2), (3, 0.8)]:
        draws = [config.backoff(attempt, rng) for _ in range(200)]
        assert nominal * 0.8 <= min(draws) < nominal * 0.85
        assert nominal * 1.15 < max(draws) <= nominal * 1.2
        assert nominal * 0.95 < sum(draws) / len(draws) < nominal * 1.05
    for attempt in (4, 10_000):
        draws = [config.backoff(attempt, rng) for _ in range(200)]
        assert 0.8 <= min(draws) < 0.85
        assert max(draws) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"initial_backoff_s": 2.0, "max_backoff_s": 1.0}, "initial_backoff_s <= max_backoff_s"),
        ({"backoff_multiplier": 0.5}, "backoff_multiplier"),
    ],
)
def test_retry_config_refuses_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryConfig(**kwargs)  # type: ignore[arg-type]


def test_defaults_without_environment() -> None:
    config = ClientConfig.from_env("localhost:50051")

    assert config == ClientConfig(endpoint="localhost:50051")
    assert config.retry_config.max_retries == 3
    assert config.default_timeout == 30.0


@pytest.mark.parametrize(
    ("endpoint", "insecure", "tls"),
    [
        ("sentinel.internal", "sentinel.internal:50051", "sentinel.internal:443"),
        ("10.0.0.7", "10.0.0.7:50051", "10.0.0.7:443"),
        ("[::1]", "[::1]:50051", "[::1]:443"),
        ("::1", "[::1]:50051", "[::1]:443"),
        ("sentinel.internal:8443", "sentinel.internal:8443", "sentinel.internal:8443"),
        ("[::1]:7000", "[::1]:7000", "[::1]:7000"),
        ("dns:///sentinel.internal:1234", "dns:///sentinel.internal:1234", None),
        ("unix:/run/sentinel.sock", "unix:/run/sentinel.sock", None),
    ],
)
def test_an_endpoint_without_a_port_gets_the_transports_default(
    endpoint: str, insecure: str, tls: str | None, pem: Path
) -> None:
    assert ClientConfig.from_env(endpoint).endpoint == insecure
    secure = ClientConfig.from_env(endpoint, tls_config=TlsConfig(ca_cert_path=str(pem)))
    assert secure.endpoint == (tls or insecure)


def test_environment_fills_what_is_not_passed(
    monkeypatch: pytest.MonkeyPatch, pem: Path, tmp_path: Path
) -> None:
    key = tmp_path / "client-key.pem"
    key.write_text("key")
    for name, value in {
        "SENTINEL_ENDPOINT": "sentinel.internal:443",
        "SENTINEL_CA_CERT": str(pem),
        "SENTINEL_CLIENT_CERT": str(pem),
        "SENTINEL_CLIENT_KEY": str(key),
        "SENTINEL_TIMEOUT": "2.5",
        "SENTINEL_MAX_RETRIES": "7",
        "SENTINEL_TOKEN": "tok-env",
        "SENTINEL_LOG_LEVEL": "debug",
    }.items():
        monkeypatch.setenv(name, value)

    config = ClientConfig.from_env()

    assert config.endpoint == "sentinel.internal:443"
    assert config.tls_config == TlsConfig(str(pem), str(pem), str(key))
    assert (config.default_timeout, config.retry_config.max_retries) == (2.5, 7)
    assert (config.token, config.log_level) == ("tok-env", logging.DEBUG)


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch, pem: Path) -> None:
    monkeypatch.setenv("SENTINEL_ENDPOINT", "env:1")
    monkeypatch.setenv("SENTINEL_TIMEOUT", "2.5")
    monkeypatch.setenv("SENTINEL_MAX_RETRIES", "7")
    monkeypatch.setenv("SENTINEL_TOKEN", "tok-env")
    monkeypatch.setenv("SENTINEL_CA_CERT", "/nonexistent/ca.pem")
    tls = TlsConfig(ca_cert_path=str(pem))

    config = ClientConfig.from_env(
        "arg:2",
        tls_config=tls,
        retry_config=RetryConfig(max_retries=1),
        default_timeout=9.0,
        token="tok-arg",
        options=[("grpc.keepalive_time_ms", 10_000)],
    )

    assert (config.endpoint, config.tls_config, config.token) == ("arg:2", tls, "tok-arg")
    assert (config.default_timeout, config.retry_config.max_retries) == (9.0, 1)
    assert config.options == (("grpc.keepalive_time_ms", 10_000),)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SENTINEL_TIMEOUT", "soon", "SENTINEL_TIMEOUT must be a number"),
        ("SENTINEL_MAX_RETRIES", "1.5", "SENTINEL_MAX_RETRIES must be a number"),
        ("SENTINEL_LOG_LEVEL", "LOUD", "SENTINEL_LOG_LEVEL must be one of DEBUG, INFO"),
        ("SENTINEL_CA_CERT", "/nonexistent/ca.pem", "'/nonexistent/ca.pem' does not exist"),
    ],
)
def test_malformed_variables_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=message):
        ClientConfig.from_env("localhost:50051")


def test_log_level_applies_to_the_sdk_logger_on_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    logging.getLogger(SDK_LOGGER).setLevel(logging.DEBUG)
    monkeypatch.setenv("SENTINEL_LOG_LEVEL", "error")

    SentinelClient.connect("127.0.0.1:1").close()

    assert logging.getLogger(SDK_LOGGER).level == logging.ERROR


def test_an_unset_log_level_defaults_to_warning() -> None:
    SentinelClient.connect("127.0.0.1:1").close()

    assert logging.getLogger(SDK_LOGGER).level == logging.WARNING
    assert logging.getLogger("sentinel.fleet").level == logging.NOTSET


def test_an_unset_log_level_keeps_a_level_the_application_chose() -> None:
    logging.getLogger(SDK_LOGGER).setLevel(logging.DEBUG)

    SentinelClient.connect("127.0.0.1:1").close()

    assert logging.getLogger(SDK_LOGGER).level == logging.DEBUG
