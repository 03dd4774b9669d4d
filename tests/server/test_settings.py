"""Server settings from SENTINEL_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.core.settings import ServerSettings


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_GRPC_PORT", "6000")
    monkeypatch.setenv("SENTINEL_DATA_DIR", "/tmp/x")
    monkeypatch.setenv("SENTINEL_OPERATOR_TOKENS", "alice:a, bob:b")
    monkeypatch.setenv("SENTINEL_ENGINE_SUSPECT_BELOW", "0.9")
    s = ServerSettings.from_env()
    assert (s.grpc_port, s.http_port, s.data_dir) == (6000, 8000, Path("/tmp/x"))
    assert s.operator_tokens == ("alice:a", "bob:b")
    assert s.extra == {"suspect_below": "0.9"}


def test_a_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_HTTP_PORT", "fifty")
    with pytest.raises(ValueError, match="SENTINEL_HTTP_PORT must be an integer, got 'fifty'"):
        ServerSettings.from_env()
