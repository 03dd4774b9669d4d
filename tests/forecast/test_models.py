"""The models: the seed's interface, correct maths, fitted parameters, artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sentinel.forecast.models import (
    BUILTIN,
    ARIMAModel,
    BaseModel,
    ExponentialSmoothingModel,
    LinearTrendModel,
    ModelError,
    PredictionResult,
    SeasonalModel,
    SeasonalNaiveModel,
    SGDRegressorModel,
    TrainingResult,
)
from sentinel.forecast.models.features import lag_matrix, prediction_input, series_from_features
from sentinel.forecast.models.seasonal import candidate_periods, detect_period

RNG = np.random.default_rng(7)


def daily(n: int = 3 * 1440, noise: float = 1.0, trend: float = 0.01) -> np.ndarray:
    t = np.arange(n)
    return 100 + trend * t + 10 * np.sin(2 * np.pi * t / 1440) + RNG.normal(0, noise, n)


def test_lag_features_never_see_their_target() -> None:
    v = np.arange(10.0)
    X, y = lag_matrix(v, 3)
    assert X.shape == (7, 5)
    for row, target in zip(X, y, strict=True):
        assert target not in row[:3]
        assert row[3] == pytest.approx(row[:3].mean())  # mean over the lags only
    assert np.array_equal(series_from_features(X, y, 3), v)
    assert prediction_input(v, 3).tolist() == [
        [7.0, 8.0, 9.0, 8.0, pytest.approx(np.std([7, 8, 9]))]
    ]


@pytest.mark.parametrize("cls", list(BUILTIN.values()))
def test_every_builtin_model_forecasts_horizon_steps_and_round_trips(
    cls: type[BaseModel], tmp_path: Path
) -> None:
    y = daily()
    model = cls("1m", "5m", "30m")
    result = model.fit_series(y, offset=0)
    assert isinstance(result, TrainingResult) and model.is_fitted
    forecast = model.forecast(y, 0)
    assert forecast.shape == (5,) and np.isfinite(forecast).all()
    path = str(tmp_path / "m.json")
    model.save(path)
    again = cls("1m", "5m", "30m")
    again.load(path)
    assert np.allclose(again.forecast(y, 0), forecast)


@pytest.mark.parametrize("cls", list(BUILTIN.values()))
def test_seed_interface_fit_predict_on_lag_features(cls: type[BaseModel]) -> None:
    y = daily(600)
    model = cls("1m", "5m", "30m")
    X, target = lag_matrix(y, 30)
    model.fit(X, target)
    out = model.predict(prediction_input(y, 30))
    assert isinstance(out, PredictionResult) and out.values.shape == (5,)


def test_corrupt_artifact_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.model"
    path.write_text("{not json")
    with pytest.raises(ModelError, match="cannot load ExponentialSmoothingModel"):
        ExponentialSmoothingModel().load(str(path))
    ARIMAModel().save(
        str(tmp_path / "arima.model")
    )  # unfitted state saves; another class refuses it
    with pytest.raises(ModelError, match="not an artifact of this model"):
        LinearTrendModel().load(str(tmp_path / "arima.model"))


def test_holt_parameters_are_fitted_not_fixed() -> None:
    smooth = 50 + np.cumsum(RNG.normal(0, 0.1, 800))  # a slow random walk wants a high alpha
    noisy = 50 + RNG.normal(0, 5, 800)  # white noise around a level wants a low alpha
    a = ExponentialSmoothingModel()
    a.fit_series(smooth)
    b = ExponentialSmoothingModel()
    b.fit_series(noisy)
    assert a.alpha > 0.5 > b.alpha


def test_arima_differencing_extends_a_line_and_a_parabola_exactly() -> None:
    t = np.arange(300, dtype=float)
    line = 3 + 2 * t
    m = ARIMAModel(order=(1, 1, 0))
    m.fit_series(line)
    assert np.allclose(m.forecast(line), 3 + 2 * np.arange(300, 305), atol=1e-6)
    parabola = 0.5 * t**2
    m2 = ARIMAModel(order=(0, 2, 0))
    m2.fit_series(parabola)
    assert np.allclose(m2.forecast(parabola), 0.5 * np.arange(300, 305) ** 2, atol=1e-6)


def test_arima_recovers_an_ar1_coefficient() -> None:
    z = np.zeros(3000)
    for i in range(1, 3000):
        z[i] = 0.7 * z[i - 1] + RNG.normal()
    m = ARIMAModel(order=(1, 0, 0))
    m.fit_series(z)
    assert m.phi[0] == pytest.approx(0.7, abs=0.05)


def test_arima_order_is_checked() -> None:
    with pytest.raises(ValueError, match="out of range"):
        ARIMAModel(order=(1, 3, 0))


def test_sgd_partial_fit_continues_from_its_weights() -> None:
    y = daily(900)
    X, target = lag_matrix(y, 30)
    m = SGDRegressorModel()
    m.fit(X[:400], target[:400])
    before = (m.weights.copy(), m.mu, m.sigma)
    result = m.partial_fit(X[400:], target[400:])
    assert result.training_policy == "finetune"
    assert (m.mu, m.sigma) == before[1:]  # the scaler is kept
    assert not np.allclose(m.weights, before[0])  # and training went on from the old weights
    assert np.linalg.norm(m.weights - before[0]) < np.linalg.norm(before[0])


def test_daily_season_is_found_from_the_data_not_an_hourly_alias() -> None:
    y = daily()
    assert candidate_periods("1m") == [60, 1440, 10080]
    assert detect_period(y, candidate_periods("1m")) == 1440
    hourly = 5 * np.sin(2 * np.pi * np.arange(3000) / 60) + RNG.normal(0, 0.5, 3000)
    assert detect_period(hourly, candidate_periods("1m")) == 60
    assert detect_period(RNG.normal(size=3000), candidate_periods("1m")) == 0


def test_seasonal_model_beats_holt_and_seasonal_naive_on_a_seasonal_trend() -> None:
    y = daily(noise=0.5)
    train, test = y[:-60], y[-60:]
    errors = {}
    for cls in (SeasonalModel, ExponentialSmoothingModel, SeasonalNaiveModel):
        m = cls("1m", "1h", "30m")
        m.fit_series(train)
        errors[cls.__name__] = float(np.mean(np.abs(m.forecast(train) - test)))
    assert errors["SeasonalModel"] < errors["ExponentialSmoothingModel"]
    assert errors["SeasonalModel"] < errors["SeasonalNaiveModel"]


def test_seasonal_phase_follows_the_grid_offset() -> None:
    y = daily(noise=0.0, trend=0.0)
    m = SeasonalModel("1m", "5m", "30m")
    m.fit_series(y[:2880], offset=0)
    # The same model forecasting a buffer that starts 500 steps later, told its offset.
    window = y[500:3000]
    assert np.allclose(m.forecast(window, offset=500), y[3000:3005], atol=0.5)


def test_models_refuse_non_finite_input() -> None:
    y = daily(200)
    y[50] = np.nan
    with pytest.raises(ModelError, match="finite"):
        ExponentialSmoothingModel().fit_series(y)


def test_seed_import_path_is_the_same_module() -> None:
    import sentinel.forecast.models as ours
    import sentinel.pipeline.models as seeds

    assert seeds is ours
    assert seeds.ExponentialSmoothingModel is ours.ExponentialSmoothingModel


def test_quick_start_names_come_from_sentinel_lazily() -> None:
    from sentinel import Sentinel, SentinelConfig, WatchConfig
    from sentinel.forecast import engine

    assert Sentinel is engine.Sentinel
    assert SentinelConfig().emitter_port == 8080
    assert WatchConfig(metric="x").horizon == "5m"
