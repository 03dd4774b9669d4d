"""A throwaway certificate authority for development and tests.

``generate_dev_pki`` writes a CA, a server certificate and two client certificates (an
operator and an agent) so that TLS and mTLS can be tried without an external PKI. The
keys are unencrypted: this is not a production PKI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sentinel.server.pki needs the 'cryptography' package: pip install cryptography"
    ) from exc

_VALIDITY = dt.timedelta(days=365)
# Backdated a little so that a verifier whose clock is slightly behind still accepts it.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class DevPki:
    """Paths of the PEM files written by ``generate_dev_pki``."""

    ca_cert: Path
    """CA certificate: the server's ``SENTINEL_TLS_CLIENT_CA``, clients' ``SENTINEL_CA_CERT``."""
    ca_key: Path
    """CA private key, kept so that more certificates can be signed later."""
    server_cert: Path
    """Server certificate with the requested hostnames as subject alternative names."""
    server_key: Path
    """Server private key."""
    operator_cert: Path
    """Client certificate whose common name is the operator name."""
    operator_key: Path
    """Operator private key."""
    client_cert: Path
    """Client certificate for a caller that is not an operator, such as a probe agent."""
    client_key: Path
    """Client private key."""


def generate_dev_pki(
    directory: Path,
    hostnames: Sequence[str] = ("localhost", "127.0.0.1"),
    operator_name: str = "operator",
    client_name: str = "agent",
) -> DevPki:
    """Write a CA and server, operator and client certificates into ``directory``.

    Keys are EC P-256; certificates are valid for a year.

    Args:
        directory: Where the files go; created if missing. Existing files are replaced.
        hostnames: Names and IP addresses clients use to reach the server; each becomes a
            subject alternative name of the server certificate.
        operator_name: Common name of the operator certificate, the value to list in
            ``SENTINEL_OPERATOR_SUBJECTS``.
        client_name: Common name of the other client certificate.

    Returns:
        The paths of the written files.

    Raises:
        ValueError: No hostname was given, or the two client names are equal (their
            files would overwrite each other).
    """
    if not hostnames:
        raise ValueError("generate_dev_pki needs at least one hostname for the server")
    if operator_name == client_name:
        raise ValueError(
            f"operator_name and client_name are both {operator_name!r}; "
            "give them different names so that their certificates can be told apart"
        )
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Sentinel development CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def issue(
        common_name: str, usage: x509.ObjectIdentifier, san: x509.SubjectAlternativeName | None
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(common_name), ca_name, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(authority_key_id, critical=False)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    pki = DevPki(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        operator_cert=directory / f"{operator_name}.pem",
        operator_key=directory / f"{operator_name}-key.pem",
        client_cert=directory / f"{client_name}.pem",
        client_key=directory / f"{client_name}-key.pem",
    )
    _write(ca_cert, ca_key, pki.ca_cert, pki.ca_key)
    server = issue(hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, _san(hostnames))
    _write(*server, pki.server_cert, pki.server_key)
    operator = issue(operator_name, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    _write(*operator, pki.operator_cert, pki.operator_key)
    client = issue(client_name, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    _write(*client, pki.client_cert, pki.client_key)
    return pki


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sentinel (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _san(hostnames: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_path: Path, key_path: Path
) -> None:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Opened owner-only so the key is never readable by others, even briefly; the chmod
    # covers a file that already existed with wider permissions.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
