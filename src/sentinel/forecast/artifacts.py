"""Where model artifacts and version manifests live: a local directory or S3 (boto3).

Keys are ``<series id>/manifest.json`` and ``<series id>/<version>.model``; several workers
sharing one bucket see each other's versions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class ArtifactStore(Protocol):
    """Bytes by key."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The bytes at ``key``, or ``None`` where there are none."""
        ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str = "") -> list[str]: ...


class LocalArtifacts:
    """A directory; writes go to a temporary file first, so a crash leaves no half file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"artifact key {key!r} leaves the store")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file()
            and not p.name.startswith(".tmp-")
            and p.relative_to(self.root).as_posix().startswith(prefix)
        )


class S3Artifacts:
    """A bucket and prefix of S3 or an S3-compatible store."""

    def __init__(self, url: str, endpoint_url: str = "") -> None:
        try:
            import boto3
        except ImportError:
            raise ImportError(
                "an s3:// artifact_store needs boto3: pip install 'sentinel[s3]'"
            ) from None
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"artifact_store {url!r} names no bucket: write s3://bucket/prefix")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._s3: Any = boto3.client("s3", endpoint_url=endpoint_url or None)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes | None:
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        cut = len(self.prefix) + 1 if self.prefix else 0
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            out.extend(obj["Key"][cut:] for obj in page.get("Contents", []))
        return sorted(out)


def open_artifacts(location: str, endpoint_url: str = "") -> ArtifactStore:
    """The store ``location`` names: ``s3://bucket/prefix`` or a directory."""
    if location.startswith("s3://"):
        return S3Artifacts(location, endpoint_url)
    return LocalArtifacts(location)
