"""The server tests' fixture: a real server whose operator ``alice`` has OPERATOR_TOKEN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sentinel_testing import start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real server (SQLite under tmp_path) whose operator ``alice`` has OPERATOR_TOKEN."""
    s = start_server(tmp_path)
    try:
        yield s
    finally:
        s.stop()
