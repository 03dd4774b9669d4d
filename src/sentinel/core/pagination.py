"""Signed, opaque page tokens for keyset pagination.

A token carries the cursor of the next page and a digest of the query it belongs to,
both under an HMAC, so a client can neither forge a cursor nor reuse a token with
other filters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

_MAC_LEN = 16


class InvalidPageToken(ValueError):
    """A page token that was tampered with, truncated, or issued for another query."""


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


class PageTokenCodec:
    """Encodes and checks page tokens with an HMAC-SHA256 key (``secret``)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_LEN]

    def encode(self, scope: str, cursor: dict[str, Any]) -> str:
        """A token for ``cursor``, valid only for queries with the same ``scope``."""
        payload = json.dumps(
            {"s": _scope_digest(scope), "c": cursor}, separators=(",", ":"), sort_keys=True
        ).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).rstrip(b"=").decode()

    def decode(self, scope: str, token: str) -> dict[str, Any]:
        """The cursor inside ``token``.

        Raises:
            InvalidPageToken: the token is malformed, its signature does not match, or it
                was issued for a query with a different scope.
        """
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidPageToken("page token is malformed") from exc
        mac, payload = raw[:_MAC_LEN], raw[_MAC_LEN:]
        if len(mac) < _MAC_LEN or not payload:
            raise InvalidPageToken("page token is malformed")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidPageToken(
                "page token signature does not match; it was altered or issued by another "
                "server, so restart the query without a page token"
            )
        body = json.loads(payload)
        if body["s"] != _scope_digest(scope):
            raise InvalidPageToken(
                "page token was issued for a different query; pass the same filters as "
                "the request that returned it"
            )
        cursor: dict[str, Any] = body["c"]
        return cursor
