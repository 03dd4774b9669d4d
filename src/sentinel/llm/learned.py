"""The learned detectors: isolation forest and one-class SVM on per-event features
(scikit-learn), and an LSTM autoencoder over the sequence of window figures (torch).

Each is fitted on a baseline's normal history with a fixed seed, so a baseline restored
from the database and refitted on the same history scores exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sentinel.llm.types import DetectionMethod

_CONTAMINATION = 0.01


def _sklearn() -> Any:
    try:
        from sklearn import ensemble, svm
    except ImportError as exc:
        raise ImportError(
            "the isolation forest and one-class SVM detectors need scikit-learn: "
            "pip install 'sentinel[server]'"
        ) from exc
    return ensemble, svm


def torch_available() -> bool:
    """Whether torch can be imported (the LSTM autoencoder's ``auto`` setting)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "the LSTM autoencoder needs torch: pip install 'sentinel[torch]' "
            "(or set SENTINEL_LLM_LSTM=off)"
        ) from exc
    return torch


class OutlierModel:
    """Isolation forest or one-class SVM fitted on normal events; counts outlying events.

    The cut-off is the decision score below which 1% of the training events fall, so on
    normal traffic about 1% of events are outliers and a window with many more is not.
    """

    def __init__(self, method: DetectionMethod, reference: NDArray[np.float64]) -> None:
        ensemble, svm = _sklearn()
        self.method = method
        self.mean = reference.mean(axis=0)
        self.std = np.maximum(reference.std(axis=0), 1e-6)
        x = (reference - self.mean) / self.std
        if method is DetectionMethod.ISOLATION_FOREST:
            self.model = ensemble.IsolationForest(n_estimators=50, random_state=0).fit(x)
        elif method is DetectionMethod.ONE_CLASS_SVM:
            self.model = svm.OneClassSVM(nu=0.05, gamma="scale").fit(x)
        else:
            raise ValueError(f"{method.value} is not an outlier model")
        scores = self.model.decision_function(x)
        self.cut = float(np.quantile(scores, _CONTAMINATION))
        self.base_rate = max(float(np.mean(scores < self.cut)), _CONTAMINATION / 2)

    def outliers(self, features: NDArray[np.float64]) -> int:
        """How many rows of ``features`` fall outside what the model learned."""
        if not len(features):
            return 0
        scores = self.model.decision_function((features - self.mean) / self.std)
        return int(np.sum(scores < self.cut))


class LstmAutoencoder:
    """An LSTM that learns to reproduce short sequences of normal window figures.

    A sequence it cannot reproduce (error above the training errors' mean plus
    ``k`` deviations) is anomalous; the feature with the largest error says which figure.

    Args:
        history: Normal windows, one row each (columns: the figures).
        seq: Windows per sequence.
    """

    def __init__(self, history: NDArray[np.float64], seq: int = 6, k: float = 8.0) -> None:
        torch = _torch()
        self.seq = seq
        self.mean = history.mean(axis=0)
        self.std = np.maximum(history.std(axis=0), 1e-6 + 0.05 * np.abs(self.mean))
        z = (history - self.mean) / self.std
        windows = np.stack([z[i : i + seq] for i in range(len(z) - seq + 1)])
        cut = max(len(windows) * 2 // 3, 1)
        windows, holdout = windows[:cut], windows[cut:] if len(windows) > cut else windows
        torch.manual_seed(0)
        torch.set_num_threads(1)
        features = history.shape[1]
        self._net = _Net(torch, features, hidden=16)
        data = torch.tensor(windows, dtype=torch.float32)
        opt = torch.optim.Adam(self._net.parameters(), lr=0.02)
        for _ in range(100):
            opt.zero_grad()
            loss = ((self._net(data) - data) ** 2).mean()
            loss.backward()
            opt.step()
        # Calibrated on sequences held out of training: errors on the training sequences
        # themselves are too small to say what an unseen normal sequence scores.
        held = self._errors(holdout).mean(axis=1)
        self.threshold = float(max(held.max() * 4, held.mean() + k * held.std(), 2.0))

    def _errors(self, windows: NDArray[np.float64]) -> NDArray[np.float64]:
        torch = _torch()
        with torch.no_grad():
            data = torch.tensor(windows, dtype=torch.float32)
            out = self._net(data)
            return ((out - data) ** 2).mean(dim=1).numpy().astype(np.float64)

    def score(self, recent: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """Reconstruction error of the last ``seq`` windows, overall and per feature."""
        z = (recent[-self.seq :] - self.mean) / self.std
        per_feature = self._errors(z[None, :, :])[0]
        return float(per_feature.mean()), per_feature


class _Net:
    """Encoder LSTM to a code vector, repeated over time into a decoder LSTM."""

    def __init__(self, torch: Any, features: int, hidden: int) -> None:
        nn = torch.nn
        self.encoder = nn.LSTM(features, hidden, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def parameters(self) -> Sequence[Any]:
        return [
            *self.encoder.parameters(),
            *self.decoder.parameters(),
            *self.out.parameters(),
        ]

    def __call__(self, x: Any) -> Any:
        _, (h, _) = self.encoder(x)
        code = h[-1].unsqueeze(1).repeat(1, x.shape[1], 1)
        decoded, _ = self.decoder(code)
        return self.out(decoded)
