"""Model versions of one series: monotonic ids, the serving (champion) version, rollback,
restore on restart, and at most ``max_versions`` kept.

The manifest (JSON) and the artifacts live in an :class:`ArtifactStore`, so a restarted or
second worker sees the same versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sentinel.forecast.artifacts import ArtifactStore
from sentinel.forecast.models.base import BaseModel, ModelError


class VersionError(ValueError):
    """A rollback or restore that cannot be done; nothing changed."""


@dataclass
class Version:
    """One trained model of a series."""

    version_id: str
    number: int
    model_class: str
    trained_at: float
    training_policy: str
    backtest_mae: float
    """Mean absolute error over the rolling-origin backtest (the champion/challenger score)."""
    train_mae: float
    n_samples: int
    lower: list[float] = field(default_factory=list)
    """Per-step offsets of the interval's lower bound."""
    upper: list[float] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    """Every candidate's backtest error when the choice was automatic."""
    reason: str = ""
    """Why the run happened: ``cold start``, ``cron``, ``drift``, ``manual``."""


def series_id(key: str) -> str:
    """A short stable id of a series key, safe in paths and S3 keys."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class VersionStore:
    """The versions of one series."""

    def __init__(self, store: ArtifactStore, key: str, max_versions: int) -> None:
        self.store, self.key, self.max_versions = store, key, max_versions
        self.prefix = series_id(key)
        self.versions: list[Version] = []
        self.active: str | None = None
        self.next_number = 1

    def _manifest(self) -> dict[str, Any]:
        return {
            "series": self.key,
            "next": self.next_number,
            "active": self.active,
            "versions": [asdict(v) for v in self.versions],
        }

    def _write(self) -> None:
        self.store.put(f"{self.prefix}/manifest.json", json.dumps(self._manifest()).encode())

    def load(self) -> bool:
        """Read the manifest; ``False`` where the series has none yet.

        Raises:
            VersionError: the manifest is not readable.
        """
        raw = self.store.get(f"{self.prefix}/manifest.json")
        if raw is None:
            return False
        try:
            doc = json.loads(raw)
            self.versions = [Version(**v) for v in doc["versions"]]
            self.active, self.next_number = doc["active"], int(doc["next"])
        except (ValueError, KeyError, TypeError) as exc:
            raise VersionError(f"the version manifest of {self.key} is corrupt: {exc}") from None
        return True

    def get(self, version_id: str | None) -> Version | None:
        return next((v for v in self.versions if v.version_id == version_id), None)

    @property
    def current(self) -> Version | None:
        return self.get(self.active)

    def add(self, model: BaseModel, version: Version, serve: bool) -> Version:
        """Store ``model`` as the next version; make it the served one when ``serve``."""
        version.number = self.next_number
        version.version_id = f"v{self.next_number}"
        fd, tmp = tempfile.mkstemp(suffix=".model")
        os.close(fd)
        try:
            model.save(tmp)
            with open(tmp, "rb") as fh:
                data = fh.read()
        finally:
            os.unlink(tmp)
        self.store.put(f"{self.prefix}/{version.version_id}.model", data)
        self.next_number += 1
        self.versions.append(version)
        if serve:
            self.active = version.version_id
        self._prune()
        self._write()
        return version

    def _prune(self) -> None:
        while len(self.versions) > self.max_versions:
            victim = next(v for v in self.versions if v.version_id != self.active)
            self.versions.remove(victim)
            self.store.delete(f"{self.prefix}/{victim.version_id}.model")

    def rollback(self) -> Version:
        """Serve the newest kept version older than the served one.

        Raises:
            VersionError: there is no older version.
        """
        current = self.current
        older = [v for v in self.versions if current is None or v.number < current.number]
        if not older:
            raise VersionError(
                f"{self.key} has no version older than {self.active} to roll back to"
            )
        self.active = older[-1].version_id
        self._write()
        return older[-1]

    def load_model(self, version: Version, make: Callable[[str], BaseModel]) -> BaseModel:
        """The model of ``version``, read from its artifact.

        Raises:
            ModelError: the artifact is missing or corrupt.
        """
        data = self.store.get(f"{self.prefix}/{version.version_id}.model")
        if data is None:
            raise ModelError(f"the artifact of {self.key} {version.version_id} is missing")
        model = make(version.model_class)
        fd, tmp = tempfile.mkstemp(suffix=".model")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            model.load(tmp)
        except Exception as exc:
            raise ModelError(
                f"the artifact of {self.key} {version.version_id} is corrupt: {exc}"
            ) from None
        finally:
            os.unlink(tmp)
        return model
