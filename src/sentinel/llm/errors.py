"""The SDK's exceptions: one base class, one subclass per way a call can fail.

``ConnectionError`` and ``TimeoutError`` shadow the builtins inside this module on purpose:
they are the seed's names. Both also derive from the builtin of the same name, so an
``except TimeoutError`` written against the standard library still catches them.
"""

from __future__ import annotations

import builtins

__all__ = [
    "ConfigurationError",
    "ConnectionError",
    "SendError",
    "SentinelError",
    "TimeoutError",
    "ValidationError",
]


class SentinelError(Exception):
    """Base class of every error the LLM SDK raises.

    Attributes:
        message: What went wrong and how to fix it.
        cause: The underlying exception (a Kafka client's error), if any.
    """

    def __init__(self, message: str, cause: Exception | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


class ConnectionError(SentinelError, builtins.ConnectionError):
    """Kafka could not be reached (at start, or for longer than the client waits)."""


class ValidationError(SentinelError, ValueError):
    """An event or a field of it is invalid; ``field`` names which (``prompt.tokens``)."""

    def __init__(self, message: str, field: str = "", cause: Exception | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message, cause)
        self.field = field
        self.reason = message
        """What is wrong with the field, without its name."""


class SendError(SentinelError):
    """Events were not delivered; ``failed`` counts them."""

    def __init__(self, message: str, failed: int = 0, cause: Exception | None = None) -> None:
        super().__init__(message, cause)
        self.failed = failed


class ConfigurationError(SentinelError, ValueError):
    """The SDK's configuration is invalid (the message names the field or variable)."""


class TimeoutError(SentinelError, builtins.TimeoutError):
    """An operation did not finish in time; ``pending`` counts undelivered events."""

    def __init__(self, message: str, pending: int = 0, cause: Exception | None = None) -> None:
        super().__init__(message, cause)
        self.pending = pending
