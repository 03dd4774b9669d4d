"""The runs API without HTTP: register, refresh credentials, take uploads, finish.

Every refusal is a :class:`RunsError` with the status the API answers; nothing is written
before every check passed. A run belongs to the identity that registered it: another
identity gets 404 for it (as if it did not exist), operators reach every run.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from sentinel.core.identity import Identity
from sentinel.core.ids import uuid7
from sentinel.runs import _wire
from sentinel.runs._wire import RunsError
from sentinel.runs.objects import (
    NAME,
    LocalObjectStore,
    ObjectMissing,
    ObjectStore,
    ObjectTooLarge,
    object_name,
)
from sentinel.runs.settings import RunsSettings
from sentinel.runs.stats import CsvError, RunStatistics, compute_statistics
from sentinel.runs.store import RUNNING, Run, RunStore


def _now_us() -> int:
    return time.time_ns() // 1000


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RunIngest:
    """What the runs routes do, over the store and the object store.

    Args:
        db: Engine of a migrated database.
        objects: Where uploads go.
        settings: Limits (``max_data_bytes``).
        statistics: Computes a run's statistics from its CSV texts.
    """

    def __init__(
        self,
        db: Engine,
        objects: ObjectStore,
        settings: RunsSettings,
        statistics: Callable[[Iterable[str]], RunStatistics] = compute_statistics,
    ) -> None:
        self.store = RunStore(db)
        self.objects = objects
        self.settings = settings
        self._statistics = statistics

    def run_for(self, who: Identity, run_id: str) -> Run:
        """The run if ``who`` registered it or is an operator.

        Raises:
            RunsError: 404 otherwise (another identity's run is not revealed).
        """
        run = self.store.get(run_id) if len(run_id) <= 36 else None
        if run is None or not (who.operator or run.owner == who.name):
            raise RunsError(404, f"no run {run_id[:64]!r} registered by {who.name!r}")
        return run

    def register(self, who: Identity, body: dict[str, Any]) -> dict[str, Any]:
        """Register a run for ``who``; returns its id, upload prefix and credentials."""
        metadata = _wire.run_metadata(body)
        run_id = uuid7()
        credentials = self.objects.credentials(run_id)
        prefix = self.objects.prefix(run_id)
        self.store.create(
            run_id,
            who.name,
            metadata,
            prefix,
            _hash(credentials.session_token) if self.objects.local else "",
            int(credentials.expiration.timestamp() * 1e6),
            _now_us(),
        )
        return {
            "run_id": run_id,
            "upload_uri_prefix": prefix,
            "upload_credentials": credentials.to_wire(),
        }

    def refresh(self, who: Identity, run_id: str) -> dict[str, Any]:
        """New upload credentials for a running run of ``who``.

        Raises:
            RunsError: 404 unknown run, 409 finished run.
        """
        run = self.run_for(who, run_id)
        if run.status != RUNNING:
            raise RunsError(409, _finished(run))
        credentials = self.objects.credentials(run_id)
        secret = _hash(credentials.session_token) if self.objects.local else ""
        expires = int(credentials.expiration.timestamp() * 1e6)
        if not self.store.renew_upload(run_id, secret, expires):
            raise RunsError(409, _finished(run))
        return {"run_id": run_id, "upload_credentials": credentials.to_wire()}

    def upload(self, run_id: str, session_token: str, name: str, data: bytes) -> dict[str, Any]:
        """Keep an uploaded object of a running run (local object store only).

        Raises:
            RunsError: 404 without a local store or run, 401 wrong or expired session
                token, 409 finished run, 422 bad name, 400 not gzip.
        """
        if not isinstance(self.objects, LocalObjectStore):
            raise RunsError(
                404, "this server stores run data in S3: upload to the run's upload_uri_prefix"
            )
        run = self.store.get(run_id) if len(run_id) <= 36 else None
        if run is None:
            raise RunsError(404, f"no run {run_id[:64]!r}")
        if run.status != RUNNING:
            raise RunsError(409, _finished(run))
        if not (
            run.upload_secret_hash
            and hmac.compare_digest(run.upload_secret_hash, _hash(session_token))
        ):
            raise RunsError(
                401,
                "wrong upload credentials: send 'Authorization: Bearer <upload_credentials."
                "session_token>' of this run (register or refresh-credentials returns it)",
            )
        if run.upload_expires_us < _now_us():
            raise RunsError(
                401, "the upload credentials expired: POST /runs/{id}/refresh-credentials"
            )
        if not NAME.fullmatch(name) or ".." in name:
            raise RunsError(422, f"object name {name[:64]!r}: 1-128 letters, digits, '.', '_', '-'")
        if data[:2] != b"\x1f\x8b":
            raise RunsError(400, "an uploaded object must be a gzipped CSV file")
        uri = self.objects.write(run_id, name, data)
        return {"uri": uri, "bytes": len(data)}

    def finish(self, who: Identity, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Finish a run of ``who`` with its data; a finished run returns what it returned.

        Raises:
            RunsError: 404 unknown run; 422 bad field, a URI outside the run's prefix, a
                missing object, a CSV without the needed columns or with non-numbers; 413
                more data than ``max_data_bytes``.
        """
        run = self.run_for(who, run_id)
        request = _wire.finish_request(body)
        if run.status != RUNNING:
            return _answer(run)
        if request.data_source == "inline":
            if len(request.data_csv) > self.settings.max_data_bytes:
                raise RunsError(413, self._too_much())
            chunks = [request.data_csv]
        else:
            chunks = self._read_objects(run, request.data_uris)
        try:
            statistics = self._statistics(chunks).to_dict()
        except CsvError as exc:
            raise RunsError(422, f"run data: {exc}") from None
        self.store.finish(
            run_id,
            status=request.run_status,
            exit_code=request.exit_code,
            data_source=request.data_source,
            data_uris=request.data_uris,
            statistics=statistics,
            finished_us=_now_us(),
        )
        # Read back: when two finishes race, both answer with the one that was stored.
        return _answer(self.run_for(who, run_id))

    def _too_much(self) -> str:
        return (
            f"the run's data is more than the {self.settings.max_data_bytes:,} bytes a finish "
            "reads (SENTINEL_RUNS_MAX_DATA_BYTES)"
        )

    def _read_objects(self, run: Run, uris: tuple[str, ...]) -> list[str]:
        named = [(u, object_name(u, run.upload_uri_prefix)) for u in uris]
        outside = [f"data_uris[{i}] {u[:200]!r}" for i, (u, n) in enumerate(named) if n is None]
        if outside:
            raise RunsError(
                422,
                f"{', '.join(outside[:5])} not under this run's prefix "
                f"{run.upload_uri_prefix + '/'!r} (one object name after it)",
            )
        budget = self.settings.max_data_bytes
        chunks = []
        for i, (uri, name) in enumerate(named):
            try:
                raw = self.objects.read(run.run_id, name or "", budget)
                text = _wire.gunzip(raw, budget, f"data_uris[{i}] {uri!r}")
            except ObjectMissing:
                raise RunsError(422, f"data_uris[{i}]: no object at {uri!r}") from None
            except ObjectTooLarge:
                raise RunsError(413, self._too_much()) from None
            except RunsError as exc:
                raise RunsError(exc.status if exc.status == 413 else 422, str(exc)) from None
            budget -= len(text)
            try:
                chunks.append(text.decode())
            except UnicodeDecodeError:
                raise RunsError(422, f"data_uris[{i}] {uri!r} is not UTF-8 text") from None
        return chunks


def _finished(run: Run) -> str:
    return f"run {run.run_id} is already {run.status}; it takes no more data or credentials"


def _answer(run: Run) -> dict[str, Any]:
    statistics = dict(run.statistics or {})
    statistics.pop("series", None)
    return {
        "run_id": run.run_id,
        "run_status": run.status,
        "exit_code": run.exit_code,
        "statistics": statistics,
    }
