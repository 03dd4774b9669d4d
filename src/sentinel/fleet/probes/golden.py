"""Golden results of the probes whose exact output depends on the hardware and the toolchain.

A GEMM's or a transcendental's bits hold only for one architecture, SM count and library
version, so goldens are keyed on all of them and kept in a small on-disk cache: the first run on
a new (architecture, SM count, version) establishes the golden from a majority of SMs, and later
runs compare every SM with it bit for bit.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class GoldenKey:
    """What a golden result is valid for."""

    probe: str
    arch: str
    """Compute capability (``"90"``) or ``"cpu"``."""
    sm_count: int
    version: str
    """Library and runtime versions that produced it (``"cupy13.4-cuda12080"``)."""
    variant: str
    """Workload size, e.g. ``"iters=64"``."""

    def filename(self) -> str:
        """A file name safe on every filesystem, readable enough to find by eye."""
        raw = f"{self.probe}-{self.arch}-sm{self.sm_count}-{self.version}-{self.variant}"
        readable = re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:120]
        return f"{readable}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}.u32"


class GoldenStore:
    """Golden words by key: in memory, and on disk under ``directory`` when one is given."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._memory: dict[GoldenKey, np.ndarray] = {}

    def get(self, key: GoldenKey) -> np.ndarray | None:
        """The stored golden words, or ``None``."""
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self._directory is None:
            return None
        path = self._directory / key.filename()
        if not path.exists():
            return None
        words = np.frombuffer(path.read_bytes(), dtype=np.uint32)
        with self._lock:
            self._memory[key] = words
        return words

    def put(self, key: GoldenKey, words: np.ndarray) -> None:
        """Keep ``words`` for ``key``; the file is replaced atomically so readers never see half."""
        words = np.ascontiguousarray(words, dtype=np.uint32).copy()
        words.flags.writeable = False
        with self._lock:
            self._memory[key] = words
        if self._directory is None:
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(words.tobytes())
        os.replace(tmp, self._directory / key.filename())

    def get_or_compute(self, key: GoldenKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The golden for ``key``, computing and storing it on first use."""
        words = self.get(key)
        if words is None:
            self.put(key, compute())
            words = self.get(key)
            assert words is not None
        return words


def consensus(rows: list[np.ndarray]) -> np.ndarray:
    """The result a strict majority of SMs agree on, bit for bit.

    Raises:
        RuntimeError: Fewer than three SMs, or no strict majority, so no golden can be trusted.
    """
    if len(rows) < 3:
        raise RuntimeError(f"a golden needs at least 3 SMs to vote, got {len(rows)}")
    votes = Counter(row.tobytes() for row in rows)
    best, count = votes.most_common(1)[0]
    if 2 * count <= len(rows):
        raise RuntimeError(
            f"no golden yet and no majority among {len(rows)} SMs ({count} agree); "
            "run the deep test on a known-good device of this model to establish one"
        )
    return np.frombuffer(best, dtype=np.uint32)
