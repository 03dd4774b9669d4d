"""The SDK's configuration: where Kafka is, how to produce to it, how to authenticate.

``to_kafka_config`` gives confluent-kafka (librdkafka) settings for :class:`SentinelClient`;
``to_aiokafka_config`` gives aiokafka's keyword arguments for :class:`AsyncSentinelClient`,
with TLS as a real :class:`ssl.SSLContext`.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, fields
from typing import Any

from sentinel.llm.errors import ConfigurationError

__all__ = ["SentinelConfig"]

_COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
_ACKS = ("0", "1", "all", "-1")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER")
_ENV = {
    "brokers": "SENTINEL_BROKERS",
    "topic": "SENTINEL_TOPIC",
    "client_id": "SENTINEL_CLIENT_ID",
    "compression_type": "SENTINEL_COMPRESSION_TYPE",
    "acks": "SENTINEL_ACKS",
    "retries": "SENTINEL_RETRIES",
    "security_protocol": "SENTINEL_SECURITY_PROTOCOL",
    "sasl_mechanism": "SENTINEL_SASL_MECHANISM",
    "sasl_username": "SENTINEL_SASL_USERNAME",
    "sasl_password": "SENTINEL_SASL_PASSWORD",
    "ssl_ca_location": "SENTINEL_SSL_CA_LOCATION",
    "ssl_cert_location": "SENTINEL_SSL_CERT_LOCATION",
    "ssl_key_location": "SENTINEL_SSL_KEY_LOCATION",
}


@dataclass
class SentinelConfig:
    """How the SDK reaches Kafka and produces telemetry (the seed's fields and defaults)."""

    brokers: list[str]
    """Kafka bootstrap servers, ``host:port`` each."""
    topic: str = "llm-telemetry"
    client_id: str = "sentinel-sdk-python"
    compression_type: str = "gzip"
    """``none``, ``gzip``, ``snappy``, ``lz4`` or ``zstd`` (the last three need codecs
    aiokafka's async client imports on demand)."""
    acks: str = "all"
    retries: int = 3
    retry_backoff_ms: int = 100
    request_timeout_ms: int = 30000
    linger_ms: int = 10
    batch_size: int = 16384
    max_in_flight_requests: int = 5
    enable_idempotence: bool = True
    """Broker-side de-duplication of retried batches; needs ``acks="all"`` and at most five
    requests in flight, and keeps each partition in send order."""
    buffer_memory: int = 33554432
    """Bytes of events the client holds while Kafka is slow or away; past it ``send`` waits
    (up to its timeout) instead of dropping."""
    max_request_size: int = 1048576
    metadata_max_age_ms: int = 300000
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_cert_location: str | None = None
    ssl_key_location: str | None = None
    additional_config: dict[str, str] = field(default_factory=dict)
    """Extra client settings passed through verbatim (librdkafka names for the sync client)."""
    delivery_timeout_ms: int = 120000
    """How long an event may wait for Kafka (down, restarting) before it counts as failed."""

    def __post_init__(self) -> None:
        if isinstance(self.brokers, str):
            self.brokers = [b.strip() for b in self.brokers.split(",") if b.strip()]
        if not isinstance(self.brokers, list) or not self.brokers:
            raise ConfigurationError("brokers: name at least one Kafka broker as host:port")
        for b in self.brokers:
            host, _, port = str(b).rpartition(":")
            if not host or not port.isdigit():
                raise ConfigurationError(f"brokers: {b!r} is not host:port")
        if not self.topic or len(self.topic) > 249:
            raise ConfigurationError("topic: must be 1 to 249 characters")
        self.compression_type = str(self.compression_type).lower()
        _choice("compression_type", self.compression_type, _COMPRESSION)
        self.acks = str(self.acks).lower()
        _choice("acks", self.acks, _ACKS)
        self.security_protocol = str(self.security_protocol).upper()
        _choice("security_protocol", self.security_protocol, _PROTOCOLS)
        if self.sasl_mechanism is not None:
            self.sasl_mechanism = self.sasl_mechanism.upper()
            _choice("sasl_mechanism", self.sasl_mechanism, _MECHANISMS)
        for name in (
            "retries",
            "retry_backoff_ms",
            "linger_ms",
            "metadata_max_age_ms",
        ):
            _int(name, getattr(self, name), 0)
        for name in (
            "request_timeout_ms",
            "batch_size",
            "max_in_flight_requests",
            "buffer_memory",
            "max_request_size",
            "delivery_timeout_ms",
        ):
            _int(name, getattr(self, name), 1)
        if self.enable_idempotence:
            if self.acks not in ("all", "-1"):
                raise ConfigurationError(
                    f"acks: idempotence needs acks='all', got {self.acks!r} "
                    "(or set enable_idempotence=False)"
                )
            if self.max_in_flight_requests > 5:
                raise ConfigurationError(
                    "max_in_flight_requests: idempotence allows at most 5, "
                    f"got {self.max_in_flight_requests}"
                )
        if self.security_protocol.startswith("SASL") and not self.sasl_mechanism:
            raise ConfigurationError(
                f"sasl_mechanism: security_protocol {self.security_protocol} needs one "
                f"of {', '.join(_MECHANISMS)}"
            )
        if bool(self.ssl_cert_location) != bool(self.ssl_key_location):
            raise ConfigurationError(
                "ssl_cert_location and ssl_key_location: give both (a client certificate "
                "and its key) or neither"
            )
        if not isinstance(self.additional_config, dict):
            raise ConfigurationError("additional_config: must be a dict of client settings")

    @classmethod
    def from_env(cls, **kwargs: Any) -> SentinelConfig:
        """Configuration from ``SENTINEL_*`` variables; ``kwargs`` override them.

        Raises:
            ConfigurationError: a variable holds an invalid value (the message names it).
        """
        values: dict[str, Any] = {"brokers": "localhost:9092"}
        for name, var in _ENV.items():
            raw = os.environ.get(var, "").strip()
            if not raw:
                continue
            if name == "retries":
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ConfigurationError(f"{var} must be an integer, got {raw!r}") from None
            else:
                values[name] = raw
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigurationError(f"unknown configuration field(s): {', '.join(unknown)}")
        values.update(kwargs)
        return cls(**values)

    def to_kafka_config(self) -> dict[str, Any]:
        """Producer settings for confluent-kafka (librdkafka names)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": ",".join(self.brokers),
            "client.id": self.client_id,
            "compression.type": self.compression_type,
            "acks": self.acks,
            "retries": self.retries,
            "retry.backoff.ms": self.retry_backoff_ms,
            "request.timeout.ms": self.request_timeout_ms,
            "linger.ms": self.linger_ms,
            "batch.size": self.batch_size,
            "max.in.flight.requests.per.connection": self.max_in_flight_requests,
            "enable.idempotence": self.enable_idempotence,
            "queue.buffering.max.kbytes": max(self.buffer_memory // 1024, 1),
            "message.max.bytes": self.max_request_size,
            "metadata.max.age.ms": self.metadata_max_age_ms,
            "message.timeout.ms": self.delivery_timeout_ms,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_cert_location,
            "ssl.key.location": self.ssl_key_location,
        }
        conf.update({k: v for k, v in optional.items() if v})
        conf.update(self.additional_config)
        return conf

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of ``SSL``/``SASL_SSL`` (CA and client certificate loaded)."""
        if "SSL" not in self.security_protocol:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ssl_ca_location)
            if self.ssl_cert_location and self.ssl_key_location:
                context.load_cert_chain(self.ssl_cert_location, self.ssl_key_location)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"ssl_*_location: cannot load TLS files: {exc}", exc) from exc
        return context

    def to_aiokafka_config(self) -> dict[str, Any]:
        """Keyword arguments of ``aiokafka.AIOKafkaProducer``."""
        conf: dict[str, Any] = {
            "bootstrap_servers": ",".join(self.brokers),
            "client_id": self.client_id,
            "compression_type": None if self.compression_type == "none" else self.compression_type,
            "acks": "all" if self.acks in ("all", "-1") else int(self.acks),
            "retry_backoff_ms": self.retry_backoff_ms,
            "request_timeout_ms": self.request_timeout_ms,
            "linger_ms": self.linger_ms,
            "max_batch_size": self.batch_size,
            "enable_idempotence": self.enable_idempotence,
            "max_request_size": self.max_request_size,
            "metadata_max_age_ms": self.metadata_max_age_ms,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl_mechanism"] = self.sasl_mechanism
            conf["sasl_plain_username"] = self.sasl_username
            conf["sasl_plain_password"] = self.sasl_password
        context = self.ssl_context()
        if context is not None:
            conf["ssl_context"] = context
        return conf


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")


def _int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"{name}: must be an integer >= {low}, got {value!r}")
