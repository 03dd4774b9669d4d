"""Re-exports ``sentinel.core.auth``, where identity and authorisation live for every domain."""

from __future__ import annotations

from sentinel.core.auth import (
    OPEN_MODE_WARNING,
    OPERATOR_HINT,
    Authorizer,
    Refused,
    TokenCheck,
)
from sentinel.core.identity import ANONYMOUS, Identity

__all__ = [
    "ANONYMOUS",
    "OPEN_MODE_WARNING",
    "OPERATOR_HINT",
    "Authorizer",
    "Identity",
    "Refused",
    "TokenCheck",
]
