"""Caller identity over real gRPC servers: mTLS subjects, bearer tokens, TLS settings."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from sentinel.server.auth import Authorizer, Identity
from sentinel.server.pki import DevPki, generate_dev_pki
from sentinel.server.settings import ServerSettings
from sentinel.server.tls import server_credentials
from sentinel.v1 import fleet_pb2, fleet_pb2_grpc, types_pb2

TOKEN = "s3cret-token"
DENIED = (
    "PERMISSION_DENIED: QueryGpuHealth requires an operator identity (client certificate "
    "subject in SENTINEL_OPERATOR_SUBJECTS or a token in SENTINEL_OPERATOR_TOKENS)"
)


def _describe(identity: Identity) -> str:
    return f"{identity.name}/{identity.operator}/{identity.via}"


class _AioServicer(fleet_pb2_grpc.FleetServiceServicer):
    """QueryGpuHealth needs an operator; ListGpus reports who called."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    async def QueryGpuHealth(self, request: Any, context: Any) -> types_pb2.GpuHealth:
        identity = await self._authorizer.arequire_operator(context, "QueryGpuHealth")
        return types_pb2.GpuHealth(state_change_reason=_describe(identity))

    async def ListGpus(self, request: Any, context: Any) -> fleet_pb2.ListGpusResponse:
        identity = await self._authorizer.aidentify(context)
        return fleet_pb2.ListGpusResponse(next_page_token=_describe(identity))


class _SyncServicer(fleet_pb2_grpc.FleetServiceServicer):
    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def QueryGpuHealth(self, request: Any, context: Any) -> types_pb2.GpuHealth:
        identity = self._authorizer.require_operator(context, "QueryGpuHealth")
        return types_pb2.GpuHealth(state_change_reason=_describe(identity))

    def ListGpus(self, request: Any, context: Any) -> fleet_pb2.ListGpusResponse:
        identity = self._authorizer.identify(context)
        return fleet_pb2.ListGpusResponse(next_page_token=_describe(identity))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return generate_dev_pki(tmp_path_factory.mktemp("pki"))


def _settings(pki: DevPki | None, *, mutual: bool) -> ServerSettings:
    return ServerSettings(
        tls_cert=str(pki.server_cert) if pki else "",
        tls_key=str(pki.server_key) if pki else "",
        tls_client_ca=str(pki.ca_cert) if pki and mutual else "",
        operator_subjects=("operator",),
        operator_tokens=(f"ci:{TOKEN}",),
    )


def _authorizer(settings: ServerSettings) -> Authorizer:
    return Authorizer(settings.operator_subjects, settings.operator_tokens)


def _bind(server: Any, settings: ServerSettings) -> str:
    credentials = server_credentials(settings)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    return f"127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def _aio_server(settings: ServerSettings) -> AsyncIterator[str]:
    server = grpc.aio.server()
    fleet_pb2_grpc.add_FleetServiceServicer_to_server(_AioServicer(_authorizer(settings)), server)
    address = _bind(server, settings)
    await server.start()
    try:
        yield address
    finally:
        await server.stop(None)


def _client_credentials(pki: DevPki, role: str | None) -> grpc.ChannelCredentials:
    if role is None:
        return grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes(),
        private_key=getattr(pki, f"{role}_key").read_bytes(),
        certificate_chain=getattr(pki, f"{role}_cert").read_bytes(),
    )


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


async def _whoami(
    address: str, credentials: grpc.ChannelCredentials | None, token: str | None = None
) -> tuple[str, str]:
    """``(identity from ListGpus, identity from QueryGpuHealth or "CODE: details")``."""
    if credentials is None:
        channel = grpc.aio.insecure_channel(address)
    else:
        channel = grpc.aio.secure_channel(address, credentials)
    async with channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        metadata = _metadata(token)
        listed = await stub.ListGpus(fleet_pb2.ListGpusRequest(), metadata=metadata, timeout=10)
        try:
            health = await stub.QueryGpuHealth(
                fleet_pb2.QueryGpuHealthRequest(gpu_uuid="GPU-x"), metadata=metadata, timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            return listed.next_page_token, f"{exc.code().name}: {exc.details()}"
        return listed.next_page_token, health.state_change_reason


@pytest.mark.parametrize(
    ("role", "token", "expected"),
    [
        ("operator", None, ("operator/True/certificate",) * 2),
        ("client", None, ("agent/False/certificate", DENIED)),
        ("client", TOKEN, ("ci/True/token",) * 2),
        ("operator", TOKEN, ("ci/True/token",) * 2),
    ],
)
async def test_mtls_identity(
    pki: DevPki, role: str, token: str | None, expected: tuple[str, str]
) -> None:
    async with _aio_server(_settings(pki, mutual=True)) as address:
        assert await _whoami(address, _client_credentials(pki, role), token) == expected


@pytest.mark.parametrize(
    ("header", "details"),
    [
        ("Bearer not-the-token", "unknown token"),
        (f"Bearer {TOKEN}x", "unknown token"),
        (f"Basic {TOKEN}", "must be of the form 'Bearer <token>'"),
        ("Bearer ", "must be of the form 'Bearer <token>'"),
    ],
)
async def test_a_bad_token_is_refused_even_with_an_operator_certificate(
    pki: DevPki, header: str, details: str
) -> None:
    async with (
        _aio_server(_settings(pki, mutual=True)) as address,
        grpc.aio.secure_channel(address, _client_credentials(pki, "operator")) as channel,
    ):
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListGpus(
                fleet_pb2.ListGpusRequest(), metadata=(("authorization", header),), timeout=10
            )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details in (caught.value.details() or "")


async def test_mtls_server_refuses_a_client_without_a_certificate(pki: DevPki) -> None:
    async with (
        _aio_server(_settings(pki, mutual=True)) as address,
        grpc.aio.secure_channel(address, _client_credentials(pki, None)) as channel,
    ):
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListGpus(fleet_pb2.ListGpusRequest(), metadata=_metadata(TOKEN), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_server_tls_ignores_client_certificates(pki: DevPki) -> None:
    # Without a client CA nothing verifies a client certificate, so it must not count.
    async with _aio_server(_settings(pki, mutual=False)) as address:
        operator = _client_credentials(pki, "operator")
        assert await _whoami(address, operator) == (
            "anonymous/False/anonymous",
            DENIED,
        )
        assert (
            await _whoami(address, _client_credentials(pki, None), TOKEN) == ("ci/True/token",) * 2
        )


async def test_plaintext_server_accepts_tokens() -> None:
    async with _aio_server(_settings(None, mutual=False)) as address:
        assert await _whoami(address, None) == ("anonymous/False/anonymous", DENIED)
        assert await _whoami(address, None, TOKEN) == ("ci/True/token",) * 2


@contextlib.contextmanager
def _sync_server(settings: ServerSettings) -> Iterator[str]:
    with futures.ThreadPoolExecutor(max_workers=2) as pool:
        server = grpc.server(pool)
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(
            _SyncServicer(_authorizer(settings)), server
        )
        address = _bind(server, settings)
        server.start()
        try:
            yield address
        finally:
            server.stop(None).wait()


@pytest.mark.parametrize(
    ("role", "token", "expected"),
    [
        ("operator", None, "operator/True/certificate"),
        ("client", TOKEN, "ci/True/token"),
        ("client", None, DENIED),
        ("operator", "wrong", "UNAUTHENTICATED: unknown token"),
    ],
)
def test_synchronous_servicer(pki: DevPki, role: str, token: str | None, expected: str) -> None:
    with (
        _sync_server(_settings(pki, mutual=True)) as address,
        grpc.secure_channel(address, _client_credentials(pki, role)) as channel,
    ):
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        request = fleet_pb2.QueryGpuHealthRequest(gpu_uuid="GPU-x")
        try:
            outcome = stub.QueryGpuHealth(
                request, metadata=_metadata(token), timeout=10
            ).state_change_reason
        except grpc.RpcError as exc:
            outcome = f"{exc.code().name}: {exc.details()}"
    assert outcome.startswith(expected)


def test_malformed_operator_tokens_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="entry 2 is not of the form name:token") as caught:
        Authorizer(operator_tokens=["ci:abc", "nameless-secret"])
    assert "nameless-secret" not in str(caught.value)
    for entry in (":abc", "ci:", "ci: "):
        with pytest.raises(ValueError, match="entry 1"):
            Authorizer(operator_tokens=[entry])


def test_no_certificate_means_no_tls() -> None:
    assert server_credentials(ServerSettings()) is None


def test_mutual_tls_credentials(pki: DevPki) -> None:
    assert isinstance(server_credentials(_settings(pki, mutual=True)), grpc.ServerCredentials)


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("tls_cert", "SENTINEL_TLS_CERT"),
        ("tls_key", "SENTINEL_TLS_KEY"),
        ("tls_client_ca", "SENTINEL_TLS_CLIENT_CA"),
    ],
)
def test_unreadable_files_are_named(pki: DevPki, tmp_path: Path, field: str, variable: str) -> None:
    missing = tmp_path / "missing.pem"
    settings = dataclasses.replace(_settings(pki, mutual=True), **{field: str(missing)})
    with pytest.raises(ValueError, match=variable) as caught:
        server_credentials(settings)
    assert str(missing) in str(caught.value)

    not_pem = tmp_path / "der.bin"
    not_pem.write_bytes(b"\x30\x82")
    settings = dataclasses.replace(settings, **{field: str(not_pem)})
    with pytest.raises(ValueError, match=f"{variable} file .* is not PEM"):
        server_credentials(settings)


def test_incomplete_tls_settings_are_refused(pki: DevPki) -> None:
    with pytest.raises(ValueError, match="SENTINEL_TLS_KEY is not set"):
        server_credentials(ServerSettings(tls_cert=str(pki.server_cert)))
    with pytest.raises(ValueError, match="SENTINEL_TLS_CERT is not set"):
        server_credentials(ServerSettings(tls_key=str(pki.server_key)))
    with pytest.raises(ValueError, match="SENTINEL_TLS_CLIENT_CA is set but TLS is off"):
        server_credentials(ServerSettings(tls_client_ca=str(pki.ca_cert)))
