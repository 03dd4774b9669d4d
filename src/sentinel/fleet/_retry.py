"""Retry decisions shared by the sync and async clients; the waiting is theirs."""

from __future__ import annotations

import logging
import random

import grpc

from sentinel.fleet.config import SDK_LOGGER, RetryConfig
from sentinel.fleet.errors import ConnectionError, from_rpc_error

logger = logging.getLogger(SDK_LOGGER)


class Retrier:
    """Counts consecutive failures of one call (or one event stream) and paces retries."""

    def __init__(self, config: RetryConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._retries = 0

    def reset(self) -> None:
        """Forgets earlier failures, e.g. once a stream delivered a message."""
        self._retries = 0

    def _next_delay(self, what: str) -> float:
        delay = self._config.backoff(self._retries, self._rng)
        self._retries += 1
        logger.debug(
            "%s; retry %d of %d in %.3fs", what, self._retries, self._config.max_retries, delay
        )
        return delay

    def delay_after(self, err: grpc.RpcError) -> float:
        """Seconds to wait before retrying after ``err``.

        Raises:
            SentinelError: The matching subclass, when ``err``'s code is not retryable or
                the retries are used up.
        """
        code = err.code()
        if code not in self._config.retryable_status_codes or (
            self._retries >= self._config.max_retries
        ):
            raise from_rpc_error(err) from err
        return self._next_delay(f"{code.name}: {err.details()}")

    def delay_after_stream_end(self) -> float:
        """Seconds to wait before reopening an event stream that the server ended.

        Raises:
            ConnectionError: The server ended the stream more than ``max_retries`` times
                in a row without sending a directive.
        """
        if self._retries >= self._config.max_retries:
            raise ConnectionError(
                f"the server ended the event stream {self._retries + 1} times in a row "
                "without sending a directive; check the gateway's logs",
                grpc.StatusCode.UNAVAILABLE,
            )
        return self._next_delay("the server ended the event stream")
