"""What every domain's JSON API shares: the error body of every non-2xx answer, and reading
a request body no further than a route's limit."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, Field

from sentinel.core.auth import Refused


class ErrorBody(BaseModel):
    """The body of every error the HTTP API answers."""

    error: str = Field(description="What was wrong and how to fix it.")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read no further than ``limit`` bytes.

    Raises:
        Refused: 413, when ``Content-Length`` or the bytes received pass ``limit``.
    """
    too_big = f"the request body is larger than the {limit:,} bytes this route accepts"
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise Refused(413, too_big)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise Refused(413, too_big)
    return bytes(data)
