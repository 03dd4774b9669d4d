"""TLS and mTLS connections to a real gRPC server with certificates made for the test."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sentinel.fleet import ConnectionError, RetryConfig, SentinelClient, TlsConfig
from sentinel.v1 import fleet_pb2_grpc, types_pb2

NO_RETRY = RetryConfig(max_retries=0)


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA and of a server and a client certificate it signed."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    extend: Callable[[x509.CertificateBuilder], x509.CertificateBuilder],
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    return extend(builder).sign(issuer_key, hashes.SHA256())


def _ca(name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return _certificate(
        name,
        key,
        None,
        lambda b: b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for localhost / 127.0.0.1 and a client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    issuer = ("Sentinel test CA", ca_key)
    server = _certificate(
        "localhost",
        server_key,
        issuer,
        lambda b: b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False),
    )
    client = _certificate(
        "operator:jane",
        client_key,
        issuer,
        lambda b: b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        ),
    )
    return Pki(
        ca_cert=_write_cert(_ca("Sentinel test CA", ca_key), directory / "ca.pem"),
        server_cert=_write_cert(server, directory / "server.pem"),
        server_key=_write_key(server_key, directory / "server-key.pem"),
        client_cert=_write_cert(client, directory / "client.pem"),
        client_key=_write_key(client_key, directory / "client-key.pem"),
        other_ca_cert=_write_cert(_ca("Someone else", other_key), directory / "other-ca.pem"),
    )


class TrustGraphOnly(fleet_pb2_grpc.FleetServiceServicer):
    """Answers GetTrustGraph, recording the client certificate's common name ("" if none)."""

    def __init__(self) -> None:
        self.address = ""
        self.peers: list[str] = []

    def GetTrustGraph(self, request: Any, context: grpc.ServicerContext) -> Any:
        names = context.auth_context().get("x509_common_name", [b""])
        self.peers.append(names[0].decode())
        return types_pb2.TrustGraphSnapshot(total_gpus=2)


def _serve(pki: Pki, *, require_client_auth: bool) -> Iterator[TrustGraphOnly]:
    servicer = TrustGraphOnly()
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    fleet_pb2_grpc.add_FleetServiceServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca_cert.read_bytes(),
        require_client_auth=require_client_auth,
    )
    servicer.address = f"localhost:{server.add_secure_port('127.0.0.1:0', credentials)}"
    server.start()
    yield servicer
    server.stop(None).wait()


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[TrustGraphOnly]:
    """A TLS server that needs no client certificate."""
    yield from _serve(pki, require_client_auth=False)


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[TrustGraphOnly]:
    """An mTLS server that requires a client certificate from the test CA."""
    yield from _serve(pki, require_client_auth=True)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SENTINEL_CA_CERT", "SENTINEL_CLIENT_CERT", "SENTINEL_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_tls_verifies_the_server_with_the_ca(pki: Pki, tls_server: TrustGraphOnly) -> None:
    tls = TlsConfig(ca_cert_path=str(pki.ca_cert))

    with SentinelClient.connect(
        tls_server.address, tls_config=tls, retry_config=NO_RETRY
    ) as client:
        assert client.get_trust_graph().total_gpus == 2
    assert tls_server.peers == [""]


def test_tls_with_the_wrong_ca_fails_to_connect(pki: Pki, tls_server: TrustGraphOnly) -> None:
    tls = TlsConfig(ca_cert_path=str(pki.other_ca_cert))

    with SentinelClient.connect(
        tls_server.address, tls_config=tls, retry_config=NO_RETRY
    ) as client:
        with pytest.raises(ConnectionError):
            client.get_trust_graph()
    assert not tls_server.peers


def test_mtls_presents_the_client_certificate(pki: Pki, mtls_server: TrustGraphOnly) -> None:
    tls = TlsConfig(str(pki.ca_cert), str(pki.client_cert), str(pki.client_key))

    with SentinelClient.connect(
        mtls_server.address, tls_config=tls, retry_config=NO_RETRY
    ) as client:
        assert client.get_trust_graph().total_gpus == 2
    assert mtls_server.peers == ["operator:jane"]


def test_mtls_without_a_client_certificate_fails(pki: Pki, mtls_server: TrustGraphOnly) -> None:
    tls = TlsConfig(ca_cert_path=str(pki.ca_cert))

    with SentinelClient.connect(
        mtls_server.address, tls_config=tls, retry_config=NO_RETRY
    ) as client:
        with pytest.raises(ConnectionError):
            client.get_trust_graph()
    assert not mtls_server.peers


async def test_async_mtls_from_the_environment(
    pki: Pki, mtls_server: TrustGraphOnly, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTINEL_CA_CERT", str(pki.ca_cert))
    monkeypatch.setenv("SENTINEL_CLIENT_CERT", str(pki.client_cert))
    monkeypatch.setenv("SENTINEL_CLIENT_KEY", str(pki.client_key))

    async with await SentinelClient.aconnect(mtls_server.address, retry_config=NO_RETRY) as client:
        graph = await client.aget_trust_graph()

    assert graph.total_gpus == 2
    assert mtls_server.peers == ["operator:jane"]
