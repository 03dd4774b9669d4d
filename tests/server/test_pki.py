"""The development PKI: a CA that signs a server and two client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sentinel.server.pki import DevPki, generate_dev_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return generate_dev_pki(
        tmp_path_factory.mktemp("pki") / "nested",
        hostnames=("sentinel.test", "localhost", "127.0.0.1", "::1"),
    )


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_ca_is_self_signed_p256_authority(pki: DevPki) -> None:
    ca = _cert(pki.ca_cert)
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    ca.verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("role", "common_name", "usage"),
    [
        ("server", "sentinel.test", ExtendedKeyUsageOID.SERVER_AUTH),
        ("operator", "operator", ExtendedKeyUsageOID.CLIENT_AUTH),
        ("client", "agent", ExtendedKeyUsageOID.CLIENT_AUTH),
    ],
)
def test_leaf_certificates_are_signed_by_the_ca(
    pki: DevPki, role: str, common_name: str, usage: x509.ObjectIdentifier
) -> None:
    cert = _cert(getattr(pki, f"{role}_cert"))
    cert.verify_directly_issued_by(_cert(pki.ca_cert))
    assert _cn(cert) == common_name
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=365) <= lifetime <= dt.timedelta(days=366)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.timezone.utc) < cert.not_valid_after_utc


def test_server_certificate_names_every_hostname(pki: DevPki) -> None:
    san = _cert(pki.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["sentinel.test", "localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


def test_private_keys_are_owner_only_and_match_their_certificates(pki: DevPki) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    for role in ("ca", "server", "operator", "client"):
        key_path = getattr(pki, f"{role}_key")
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        key = load_pem_private_key(key_path.read_bytes(), password=None)
        assert key.public_key() == _cert(getattr(pki, f"{role}_cert")).public_key()


def test_custom_client_names_name_the_files(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, operator_name="jane", client_name="gpu-host-7")
    assert pki.operator_cert == tmp_path / "jane.pem"
    assert pki.client_key == tmp_path / "gpu-host-7-key.pem"
    assert _cn(_cert(pki.client_cert)) == "gpu-host-7"


def test_regenerating_replaces_the_files(tmp_path: Path) -> None:
    first = generate_dev_pki(tmp_path)
    old_ca = first.ca_cert.read_bytes()
    first.ca_key.chmod(0o644)
    second = generate_dev_pki(tmp_path)
    assert second.ca_cert.read_bytes() != old_ca
    assert stat.S_IMODE(second.ca_key.stat().st_mode) == 0o600


def test_refuses_ambiguous_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="different names"):
        generate_dev_pki(tmp_path, operator_name="x", client_name="x")
    with pytest.raises(ValueError, match="at least one hostname"):
        generate_dev_pki(tmp_path, hostnames=())
