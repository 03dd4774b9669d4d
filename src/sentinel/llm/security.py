"""Security checks on every event: prompt injection in prompts, secrets in either direction.

Patterns, not a model: they are cheap enough for every event, explainable, and what they
catch is listed here. A finding never carries the matched secret, only its kind and a
redacted prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INJECTION = (
    (
        "ignore_instructions",
        r"\b(ignore|disregard|forget)\b[^.\n]{0,40}\b(previous|prior|above|all|earlier)\b"
        r"[^.\n]{0,20}\b(instructions|rules|prompts?|directions)\b",
    ),
    (
        "system_prompt_probe",
        r"\b(reveal|show|print|repeat|leak)\b[^.\n]{0,30}"
        r"\b(system prompt|hidden (prompt|instructions)|initial instructions)\b",
    ),
    (
        "role_override",
        r"\byou are (now|no longer)\b[^.\n]{0,40}"
        r"\b(dan|unfiltered|jailbroken|without (any )?(rules|restrictions))\b",
    ),
    ("developer_mode", r"\b(developer|god|jailbreak) mode\b"),
)
"""Prompt-injection phrasings (case-insensitive)."""

SECRETS = (
    ("aws_access_key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("private_key", r"-----BEGIN (RSA |EC |OPENSSH |DSA |)PRIVATE KEY-----"),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    ("slack_token", r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),
    ("openai_key", r"\bsk-(proj-)?[A-Za-z0-9_-]{20,}\b"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"),
    ("password_assignment", r"\b(password|passwd|pwd)\s*[:=]\s*\S{6,}"),
)
"""Credential formats whose presence in a prompt or response is a leak."""

_INJECTION = [(name, re.compile(p, re.IGNORECASE)) for name, p in INJECTION]
_SECRETS = [(name, re.compile(p)) for name, p in SECRETS]


@dataclass(frozen=True)
class Threat:
    """One finding: which pattern, where, and a redacted glimpse."""

    kind: str
    """``prompt_injection`` or ``secret_leak``."""
    pattern: str
    where: str
    """``prompt`` or ``response``."""
    excerpt: str


def _redact(text: str) -> str:
    return text[:4] + "…" if len(text) > 4 else "…"


def scan(prompt: str, response: str) -> list[Threat]:
    """Threats in one exchange: injection attempts in the prompt, secrets in either text."""
    found = []
    for name, rx in _INJECTION:
        m = rx.search(prompt)
        if m:
            found.append(Threat("prompt_injection", name, "prompt", m.group(0)[:80]))
    for where, text in (("response", response), ("prompt", prompt)):
        for name, rx in _SECRETS:
            m = rx.search(text)
            if m:
                found.append(Threat("secret_leak", name, where, _redact(m.group(0))))
    return found
