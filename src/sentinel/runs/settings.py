"""Settings of the runs domain: where run data is stored and how much a request may carry."""

from __future__ import annotations

import os
from dataclasses import dataclass

MIB = 1024 * 1024


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SENTINEL_RUNS_{name}", default).strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SENTINEL_RUNS_{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class RunsSettings:
    """How the runs domain stores data; ``from_env`` reads ``SENTINEL_RUNS_*``."""

    s3_bucket: str = ""
    """Bucket for uploaded run data; empty keeps objects in a local directory instead."""
    s3_prefix: str = "runs"
    """Key prefix under which each run gets ``<prefix>/<run_id>/``."""
    s3_endpoint_url: str = ""
    """Endpoint of an S3-compatible store (MinIO, Ceph RGW, moto); empty: AWS."""
    s3_region: str = "us-east-1"
    """Region the bucket lives in (also signed into the upload credentials)."""
    s3_access_key: str = ""
    """The server's own key (reads objects, calls STS); empty: boto3's default chain."""
    s3_secret_key: str = ""
    """Secret of ``s3_access_key``."""
    sts_role_arn: str = ""
    """Role assumed, with a session policy limited to one run's prefix, to mint upload
    credentials (AWS; MinIO and Ceph RGW implement the same STS call)."""
    sts_endpoint_url: str = ""
    """STS endpoint; empty: ``s3_endpoint_url`` (where S3-compatible stores serve STS)."""
    upload_access_key: str = ""
    """For stores without STS: a static key handed to every run (restrict it to
    ``PutObject`` on the runs prefix in the store's own policy)."""
    upload_secret_key: str = ""
    """Secret of ``upload_access_key``."""
    objects_dir: str = ""
    """Local object directory when no bucket is set; empty: ``<data_dir>/runs-objects``."""
    credentials_ttl_s: int = 3600
    """Lifetime of upload credentials (STS allows 900 to 43200 seconds)."""
    max_body_bytes: int = 64 * MIB
    """Largest request body on ``/runs`` (a gzipped inline finish, one uploaded object)."""
    max_data_bytes: int = 256 * MIB
    """Most CSV bytes one finish reads after decompression (inline or all objects)."""

    def __post_init__(self) -> None:
        if not 900 <= self.credentials_ttl_s <= 43200:
            raise ValueError(
                "SENTINEL_RUNS_CREDENTIALS_TTL_S must be 900 to 43200 seconds (the STS range), "
                f"got {self.credentials_ttl_s}"
            )
        if self.s3_bucket and not (
            self.sts_role_arn or (self.upload_access_key and self.upload_secret_key)
        ):
            raise ValueError(
                "SENTINEL_RUNS_S3_BUCKET is set but runs cannot be given upload credentials: "
                "set SENTINEL_RUNS_STS_ROLE_ARN (stores with STS: AWS, MinIO, Ceph RGW) or "
                "SENTINEL_RUNS_UPLOAD_ACCESS_KEY and SENTINEL_RUNS_UPLOAD_SECRET_KEY"
            )
        if self.max_body_bytes <= 0 or self.max_data_bytes <= 0:
            raise ValueError("SENTINEL_RUNS_MAX_BODY_BYTES and _MAX_DATA_BYTES must be positive")

    @classmethod
    def from_env(cls) -> RunsSettings:
        """Settings from ``SENTINEL_RUNS_*`` variables, defaults where unset."""
        return cls(
            s3_bucket=_env("S3_BUCKET"),
            s3_prefix=_env("S3_PREFIX", "runs").strip("/") or "runs",
            s3_endpoint_url=_env("S3_ENDPOINT_URL"),
            s3_region=_env("S3_REGION", "us-east-1"),
            s3_access_key=_env("S3_ACCESS_KEY"),
            s3_secret_key=_env("S3_SECRET_KEY"),
            sts_role_arn=_env("STS_ROLE_ARN"),
            sts_endpoint_url=_env("STS_ENDPOINT_URL"),
            upload_access_key=_env("UPLOAD_ACCESS_KEY"),
            upload_secret_key=_env("UPLOAD_SECRET_KEY"),
            objects_dir=_env("OBJECTS_DIR"),
            credentials_ttl_s=_env_int("CREDENTIALS_TTL_S", 3600),
            max_body_bytes=_env_int("MAX_BODY_BYTES", 64 * MIB),
            max_data_bytes=_env_int("MAX_DATA_BYTES", 256 * MIB),
        )
