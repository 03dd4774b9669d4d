"""Synthetic inference traffic for the demo's two ``InferenceMonitor``\\ s.

A small classifier's logits, drawn with NumPy: clean batches, batches whose logits a faulty
GPU corrupted (an exponent bit flipped in float32, as the FMA fault flips it), and batches
whose logit level drifts while the predictions stay the same (a benign change no hardware
made).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LogitStream"]

_ROWS = 32
_CLASSES = 10
_DRIFT_SIGMAS = 100.0
"""Level shift of a drifting batch, in standard deviations of the batch mean logit: far
enough that each drifting batch is one HIGH (not WARNING) ``LOGIT_DRIFT`` anomaly."""


class LogitStream:
    """Batches of ``(32, 10)`` float32 logits of one served model.

    Args:
        seed: Seeds the model's class biases and every batch.
    """

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._bias = self._rng.normal(0.0, 1.0, _CLASSES)

    def clean(self) -> np.ndarray:
        """A batch as a healthy GPU computes it."""
        return (self._bias + self._rng.normal(0.0, 1.0, (_ROWS, _CLASSES))).astype(np.float32)

    def corrupted(self, bit: int) -> np.ndarray:
        """A batch with ``bit`` flipped in its smallest logit; bit 30 makes it about 1e36."""
        logits = self.clean()
        smallest = np.unravel_index(np.argmin(np.abs(logits)), logits.shape)
        logits.view(np.uint32)[smallest] ^= np.uint32(1 << bit)
        return logits

    def drifted(self) -> np.ndarray:
        """A batch whose every logit moved by the same amount: same predictions, new level."""
        sigma = 1.0 / np.sqrt(_ROWS * _CLASSES)  # of the batch mean logit
        return self.clean() + np.float32(_DRIFT_SIGMAS * sigma)
