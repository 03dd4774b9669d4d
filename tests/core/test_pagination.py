"""Page tokens: round trip, and every way a token can be refused."""

from __future__ import annotations

import base64

import pytest

from sentinel.core.pagination import InvalidPageToken, PageTokenCodec

SECRET = bytes(range(32))


def test_round_trip_is_url_safe() -> None:
    codec = PageTokenCodec(SECRET)
    token = codec.encode("gpu=GPU-1", {"after": 1234, "tag": "x/y+z"})
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert codec.decode("gpu=GPU-1", token) == {"after": 1234, "tag": "x/y+z"}


def test_token_for_another_query_is_refused() -> None:
    codec = PageTokenCodec(SECRET)
    token = codec.encode("gpu=GPU-1", {"after": 1})
    with pytest.raises(InvalidPageToken, match="issued for a different query"):
        codec.decode("gpu=GPU-2", token)


def test_token_from_another_secret_is_refused() -> None:
    token = PageTokenCodec(b"old secret").encode("q", {"after": 1})
    with pytest.raises(InvalidPageToken, match="signature does not match"):
        PageTokenCodec(SECRET).decode("q", token)


def test_edited_cursor_is_refused() -> None:
    codec = PageTokenCodec(SECRET)
    raw = base64.urlsafe_b64decode(codec.encode("q", {"after": 1}) + "==")
    forged = base64.urlsafe_b64encode(raw.replace(b'"after":1', b'"after":9')).decode()
    with pytest.raises(InvalidPageToken, match="signature does not match"):
        codec.decode("q", forged)


@pytest.mark.parametrize("token", ["!!!", "abc", "é", base64.urlsafe_b64encode(b"x" * 16).decode()])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidPageToken, match="page token is malformed"):
        PageTokenCodec(SECRET).decode("q", token)


def test_invalid_page_token_is_a_value_error() -> None:
    assert issubclass(InvalidPageToken, ValueError)
