"""Capture fixtures: a real server with capture keys, and the SDK reset between tests (the
browser fixtures are the suite's, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import REPO
from sentinel_testing import OPERATOR_TOKEN, start_server


@pytest.fixture(autouse=True)
def fresh_sdk() -> Iterator[None]:
    """Every test starts and ends with an unconfigured SDK and the interpreter's own hooks."""
    from sentinel.capture import _config, hook

    yield
    hook.uninstall_hook()
    _config.reset()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real server (SQLite) with a capture key for ``acme/shop`` in ``server.key``."""
    s = start_server(tmp_path)
    s.key = s.tokens.create("capture", name="shop-key", repos=[REPO])[1]
    s.operator_token = OPERATOR_TOKEN
    try:
        yield s
    finally:
        s.stop()
