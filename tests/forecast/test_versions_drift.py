"""Versions (monotonic ids, pruning, rollback, restore; local and S3) and drift severity."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sentinel.forecast import backtest
from sentinel.forecast.artifacts import ArtifactStore, LocalArtifacts, S3Artifacts
from sentinel.forecast.drift import DriftMonitor, Severity
from sentinel.forecast.models import ExponentialSmoothingModel, LinearTrendModel, ModelError
from sentinel.forecast.versions import Version, VersionError, VersionStore

Y = 50 + np.cumsum(np.random.default_rng(3).normal(0, 0.2, 500))


def _version(mae: float = 1.0) -> Version:
    return Version("", 0, "ExponentialSmoothingModel", 0.0, "full_retrain", mae, mae, 10)


def _make(name: str) -> ExponentialSmoothingModel:
    assert name == "ExponentialSmoothingModel"
    return ExponentialSmoothingModel()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(binary).exists():
        pytest.fail("moto_server is missing: pip install 'moto[server]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from sentinel_testing import wait_for

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(up, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifacts(tmp_path / "artifacts")
    url = request.getfixturevalue("moto_url")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    bucket = f"b{abs(hash(tmp_path)) % 10**8}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket=bucket)
    return S3Artifacts(f"s3://{bucket}/models", endpoint_url=url)


def test_monotonic_ids_prune_rollback_restore(store: ArtifactStore) -> None:
    vs = VersionStore(store, 'm{job="a"}', max_versions=3)
    assert vs.load() is False
    model = ExponentialSmoothingModel()
    model.fit_series(Y)
    for n in range(5):
        vs.add(model, _version(float(n)), serve=True)
    assert [v.version_id for v in vs.versions] == ["v3", "v4", "v5"]
    assert vs.active == "v5"
    assert len([k for k in store.keys(vs.prefix) if k.endswith(".model")]) == 3
    assert vs.rollback().version_id == "v4"
    again = VersionStore(store, 'm{job="a"}', max_versions=3)
    assert again.load() and again.active == "v4" and again.next_number == 6
    restored = again.load_model(again.current, _make)  # type: ignore[arg-type]
    assert np.allclose(restored.forecast(Y), model.forecast(Y))
    again.add(model, _version(), serve=False)  # a challenger that lost: kept, not served
    assert again.active == "v4"
    assert [v.version_id for v in again.versions] == ["v4", "v5", "v6"]  # v3 pruned
    with pytest.raises(VersionError, match="no version older"):
        again.rollback()
    assert again.active == "v4"


def test_the_serving_version_is_never_pruned(tmp_path: Path) -> None:
    vs = VersionStore(LocalArtifacts(tmp_path), "k", max_versions=2)
    model = LinearTrendModel()
    model.fit_series(Y)
    vs.add(model, _version(), serve=True)
    for _ in range(3):
        vs.add(model, _version(), serve=False)
    assert vs.active == "v1" and [v.version_id for v in vs.versions] == ["v1", "v4"]


def test_corrupt_artifact_and_manifest_are_reported(tmp_path: Path) -> None:
    store = LocalArtifacts(tmp_path)
    vs = VersionStore(store, "k", max_versions=2)
    model = ExponentialSmoothingModel()
    model.fit_series(Y)
    v = vs.add(model, _version(), serve=True)
    store.put(f"{vs.prefix}/v1.model", b"\x00garbage")
    with pytest.raises(ModelError, match="cannot load"):
        vs.load_model(v, _make)
    store.put(f"{vs.prefix}/manifest.json", b"{")
    with pytest.raises(VersionError, match="corrupt"):
        VersionStore(store, "k", 2).load()


def test_local_store_keeps_keys_inside(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="leaves the store"):
        LocalArtifacts(tmp_path / "a").put("../escape", b"x")


def test_drift_absolute_and_relative_thresholds() -> None:
    d = DriftMonitor(0.1, 0.3, relative=False)
    assert d.severity(scale=100) is Severity.NONE  # no errors yet
    for i in range(10):
        d.expect(i, np.array([1.0]))
        d.observe(i, 1.2)
    assert d.mae() == pytest.approx(0.2)
    assert d.severity(scale=100) is Severity.LOW
    for i in range(10, 80):
        d.expect(i, np.array([1.0]))
        d.observe(i, 1.5)
    assert d.severity(scale=100) is Severity.HIGH
    r = DriftMonitor(0.1, 0.3, relative=True)
    for i in range(10):
        r.expect(i, np.array([100.0]))
        r.observe(i, 105.0)  # 5 % off: fine relative to a scale of 100
    assert r.severity(scale=100) is Severity.NONE
    assert r.severity(scale=20) is Severity.LOW


def test_drift_scores_every_prediction_for_a_time_once() -> None:
    d = DriftMonitor(0.1, 0.3, relative=False)
    d.expect(5, np.array([1.0, 2.0]))  # for 5 and 6
    d.expect(6, np.array([4.0]))  # a later forecast for 6
    d.observe(6, 3.0)  # 5 is never observed: dropped as stale
    assert list(d.errors) == [pytest.approx(1.0)]
    assert d.pending == {}


def test_backtest_choice_and_interval_coverage() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(3 * 1440)
    y = 20 + 5 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.5, len(t))
    factories = [
        lambda: LinearTrendModel("1m", "5m", "30m"),
        lambda: ExponentialSmoothingModel("1m", "5m", "30m"),
    ]
    choice = backtest.choose(factories, y[:-500], 0)
    assert set(choice.scores) == {"LinearTrendModel", "ExponentialSmoothingModel"}
    assert type(choice.model).__name__ == min(choice.scores, key=lambda k: choice.scores[k])
    lower, upper = choice.backtest.interval()
    assert (lower < 0).all() and (upper > 0).all()
    hits = total = 0
    for o in range(len(y) - 500, len(y) - 5, 5):
        f = choice.model.forecast(y[:o])
        hits += int(np.sum((y[o : o + 5] >= f + lower) & (y[o : o + 5] <= f + upper)))
        total += 5
    assert 0.7 < hits / total <= 1.0  # a 90 % interval from 12 origins: roughly right


def test_choose_says_why_nothing_fits() -> None:
    with pytest.raises(ModelError, match="no model could be fitted"):
        backtest.choose(
            [lambda: ExponentialSmoothingModel("1m", "5m", "30m")], np.array([1.0, np.nan] * 40), 0
        )
