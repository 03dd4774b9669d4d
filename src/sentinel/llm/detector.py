"""The detector: routes each event to its (service, model) baseline, after the judge and
the security scan have looked at it.

One lock serialises processing, so the HTTP ingest and the Kafka worker can share one
detector. Baselines are loaded from storage the first time their key appears (after a
restart, or when Kafka hands this worker a partition another worker had).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sentinel.llm.baseline import Baseline, Changes
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.judge import Judge, LocalJudge, OpenAIJudge
from sentinel.llm.learned import torch_available
from sentinel.llm.security import scan
from sentinel.llm.settings import LlmSettings

Key = tuple[str, str]
Loader = Callable[[str, str], dict[str, Any] | None]


def make_judge(settings: LlmSettings) -> Judge:
    """The judge the settings name."""
    if settings.judge == "openai":
        return OpenAIJudge(settings.judge_url, settings.judge_model, settings.judge_api_key)
    return LocalJudge()


def lstm_enabled(settings: LlmSettings) -> bool:
    """Whether the LSTM autoencoder runs.

    Raises:
        ImportError: ``lstm="on"`` and torch is not installed (says what to install).
    """
    if settings.lstm == "off":
        return False
    if torch_available():
        return True
    if settings.lstm == "on":
        raise ImportError(
            "SENTINEL_LLM_LSTM=on needs torch: pip install 'sentinel[torch]' "
            "(or set SENTINEL_LLM_LSTM=auto to run without the LSTM autoencoder)"
        )
    return False


class Detector:
    """Every (service, model) baseline of this process, and the checks run on each event."""

    def __init__(self, settings: LlmSettings, load: Loader | None = None) -> None:
        self.settings = settings
        self.judge = make_judge(settings)
        self.lstm = lstm_enabled(settings)
        self._load = load or (lambda service, model: None)
        self._baselines: dict[Key, Baseline] = {}
        self._dirty: set[Key] = set()
        self._lock = threading.Lock()
        self._sample = random.Random(0)
        self._local = LocalJudge()

    def baseline(self, service: str, model: str) -> Baseline:
        key = (service, model)
        found = self._baselines.get(key)
        if found is None:
            found = Baseline(service, model, self.settings, self.lstm, self._load(service, model))
            self._baselines[key] = found
        return found

    def _verdict(self, event: TelemetryEvent) -> Any:
        judge = self.judge
        if (
            self.settings.judge_sample_rate < 1
            and self._sample.random() > self.settings.judge_sample_rate
        ):
            judge = self._local
        return judge.judge(
            event.prompt.text,
            event.response.text,
            event.response.finish_reason,
            event.metadata.get("context", ""),
        )

    def process(self, events: Iterable[TelemetryEvent]) -> Changes:
        """Run every check on ``events`` (in order); returns what changed."""
        changes = Changes()
        with self._lock:
            for event in events:
                base = self.baseline(event.service_name, event.model)
                threats = scan(event.prompt.text, event.response.text)
                changes.merge(base.observe(event, self._verdict(event), threats))
                self._dirty.add((event.service_name, event.model))
        return changes

    def take_dirty(self) -> list[tuple[str, str, dict[str, Any], int]]:
        """``(service, model, state, events)`` of baselines changed since the last call."""
        with self._lock:
            keys, self._dirty = self._dirty, set()
            return [
                (s, m, self._baselines[(s, m)].to_state(), self._baselines[(s, m)].events)
                for s, m in keys
                if (s, m) in self._baselines
            ]

    def forget(self) -> None:
        """Drop every baseline from memory (after persisting): another worker owns them now."""
        with self._lock:
            self._baselines.clear()

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._baselines)
