"""LLM_CHECK and RAG: a judge grades each response's quality and groundedness.

The local judge needs no network. It checks what can be checked from the text alone:
an empty response, degenerate repetition, garbled output (control or
replacement characters, little readable text), and refusals; and, when the event carries
retrieved documents in ``metadata["context"]``, how much of the response (its content
words and every number) the documents support. A response whose numbers or most of whose
words appear nowhere in its context is counted as ungrounded: the RAG hallucination check.

:class:`OpenAIJudge` asks a model behind any OpenAI-compatible ``/chat/completions``
endpoint for the same verdict, and falls back to the local one when the call fails.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.error import URLError
from urllib.request import Request, urlopen

log = logging.getLogger("sentinel.llm")

_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_REFUSAL = re.compile(
    r"\b(i can(no|')t (help|assist)|i'm (not able|unable) to|as an ai( language model)?)\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    "that this with from have were what when which will would there their they them then "
    "than into about your also just more some such only other over very been being does".split()
)


@dataclass(frozen=True)
class Verdict:
    """A judge's grade of one response."""

    quality: float
    """0 (broken) to 1 (nothing wrong found)."""
    grounded: float | None = None
    """Share of the response its context supports; ``None`` without a context."""
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ungrounded(self) -> bool:
        """Whether the RAG check counts the response as a hallucination."""
        return self.grounded is not None and self.grounded < 0.5


class Judge(Protocol):
    """Grades a response; ``context`` is the retrieved text the answer should rest on."""

    def judge(self, prompt: str, response: str, finish_reason: str, context: str) -> Verdict:
        """The verdict on one exchange."""
        ...


def _grounding(response: str, context: str) -> float:
    known_words = set(_WORD.findall(context.lower()))
    known_numbers = set(_NUMBER.findall(context))
    words = [w for w in _WORD.findall(response.lower()) if w not in _STOP]
    numbers = _NUMBER.findall(response)
    if numbers and any(n not in known_numbers for n in numbers):
        return min(0.4, sum(n in known_numbers for n in numbers) / len(numbers))
    if not words:
        return 1.0
    return sum(w in known_words for w in words) / len(words)


class LocalJudge:
    """The default judge: text checks and context support, no network."""

    def judge(self, prompt: str, response: str, finish_reason: str, context: str) -> Verdict:
        reasons = []
        quality = 1.0
        text = response.strip()
        if not text:
            return Verdict(0.0, 0.0 if context else None, ("empty response",))
        words = text.split()
        if len(words) >= 9:
            grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
            repeated = 1 - len(set(grams)) / len(grams)
            if repeated > 0.3:
                quality -= min(0.6, repeated)
                reasons.append(f"{repeated:.0%} repeated phrases")
        bad = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\n\t\r"))
        readable = sum(c.isalpha() or c.isspace() for c in text) / len(text)
        if bad or readable < 0.6:
            quality -= 0.6
            reasons.append("garbled output")
        if _REFUSAL.search(text):
            quality -= 0.3
            reasons.append("refusal")
        grounded = _grounding(text, context) if context else None
        if grounded is not None and grounded < 0.5:
            reasons.append(f"only {grounded:.0%} supported by its context")
        return Verdict(max(quality, 0.0), grounded, tuple(reasons))


_ASK = (
    "You grade another model's answer. Reply with JSON only: "
    '{"quality": <0..1, 1 = correct, coherent and complete>, '
    '"grounded": <0..1 share of the answer supported by the context, or null without one>, '
    '"reasons": [<short strings>]}'
)


class OpenAIJudge:
    """A judge model behind an OpenAI-compatible endpoint (vLLM, llama.cpp, OpenAI...).

    Args:
        base_url: The API root, e.g. ``http://localhost:8000/v1``.
        model: The judge model's name.
        api_key: Sent as a bearer token when set.
        timeout: Seconds per call; the local verdict stands in when it runs out.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 10.0):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.failures = 0
        self._local = LocalJudge()

    def judge(self, prompt: str, response: str, finish_reason: str, context: str) -> Verdict:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _ASK},
                {
                    "role": "user",
                    "content": json.dumps(
                        {"question": prompt, "answer": response, "context": context or None}
                    ),
                },
            ],
        }
        req = Request(self.url, data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read())["choices"][0]["message"]["content"]
            return parse_verdict(answer)
        except (URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            self.failures += 1
            log.warning("the judge at %s failed (%s); using the local checks", self.url, exc)
            return self._local.judge(prompt, response, finish_reason, context)


def parse_verdict(answer: str) -> Verdict:
    """The verdict in a judge model's reply (JSON, possibly inside a code fence).

    Raises:
        ValueError: the reply holds no valid verdict.
    """
    start, end = answer.find("{"), answer.rfind("}")
    if start < 0 or end < start:
        raise ValueError(f"no JSON object in the judge's reply: {answer[:80]!r}")
    data = json.loads(answer[start : end + 1])
    quality = float(data["quality"])
    grounded = data.get("grounded")
    if not 0 <= quality <= 1 or (grounded is not None and not 0 <= float(grounded) <= 1):
        raise ValueError("quality and grounded must be within 0..1")
    reasons = tuple(str(r) for r in data.get("reasons") or ())
    return Verdict(quality, None if grounded is None else float(grounded), reasons)
