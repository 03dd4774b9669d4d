"""The SDK's data model, configuration and errors: every seed name with its defaults."""

from __future__ import annotations

import ssl
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sentinel.llm as llm
from sentinel.llm import (
    AnomalyType,
    ConfigurationError,
    DetectionMethod,
    PromptInfo,
    ResponseInfo,
    SentinelConfig,
    SentinelError,
    Severity,
    TelemetryEvent,
    TelemetryEventBuilder,
    ValidationError,
)


def event(**changes: object) -> TelemetryEvent:
    fields: dict = {
        "service_name": "chat",
        "model": "gpt-4o",
        "prompt": PromptInfo("Hi", 3, [0.1, 0.2]),
        "response": ResponseInfo("Hello!", 4, "stop"),
        "latency_ms": 420.0,
        "cost_usd": 0.0001,
    }
    fields.update(changes)
    return TelemetryEvent(**fields)


def test_exports_are_pinned() -> None:
    assert sorted(llm.__all__) == sorted(
        [
            "AnomalyType",
            "AsyncSentinelClient",
            "ConfigurationError",
            "ConnectionError",
            "DeliveryStats",
            "DetectionMethod",
            "PromptInfo",
            "ResponseInfo",
            "SendError",
            "SentinelClient",
            "SentinelConfig",
            "SentinelError",
            "Severity",
            "TelemetryEvent",
            "TelemetryEventBuilder",
            "TimeoutError",
            "ValidationError",
            "__version__",
        ]
    )
    assert llm.__version__ == "0.1.0"
    assert (Path(llm.__file__).parent / "py.typed").is_file()


def test_import_is_light_and_runs_on_python_310() -> None:
    heavy = ("fastapi", "sqlalchemy", "numpy", "sklearn", "torch", "confluent_kafka", "aiokafka")
    code = (
        "import sys, sentinel.llm as l; "
        "e = l.TelemetryEventBuilder().service('s').model('m').prompt('p', 1)"
        ".response('r', 2, 'stop').latency(1.0).cost(0.0).build(); "
        "assert l.TelemetryEvent.from_dict(e.to_dict()) == e; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    py310 = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python"))
    if py310:
        src = str(Path(llm.__file__).parents[2])
        subprocess.run(
            [str(py310[-1]), "-c", f"import sys; sys.path.insert(0, {src!r}); {code}"],
            check=True,
            capture_output=True,
        )


def test_event_helpers_and_round_trip() -> None:
    e = event(errors=["boom"], metadata={"gpu_uuid": "GPU-1"})
    assert e.has_errors() and e.error_rate() == 1.0 and e.total_tokens() == 7
    assert event().error_rate() == 0.0 and not event().has_errors()
    data = e.to_dict()
    assert data["event_id"] == str(e.event_id) and data["prompt"]["embedding"] == [0.1, 0.2]
    back = TelemetryEvent.from_dict(data)
    assert back == e and isinstance(back.event_id, UUID)
    assert back.timestamp.tzinfo is not None
    assert PromptInfo("a", 1).to_dict() == {"text": "a", "tokens": 1, "embedding": None}
    assert ResponseInfo("b", 2, "length").to_dict()["finish_reason"] == "length"


def test_naive_timestamp_is_utc() -> None:
    data = event(timestamp=datetime(2025, 1, 1, 12, 0)).to_dict()
    assert data["timestamp"].endswith("+00:00")
    data["timestamp"] = "2025-01-01T12:00:00Z"
    ts = TelemetryEvent.from_dict(data).timestamp
    assert ts == datetime(2025, 1, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service_name": ""}, "service_name"),
        ({"model": 3}, "model"),
        ({"prompt": PromptInfo("x", -1)}, "prompt.tokens"),
        ({"response": ResponseInfo("x", True, "stop")}, "response.tokens"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"cost_usd": -1.0}, "cost_usd"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"errors": "boom"}, "errors"),
        ({"prompt": PromptInfo("x", 1, [float("inf")])}, "prompt.embedding"),
    ],
)
def test_validation_names_the_field(change: dict, field: str) -> None:
    from sentinel.llm.events import validate_event

    with pytest.raises(ValidationError) as info:
        validate_event(event(**change))
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, SentinelError)


def test_from_dict_names_missing_fields() -> None:
    data = event().to_dict()
    del data["prompt"]["tokens"]
    with pytest.raises(ValidationError, match=r"prompt\.tokens: is required"):
        TelemetryEvent.from_dict(data)
    with pytest.raises(ValidationError, match="timestamp"):
        TelemetryEvent.from_dict({**event().to_dict(), "timestamp": "yesterday"})


def test_builder_sets_every_field() -> None:
    eid = UUID(int=7)
    ts = datetime(2025, 5, 1, tzinfo=timezone.utc)
    e = (
        TelemetryEventBuilder()
        .event_id(eid)
        .timestamp(ts)
        .service("svc")
        .model("m")
        .trace_id("t" * 32)
        .span_id("s" * 16)
        .prompt("p", 1, [1.0])
        .response("r", 2, "stop", [2.0])
        .latency(5.0)
        .cost(0.5)
        .metadata({"a": "1"})
        .add_metadata("b", "2")
        .errors(["x"])
        .add_error("y")
        .build()
    )
    assert (e.event_id, e.timestamp, e.trace_id, e.span_id) == (eid, ts, "t" * 32, "s" * 16)
    assert e.metadata == {"a": "1", "b": "2"} and e.errors == ["x", "y"]
    assert e.response.embedding == [2.0] and e.cost_usd == 0.5
    alt = (
        TelemetryEventBuilder()
        .service("svc")
        .model("m")
        .prompt_info(PromptInfo("p", 1))
        .response_info(ResponseInfo("r", 2, "stop"))
        .latency(1)
        .cost(0)
        .build()
    )
    assert alt.prompt.text == "p"
    with pytest.raises(ValidationError, match="latency_ms"):
        TelemetryEventBuilder().service("s").model("m").prompt("p", 1).response(
            "r", 1, "stop"
        ).cost(0).build()


def test_enums_and_severity_order() -> None:
    assert Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL
    assert max(Severity.HIGH, Severity.LOW) is Severity.HIGH and Severity.HIGH >= Severity.HIGH
    assert [t.value for t in AnomalyType][:2] == ["latency_spike", "throughput_degradation"]
    assert len(AnomalyType) == 12 and len(DetectionMethod) == 11
    assert DetectionMethod("rag") is DetectionMethod.RAG and Severity("low") == "low"


def test_config_defaults_and_kafka_settings() -> None:
    c = SentinelConfig(brokers=["k1:9092", "k2:9092"])
    assert (c.topic, c.client_id, c.compression_type, c.acks) == (
        "llm-telemetry",
        "sentinel-sdk-python",
        "gzip",
        "all",
    )
    assert (c.retries, c.linger_ms, c.batch_size, c.buffer_memory) == (3, 10, 16384, 33554432)
    assert c.enable_idempotence and c.security_protocol == "PLAINTEXT"
    k = c.to_kafka_config()
    assert k["bootstrap.servers"] == "k1:9092,k2:9092" and k["enable.idempotence"] is True
    assert k["compression.type"] == "gzip" and k["queue.buffering.max.kbytes"] == 32768
    a = c.to_aiokafka_config()
    assert a["bootstrap_servers"] == "k1:9092,k2:9092" and a["acks"] == "all"
    assert a["enable_idempotence"] and "ssl_context" not in a
    extra = SentinelConfig(brokers=["k:1"], additional_config={"socket.keepalive.enable": "true"})
    assert extra.to_kafka_config()["socket.keepalive.enable"] == "true"


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SentinelConfig.from_env().brokers == ["localhost:9092"]
    env = {
        "SENTINEL_BROKERS": "a:1, b:2",
        "SENTINEL_TOPIC": "t",
        "SENTINEL_CLIENT_ID": "c",
        "SENTINEL_COMPRESSION_TYPE": "lz4",
        "SENTINEL_ACKS": "all",
        "SENTINEL_RETRIES": "7",
        "SENTINEL_SECURITY_PROTOCOL": "sasl_plaintext",
        "SENTINEL_SASL_MECHANISM": "scram-sha-256",
        "SENTINEL_SASL_USERNAME": "u",
        "SENTINEL_SASL_PASSWORD": "p",
        "SENTINEL_SSL_CA_LOCATION": "/ca.pem",
        "SENTINEL_SSL_CERT_LOCATION": "/c.pem",
        "SENTINEL_SSL_KEY_LOCATION": "/k.pem",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    c = SentinelConfig.from_env(topic="override")
    assert c.brokers == ["a:1", "b:2"] and c.topic == "override" and c.retries == 7
    assert c.security_protocol == "SASL_PLAINTEXT" and c.sasl_mechanism == "SCRAM-SHA-256"
    kafka = c.to_kafka_config()
    assert kafka["sasl.username"] == "u" and kafka["ssl.certificate.location"] == "/c.pem"
    assert c.to_aiokafka_config()["sasl_plain_password"] == "p"
    monkeypatch.setenv("SENTINEL_RETRIES", "many")
    with pytest.raises(ConfigurationError, match="SENTINEL_RETRIES"):
        SentinelConfig.from_env()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"brokers": []}, "brokers"),
        ({"brokers": ["nohost"]}, "brokers"),
        ({"compression_type": "brotli"}, "compression_type"),
        ({"acks": "1"}, "acks: idempotence"),
        ({"max_in_flight_requests": 6}, "max_in_flight_requests"),
        ({"security_protocol": "SASL_SSL"}, "sasl_mechanism"),
        ({"ssl_cert_location": "/c.pem"}, "ssl_key_location"),
        ({"linger_ms": -1}, "linger_ms"),
    ],
)
def test_config_errors_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SentinelConfig(**{"brokers": ["k:9092"], **fields})


def test_ssl_context_is_real(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    c = SentinelConfig(
        brokers=["k:9093"],
        security_protocol="SSL",
        ssl_ca_location=str(ca),
        ssl_cert_location=str(ca),
        ssl_key_location=str(keyfile),
    )
    context = c.to_aiokafka_config()["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert any(c.get("subject") for c in context.get_ca_certs())
    missing = SentinelConfig(brokers=["k:9093"], security_protocol="SSL", ssl_ca_location="/nope")
    with pytest.raises(ConfigurationError, match="cannot load TLS files"):
        missing.to_aiokafka_config()


def test_client_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        llm.SentinelClient(brokers=["k:1"], lingerms=5)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(
        [
            "service_name",
            "model",
            "latency_ms",
            "cost_usd",
            "event_id",
            "timestamp",
            "trace_id",
            "metadata",
            "errors",
            "prompt",
            "response",
            "prompt.tokens",
            "prompt.text",
            "prompt.embedding",
            "response.finish_reason",
            "response.tokens",
        ]
    ),
    value=_JSON,
)
def test_any_json_in_any_field_is_valid_or_a_validation_error(field: str, value: object) -> None:
    data = event().to_dict()
    target, _, name = field.rpartition(".")
    (data[target] if target else data)[name] = value
    try:
        TelemetryEvent.from_dict(data)
        named = "accepted"
    except ValidationError as exc:
        named = exc.field
    assert named
