"""Everything the sync and async clients share, without I/O.

``BaseClient`` builds each RPC's request and response parser (a ``UnaryCall``), the
call metadata, the channel credentials and the retry policy; ``SentinelClient`` only
sends, waits and sleeps, once with ``grpc`` and once with ``grpc.aio``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import grpc

from sentinel.fleet._convert import from_message, to_message
from sentinel.fleet._retry import Retrier
from sentinel.fleet.config import SDK_LOGGER, ClientConfig
from sentinel.fleet.types import (
    AuditQueryFilters,
    AuditQueryResponse,
    ChainVerificationResult,
    ConfigAck,
    ConfigAckList,
    ConfigUpdate,
    DirectiveResponse,
    FleetHealthSummary,
    GpuHealth,
    GpuHealthState,
    GpuHistoryResponse,
    ListGpusResult,
    QuarantineAction,
    QuarantineDirective,
    TrustGraphSnapshot,
)
from sentinel.v1 import fleet_pb2, types_pb2

_T = TypeVar("_T")


@dataclass(frozen=True)
class UnaryCall(Generic[_T]):
    """One unary RPC, ready to send: the stub method's name, its request, its parser."""

    rpc: str
    request: Any
    parse: Callable[[Any], _T]


def _directives(response: Any) -> list[QuarantineDirective]:
    return [from_message(item, QuarantineDirective) for item in response.directives]


class BaseClient:
    """Request building, response conversion and retry policy of the fleet API."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {config.token}"),) if config.token else ()
        )
        self._rng = random.Random()
        sdk_logger = logging.getLogger(SDK_LOGGER)
        if config.log_level is not None:
            sdk_logger.setLevel(config.log_level)
        elif sdk_logger.level == logging.NOTSET:
            sdk_logger.setLevel(logging.WARNING)

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials from the TLS settings; ``None`` for an insecure channel."""
        tls = self.config.tls_config
        if tls is None:
            return None

        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(tls.ca_cert_path),
            private_key=read(tls.client_key_path),
            certificate_chain=read(tls.client_cert_path),
        )

    def channel(self, channels: ModuleType = grpc) -> Any:
        """A channel to the endpoint from ``channels`` (``grpc`` or ``grpc.aio``), with the
        configured options, secure when TLS is configured."""
        config, credentials = self.config, self.credentials()
        if credentials is None:
            return channels.insecure_channel(config.endpoint, options=config.options)
        return channels.secure_channel(config.endpoint, credentials, options=config.options)

    def retrier(self) -> Retrier:
        """A fresh retry policy for one call or one event stream."""
        return Retrier(self.config.retry_config, self._rng)

    def query_gpu_health(self, gpu_uuid: str) -> UnaryCall[GpuHealth]:
        """``QueryGpuHealth``."""
        request = fleet_pb2.QueryGpuHealthRequest(gpu_uuid=gpu_uuid)
        return UnaryCall("QueryGpuHealth", request, partial(from_message, model=GpuHealth))

    def query_fleet_health(
        self,
        hostname_prefix: str,
        model_filter: str,
        state_filter: Sequence[GpuHealthState] | None,
    ) -> UnaryCall[FleetHealthSummary]:
        """``QueryFleetHealth``."""
        request = to_message(
            fleet_pb2.QueryFleetHealthRequest,
            {
                "hostname_prefix": hostname_prefix,
                "model_filter": model_filter,
                "state_filter": state_filter,
            },
        )
        return UnaryCall(
            "QueryFleetHealth", request, partial(from_message, model=FleetHealthSummary)
        )

    def list_gpus(
        self,
        hostname_prefix: str,
        model_filter: str,
        state_filter: Sequence[GpuHealthState] | None,
        limit: int,
        page_token: str,
    ) -> UnaryCall[ListGpusResult]:
        """``ListGpus``."""
        request = to_message(
            fleet_pb2.ListGpusRequest,
            {
                "hostname_prefix": hostname_prefix,
                "model_filter": model_filter,
                "state_filter": state_filter,
                "limit": limit,
                "page_token": page_token,
            },
        )
        return UnaryCall("ListGpus", request, partial(from_message, model=ListGpusResult))

    def get_gpu_history(
        self,
        gpu_uuid: str,
        start_time: datetime,
        end_time: datetime,
        limit: int,
        page_token: str,
    ) -> UnaryCall[GpuHistoryResponse]:
        """``GetGpuHistory``."""
        request = to_message(
            fleet_pb2.GetGpuHistoryRequest,
            {
                "gpu_uuid": gpu_uuid,
                "start_time": start_time,
                "end_time": end_time,
                "limit": limit,
                "page_token": page_token,
            },
        )
        return UnaryCall("GetGpuHistory", request, partial(from_message, model=GpuHistoryResponse))

    def issue_quarantine(
        self,
        gpu_uuid: str,
        action: QuarantineAction,
        reason: str,
        initiated_by: str,
        evidence: Sequence[str] | None,
        requires_approval: bool,
    ) -> UnaryCall[DirectiveResponse]:
        """``IssueQuarantine``."""
        request = to_message(
            fleet_pb2.IssueQuarantineRequest,
            {
                "gpu_uuid": gpu_uuid,
                "action": action,
                "reason": reason,
                "initiated_by": initiated_by,
                "evidence": evidence,
                "requires_approval": requires_approval,
            },
        )
        return UnaryCall("IssueQuarantine", request, partial(from_message, model=DirectiveResponse))

    def list_directives(
        self, pending_only: bool, gpu_uuid: str, limit: int
    ) -> UnaryCall[list[QuarantineDirective]]:
        """``ListDirectives``."""
        request = fleet_pb2.ListDirectivesRequest(
            pending_only=pending_only, gpu_uuid=gpu_uuid, limit=limit
        )
        return UnaryCall("ListDirectives", request, _directives)

    def review_directive(
        self, directive_id: str, approve: bool, comment: str
    ) -> UnaryCall[DirectiveResponse]:
        """``ReviewDirective``."""
        request = fleet_pb2.ReviewDirectiveRequest(
            directive_id=directive_id, approve=approve, comment=comment
        )
        return UnaryCall("ReviewDirective", request, partial(from_message, model=DirectiveResponse))

    def query_audit_trail(self, filters: AuditQueryFilters) -> UnaryCall[AuditQueryResponse]:
        """``QueryAuditTrail``."""
        request = to_message(fleet_pb2.AuditQueryFilters, filters)
        return UnaryCall(
            "QueryAuditTrail", request, partial(from_message, model=AuditQueryResponse)
        )

    def verify_chain(
        self,
        start_time: datetime | None,
        end_time: datetime | None,
        start_entry_id: int,
        end_entry_id: int,
        verify_merkle_roots: bool,
    ) -> UnaryCall[ChainVerificationResult]:
        """``VerifyChain``."""
        request = to_message(
            fleet_pb2.VerifyChainRequest,
            {
                "start_time": start_time,
                "end_time": end_time,
                "start_entry_id": start_entry_id,
                "end_entry_id": end_entry_id,
                "verify_merkle_roots": verify_merkle_roots,
            },
        )
        return UnaryCall(
            "VerifyChain", request, partial(from_message, model=ChainVerificationResult)
        )

    def get_trust_graph(self) -> UnaryCall[TrustGraphSnapshot]:
        """``GetTrustGraph``."""
        request = fleet_pb2.GetTrustGraphRequest()
        return UnaryCall("GetTrustGraph", request, partial(from_message, model=TrustGraphSnapshot))

    def update_config(self, update: ConfigUpdate) -> UnaryCall[ConfigAck]:
        """``UpdateConfig``."""
        request = to_message(types_pb2.ConfigUpdate, update)
        return UnaryCall("UpdateConfig", request, partial(from_message, model=ConfigAck))

    def list_config_acks(self, update_id: str) -> UnaryCall[ConfigAckList]:
        """``ListConfigAcks``."""
        request = fleet_pb2.ListConfigAcksRequest(update_id=update_id)
        return UnaryCall("ListConfigAcks", request, partial(from_message, model=ConfigAckList))

    def stream_request(self, hostname_filter: str, action_filter: QuarantineAction) -> Any:
        """The ``StreamEvents`` request."""
        return to_message(
            fleet_pb2.StreamEventsRequest,
            {"hostname_filter": hostname_filter, "action_filter": action_filter},
        )

    def directive(self, message: Any) -> QuarantineDirective:
        """Converts one streamed directive."""
        return from_message(message, QuarantineDirective)
