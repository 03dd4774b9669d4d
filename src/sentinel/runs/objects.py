"""Where run data is uploaded: a local directory (the embedded default) or an S3 bucket.

Each run owns one prefix (``upload_uri_prefix``); its tracker uploads gzipped CSV objects
named ``<prefix>/<name>`` and hands their URIs to ``finish``, which reads them back here.

- S3 (AWS, MinIO, Ceph RGW; ``SENTINEL_RUNS_S3_BUCKET``): upload credentials come from
  STS ``AssumeRole`` with a session policy that allows ``PutObject`` under the run's prefix
  only, so a run cannot touch another run's data. Stores without STS get the static key
  of ``SENTINEL_RUNS_UPLOAD_ACCESS_KEY``, which the store's own policy must confine to the
  runs prefix; the server still refuses any URI outside the run's prefix at finish.
- Local (no bucket): ``sentinel-local://runs/<run_id>``. Objects are ``PUT`` to the server
  at ``/runs/<run_id>/objects/<name>`` with the credentials' ``session_token`` as bearer
  token, and kept under ``<data_dir>/runs-objects/<run_id>/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from sentinel.runs.settings import RunsSettings

LOCAL_SCHEME = "sentinel-local://runs/"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What an object's name (the part after the run's prefix) may be."""


class ObjectMissing(LookupError):
    """A URI names no stored object."""


class ObjectTooLarge(ValueError):
    """An object is larger than the caller may read."""


@dataclass(frozen=True)
class UploadCredentials:
    """Temporary credentials that let one run upload under its own prefix."""

    access_key: str
    secret_key: str
    session_token: str
    expiration: datetime
    region: str = ""
    endpoint_url: str = ""
    """Empty for AWS (virtual-host addressing); else the S3-compatible endpoint (path style)."""
    bucket: str = ""

    def to_wire(self) -> dict[str, str]:
        """The ``upload_credentials`` object of the API (``expires_at`` mirrors ``expiration``
        because the published streaming client reads that name)."""
        expires = self.expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "session_token": self.session_token,
            "expiration": expires,
            "expires_at": expires,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "bucket": self.bucket,
        }


class ObjectStore(Protocol):
    """What the runs routes need from a store."""

    local: bool
    """Whether uploads go through the server (``PUT /runs/<id>/objects/<name>``)."""

    def prefix(self, run_id: str) -> str:
        """The run's ``upload_uri_prefix`` (no trailing slash)."""
        ...

    def credentials(self, run_id: str) -> UploadCredentials:
        """Fresh upload credentials for the run's prefix."""
        ...

    def read(self, run_id: str, name: str, limit: int) -> bytes:
        """The bytes of the run's object ``name``.

        Raises:
            ObjectMissing: There is no such object.
            ObjectTooLarge: It is larger than ``limit`` bytes.
        """
        ...


def object_name(uri: str, prefix: str) -> str | None:
    """The object name of ``uri`` if it lies directly under ``prefix``, else ``None``."""
    head = prefix + "/"
    if not uri.startswith(head):
        return None
    name = uri[len(head) :]
    return name if NAME.fullmatch(name) and ".." not in name else None


def _expiry(ttl_s: int) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=ttl_s)


class LocalObjectStore:
    """Objects as files under ``root/<run_id>/<name>``, uploaded through the server."""

    local = True

    def __init__(self, root: Path, ttl_s: int) -> None:
        self.root = root
        self._ttl_s = ttl_s

    def prefix(self, run_id: str) -> str:
        return f"{LOCAL_SCHEME}{run_id}"

    def credentials(self, run_id: str) -> UploadCredentials:
        # The route keeps only the session token's hash; the token is the upload's bearer.
        return UploadCredentials(
            access_key=run_id,
            secret_key="",
            session_token=f"snt_upload_{secrets.token_urlsafe(32)}",
            expiration=_expiry(self._ttl_s),
        )

    def write(self, run_id: str, name: str, data: bytes) -> str:
        """Store ``data`` as the run's object ``name`` (replacing it); returns its URI."""
        folder = self.root / run_id
        folder.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return f"{self.prefix(run_id)}/{name}"

    def read(self, run_id: str, name: str, limit: int) -> bytes:
        path = self.root / run_id / name
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise ObjectMissing(f"{self.prefix(run_id)}/{name}") from None
        if len(data) > limit:
            raise ObjectTooLarge(f"{self.prefix(run_id)}/{name}")
        return data


class S3ObjectStore:
    """Objects in an S3 bucket, uploaded by the tracker with temporary credentials."""

    local = False

    def __init__(self, settings: RunsSettings) -> None:
        boto3 = _boto3()
        self._settings = settings
        session = boto3.session.Session(
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key or None,
            region_name=settings.s3_region,
        )
        self._s3 = session.client("s3", endpoint_url=settings.s3_endpoint_url or None)
        sts_url = settings.sts_endpoint_url or settings.s3_endpoint_url or None
        self._sts = session.client("sts", endpoint_url=sts_url) if settings.sts_role_arn else None

    def _key(self, run_id: str, name: str = "") -> str:
        return f"{self._settings.s3_prefix}/{run_id}/{name}"

    def prefix(self, run_id: str) -> str:
        return f"s3://{self._settings.s3_bucket}/{self._settings.s3_prefix}/{run_id}"

    def credentials(self, run_id: str) -> UploadCredentials:
        s = self._settings
        common: dict[str, Any] = {
            "region": s.s3_region,
            "endpoint_url": s.s3_endpoint_url,
            "bucket": s.s3_bucket,
        }
        if self._sts is None:
            # No STS: the static upload key; its expiry is when the run should refresh.
            return UploadCredentials(
                s.upload_access_key, s.upload_secret_key, "", _expiry(s.credentials_ttl_s), **common
            )
        answer = self._sts.assume_role(
            RoleArn=s.sts_role_arn,
            RoleSessionName=f"run-{run_id}",
            Policy=json.dumps(session_policy(s.s3_bucket, self._key(run_id))),
            DurationSeconds=s.credentials_ttl_s,
        )["Credentials"]
        return UploadCredentials(
            answer["AccessKeyId"],
            answer["SecretAccessKey"],
            answer["SessionToken"],
            answer["Expiration"],
            **common,
        )

    def read(self, run_id: str, name: str, limit: int) -> bytes:
        from botocore.exceptions import ClientError

        uri = f"{self.prefix(run_id)}/{name}"
        try:
            answer = self._s3.get_object(
                Bucket=self._settings.s3_bucket, Key=self._key(run_id, name)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(uri) from None
            raise
        if answer.get("ContentLength", 0) > limit:
            answer["Body"].close()
            raise ObjectTooLarge(uri)
        data: bytes = answer["Body"].read(limit + 1)
        if len(data) > limit:
            raise ObjectTooLarge(uri)
        return data


def session_policy(bucket: str, key_prefix: str) -> dict[str, Any]:
    """The STS session policy of one run: upload objects under ``key_prefix`` and nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"arn:aws:s3:::{bucket}/{key_prefix}*"],
            }
        ],
    }


def open_store(settings: RunsSettings, data_dir: Path) -> ObjectStore:
    """The store ``settings`` name: S3 when a bucket is set, else a local directory."""
    if settings.s3_bucket:
        return S3ObjectStore(settings)
    root = Path(settings.objects_dir) if settings.objects_dir else Path(data_dir) / "runs-objects"
    return LocalObjectStore(root, settings.credentials_ttl_s)


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ImportError(
            "SENTINEL_RUNS_S3_BUCKET needs boto3: pip install 'sentinel[s3]'"
        ) from None
    return boto3
