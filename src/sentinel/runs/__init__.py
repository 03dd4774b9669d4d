"""Run resource tracking (seed 001): the client of the runs API.

``sentinel.runs`` stays light (standard library only) so trackers and CI jobs can import
it; the server side (``service``, ``routes``, ``stats``) is imported only by the server.
"""

from sentinel.runs.api import (
    DataSource,
    RunStatus,
    SentinelAPIError,
    finish_run,
    refresh_credentials,
    register_run,
)
from sentinel.runs.tracker import ResourceTracker

__all__ = [
    "DataSource",
    "ResourceTracker",
    "RunStatus",
    "SentinelAPIError",
    "finish_run",
    "refresh_credentials",
    "register_run",
]
