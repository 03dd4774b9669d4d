"""Fixtures of the engine tests: a private PostgreSQL the test may stop and start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pgcluster import PgCluster, pg_cluster


@pytest.fixture
def private_pg() -> Iterator[PgCluster]:
    """A PostgreSQL server of this test alone (never the shared one on 5432)."""
    with pg_cluster() as cluster:
        yield cluster
