"""Caller identity over real gRPC servers: mTLS subjects, bearer tokens, TLS settings, open mode
and the files `sentinel up` keeps private."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from sentinel.core.auth import Authorizer
from sentinel.core.identity import Identity
from sentinel.core.settings import ServerSettings
from sentinel.server.pki import DevPki, generate_dev_pki
from sentinel.server.tls import server_credentials
from sentinel.v1 import fleet_pb2, fleet_pb2_grpc, types_pb2

TOKEN = "s3cret-token"
DENIED = "PERMISSION_DENIED: QueryGpuHealth requires an operator's token"
NO_CREDENTIALS = "UNAUTHENTICATED: QueryGpuHealth requires an operator's token"


def _describe(identity: Identity) -> str:
    return f"{identity.name}/{identity.kind}/{identity.via}"


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


def _matches(got: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Identities compare exactly; refusals by their start (the rest is advice)."""
    return got[0] == expected[0] and got[1].startswith(expected[1])


@pytest.mark.parametrize(
    ("role", "token", "expected"),
    [
        ("operator", None, ("operator/operator/certificate",) * 2),
        ("client", None, ("agent/agent/certificate", DENIED)),
        ("client", TOKEN, ("ci/operator/token",) * 2),
        ("operator", TOKEN, ("ci/operator/token",) * 2),
    ],
)
async def test_mtls_identity(
    pki: DevPki, role: str, token: str | None, expected: tuple[str, str]
) -> None:
    async with _aio_server(_settings(pki, mutual=True)) as address:
        assert _matches(await _whoami(address, _client_credentials(pki, role), token), expected)


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
        assert _matches(
            await _whoami(address, operator), ("anonymous/anonymous/anonymous", NO_CREDENTIALS)
        )
        assert (
            await _whoami(address, _client_credentials(pki, None), TOKEN)
            == ("ci/operator/token",) * 2
        )


async def test_plaintext_server_accepts_tokens() -> None:
    async with _aio_server(_settings(None, mutual=False)) as address:
        assert _matches(
            await _whoami(address, None), ("anonymous/anonymous/anonymous", NO_CREDENTIALS)
        )
        assert await _whoami(address, None, TOKEN) == ("ci/operator/token",) * 2


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
        ("operator", None, "operator/operator/certificate"),
        ("client", TOKEN, "ci/operator/token"),
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


def test_the_operator_token_file_is_private_and_never_written_through_a_symlink(
    tmp_path: Path,
) -> None:
    from sentinel.server.up import operator_token

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched\n")
    (data_dir / "operator-token").symlink_to(elsewhere)
    settings, token = operator_token(ServerSettings(data_dir=data_dir))
    path = data_dir / "operator-token"
    assert token and not path.is_symlink() and path.read_text() == f"{token}\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert elsewhere.read_text() == "untouched\n"
    assert settings.operator_tokens == (f"operator:{token}",)


def test_sentinel_up_keeps_its_database_private_and_labels_open_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import io
    import threading

    from sentinel.server.up import run_up

    stop = threading.Event()
    stop.set()
    out = io.StringIO()
    settings = ServerSettings(
        grpc_port=0, http_port=0, data_dir=tmp_path / "data", auth_mode="open"
    )
    with caplog.at_level("WARNING", logger="sentinel.server"):
        run_up(settings, demo=False, out=out, stop=stop)
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    for name in ("sentinel.db", "operator-token"):
        assert (tmp_path / "data" / name).stat().st_mode & 0o777 == 0o600, name
    assert "WARNING: INSECURE OPEN MODE" in out.getvalue()
    assert any("INSECURE OPEN MODE" in r.getMessage() for r in caplog.records)


def test_open_mode_lets_anonymous_callers_act_and_shows_a_banner(tmp_path: Path) -> None:
    import httpx
    from sentinel_testing import register_host, start_server

    server = start_server(tmp_path, auth_mode="open")
    try:
        (gpu,) = register_host(server.engine, "lab-1", 1)
        with grpc.insecure_channel(server.address) as channel:
            response = fleet_pb2_grpc.FleetServiceStub(channel).IssueQuarantine(
                fleet_pb2.IssueQuarantineRequest(
                    gpu_uuid=gpu, action=types_pb2.QUARANTINE_ACTION_QUARANTINE, reason="lab"
                ),
                timeout=10,
            )
        assert response.accepted and response.resulting_state == "QUARANTINED"
        page = httpx.get(f"{server.http_url}/", timeout=10).text
        assert "Insecure open mode" in page
    finally:
        server.stop()
    enforcing = start_server(tmp_path / "again")
    try:
        assert "Insecure open mode" not in httpx.get(f"{enforcing.http_url}/", timeout=10).text
    finally:
        enforcing.stop()


def test_an_unknown_auth_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="SENTINEL_AUTH_MODE must be one of enforcing, open"):
        ServerSettings(auth_mode="permissive")


def test_certs_dev_names_the_agent_certificate_after_its_host(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from sentinel.cli import cli

    result = CliRunner().invoke(cli, ["certs", "dev", str(tmp_path), "--agent-host", "node-9"])
    assert result.exit_code == 0, result.output
    assert "Agent of host node-9" in result.output
    cert = x509.load_pem_x509_certificate((tmp_path / "node-9.pem").read_bytes())
    (cn,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn.value == "node-9"
