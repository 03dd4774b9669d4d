"""What every domain's JSON API shares: the error body of every non-2xx answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """The body of every error the HTTP API answers."""

    error: str = Field(description="What was wrong and how to fix it.")
