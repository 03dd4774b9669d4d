"""Streaming a run's CSV to the runs API: register, gzipped batches, refresh, finish.

Batches go where ``register_run`` says: an ``s3://`` prefix through boto3 with the run's
temporary credentials, or the server's own object store (``sentinel-local://``, the
embedded default) over HTTP with the credentials' session token. A batch that fails
keeps its name and is retried with the rows that came after it (the server overwrites
an object of the same name); if some rows can still not be uploaded at the end, the
run is finished inline with the whole CSV, so the tail is never lost to a flaky store.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.error import HTTPError
from urllib.parse import urljoin, urlparse
from urllib.request import Request, urlopen

from sentinel.runs import api

logger = logging.getLogger(__name__)

_REFRESH_MARGIN_S = 300.0
"""Refresh credentials this long before they expire..."""
_REFRESH_SHARE = 0.5
"""...or after this share of their lifetime, when they live shorter."""
_RETRY_S = 30.0
"""Wait before trying a failed credential refresh again."""
_TIMEOUT_S = 30.0
_FINAL_ATTEMPTS = 3


class Store(Protocol):
    """Where a run's batches are written."""

    def put(self, name: str, body: bytes) -> str:
        """Write one gzipped CSV object; returns its URI."""
        ...


class _ServerStore:
    """The server's local object store: ``PUT /runs/<id>/objects/<name>``."""

    def __init__(self, run_id: str, prefix: str, session_token: str) -> None:
        self._url = urljoin(api.api_url(), f"/runs/{run_id}/objects/")
        self._prefix = prefix
        self._token = session_token

    def put(self, name: str, body: bytes) -> str:
        request = Request(self._url + name, data=body, method="PUT")
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Content-Type", "application/gzip")
        try:
            with urlopen(request, timeout=_TIMEOUT_S):
                pass
        except HTTPError as exc:
            raise api.SentinelAPIError(exc.code, exc.read().decode(errors="replace")) from exc
        return f"{self._prefix}/{name}"


class _S3Store:
    """An S3 bucket (AWS, or any S3-compatible store at ``endpoint_url``) via boto3."""

    def __init__(self, prefix: str, credentials: dict[str, Any]) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ImportError(
                "this run uploads to S3, which needs boto3: pip install 'sentinel[s3]'"
            ) from None
        where = urlparse(prefix)
        self._bucket, self._key = where.netloc, where.path.strip("/")
        self._prefix = prefix
        endpoint = credentials.get("endpoint_url") or None
        self._client = boto3.session.Session().client(
            "s3",
            aws_access_key_id=credentials["access_key"],
            aws_secret_access_key=credentials["secret_key"],
            aws_session_token=credentials.get("session_token") or None,
            region_name=credentials.get("region") or None,
            endpoint_url=endpoint,
            config=Config(
                s3={"addressing_style": "path" if endpoint else "virtual"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def put(self, name: str, body: bytes) -> str:
        self._client.put_object(
            Bucket=self._bucket,
            Key=f"{self._key}/{name}",
            Body=body,
            ContentType="application/gzip",
        )
        return f"{self._prefix}/{name}"


def _store(run_id: str, prefix: str, credentials: dict[str, Any]) -> Store:
    if prefix.startswith("s3://"):
        return _S3Store(prefix, credentials)
    return _ServerStore(run_id, prefix, str(credentials.get("session_token", "")))


def _expiry(credentials: dict[str, Any]) -> float:
    """UNIX time the credentials expire (``expires_at``, or ``expiration``)."""
    text = str(credentials.get("expires_at") or credentials.get("expiration") or "")
    if not text:
        return float("inf")
    # fromisoformat reads a trailing Z only from Python 3.11 on
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Streamer:
    """One run's registration, batch uploads, credential refreshes and finish.

    Args:
        token: API token of scope ``runs``.
        header: The CSV header line (with newline) each object starts with.
        upload_interval: Seconds between batches.
    """

    def __init__(self, token: str, header: str, upload_interval: float) -> None:
        self._token = token
        self._header = header
        self._interval = upload_interval
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._uris: list[str] = []
        self._seq = 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.run_id = ""
        self._prefix = ""
        self._credentials: dict[str, Any] = {}
        self._refresh_at = 0.0
        self._store: Store | None = None
        self.store_error: str | None = None
        """Why batches cannot be uploaded (the run is then finished inline), if so."""

    def register(self, metadata: dict[str, Any], host_info: dict[str, Any]) -> None:
        """Register the run and start uploading in the background.

        Raises:
            api.SentinelAPIError: The server refused the registration.
            OSError: The server could not be reached.
        """
        answer = api.register_run(self._token, metadata, host_info=host_info)
        self.run_id = str(answer["run_id"])
        self._prefix = str(answer["upload_uri_prefix"]).rstrip("/")
        self._use(answer["upload_credentials"])
        self._thread = threading.Thread(target=self._loop, name="sentinel-upload", daemon=True)
        self._thread.start()

    def add(self, line: str) -> None:
        """Queue one CSV line (with newline) for the next batch."""
        with self._lock:
            self._pending.append(line)

    def finish(
        self, exit_code: int, run_status: api.RunStatus, whole_csv: Callable[[], str]
    ) -> Any:
        """Upload what is left and finish the run; the statistics the server computed.

        ``whole_csv`` gives the complete CSV, sent inline when some rows could not be
        uploaded as objects.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for attempt in range(_FINAL_ATTEMPTS):
            if self._upload():
                break
            time.sleep(0.5 * 2**attempt)
        if self._pending or not self._uris:
            logger.warning(
                "run %s: %d rows could not be uploaded (%s); finishing inline with the whole CSV",
                self.run_id,
                len(self._pending),
                self.store_error,
            )
            return api.finish_run(
                self._token,
                self.run_id,
                exit_code=exit_code,
                run_status=run_status,
                data_source=api.DataSource.inline,
                data_csv=whole_csv(),
            )
        return api.finish_run(
            self._token,
            self.run_id,
            exit_code=exit_code,
            run_status=run_status,
            data_source=api.DataSource.s3,
            data_uris=list(self._uris),
        )

    def _use(self, credentials: dict[str, Any]) -> None:
        expiry = _expiry(credentials)
        margin = min(_REFRESH_MARGIN_S, max(0.0, expiry - time.time()) * _REFRESH_SHARE)
        self._credentials = credentials
        self._refresh_at = expiry - margin
        try:
            self._store = _store(self.run_id, self._prefix, credentials)
            self.store_error = None
        except ImportError as exc:
            self._store, self.store_error = None, str(exc)
            logger.warning("run %s: %s", self.run_id, exc)

    def _refresh(self) -> None:
        try:
            answer = api.refresh_credentials(self._token, self.run_id)
            self._use(answer["upload_credentials"])
        except (api.SentinelAPIError, OSError, KeyError, ValueError) as exc:
            # the old credentials may still work a while; try again later
            self._refresh_at = time.time() + _RETRY_S
            logger.warning("run %s: refreshing upload credentials failed: %s", self.run_id, exc)

    def _loop(self) -> None:
        while not self._stop.wait(min(self._interval, max(1.0, self._refresh_at - time.time()))):
            self._upload()

    def _upload(self) -> bool:
        """Upload the pending rows as the next object; whether nothing is left pending."""
        if time.time() >= self._refresh_at:
            self._refresh()
        with self._lock:
            lines, self._pending = self._pending, []
        if not lines:
            return True
        name = f"{self._seq:04d}.csv.gz"
        try:
            if self._store is None:
                raise RuntimeError(self.store_error or "no object store")
            uri = self._store.put(name, gzip.compress((self._header + "".join(lines)).encode()))
        except Exception as exc:  # boto3, HTTP and network errors alike: retried later
            self.store_error = f"{type(exc).__name__}: {exc}"
            logger.warning("run %s: uploading %s failed: %s", self.run_id, name, exc)
            with self._lock:
                self._pending[:0] = lines
            return False
        self._uris.append(uri)
        self._seq += 1
        return True

    @property
    def uploaded(self) -> list[str]:
        """URIs of the objects uploaded so far, in order."""
        return list(self._uris)
