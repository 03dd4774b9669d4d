"""LLM telemetry (seed 004): the SDK that sends one event per LLM request to Sentinel.

>>> from sentinel.llm import SentinelClient
>>> with SentinelClient(brokers=["localhost:9092"]) as client:  # doctest: +SKIP
...     client.track("chat", "gpt-4o", "Hi", "Hello!", 420.0, 3, 4, 0.0001)

``import sentinel.llm`` stays light: the Kafka clients (confluent-kafka, aiokafka) are
imported when a client is created, and the detector service (``sentinel.llm.service``
and the modules it uses) only by the server.
"""

from sentinel.llm._base import DeliveryStats
from sentinel.llm.aio import AsyncSentinelClient
from sentinel.llm.client import SentinelClient
from sentinel.llm.config import SentinelConfig
from sentinel.llm.errors import (
    ConfigurationError,
    ConnectionError,
    SendError,
    SentinelError,
    TimeoutError,
    ValidationError,
)
from sentinel.llm.events import PromptInfo, ResponseInfo, TelemetryEvent, TelemetryEventBuilder
from sentinel.llm.types import AnomalyType, DetectionMethod, Severity

__version__ = "0.1.0"

__all__ = [
    "AnomalyType",
    "AsyncSentinelClient",
    "ConfigurationError",
    "ConnectionError",
    "DeliveryStats",
    "DetectionMethod",
    "PromptInfo",
    "ResponseInfo",
    "SendError",
    "SentinelClient",
    "SentinelConfig",
    "SentinelError",
    "Severity",
    "TelemetryEvent",
    "TelemetryEventBuilder",
    "TimeoutError",
    "ValidationError",
    "__version__",
]
