"""PII scrubbing of exception messages and tracebacks, in linear time on any input.

``scrub(text)`` finds emails, Luhn-valid card numbers, IPv4 and IPv6 addresses (checked
with :mod:`ipaddress`, so version strings, dates and times survive), bearer and API
tokens and ``key=value`` secrets, and replaces them with the markers of the published
SDK: ``[EMAIL]``, ``[CREDIT_CARD]``, ``[IP_ADDRESS]``, ``[REDACTED_TOKEN]`` and
``<key>=[REDACTED_SECRET]``.

Every pattern is anchored on something rare (an ``@``, a colon, a known prefix, a
secret-ish word) or bounded in length, and every candidate is checked in Python, so no
input makes a regular expression backtrack more than a constant per character. Each
detector runs on the original text; their findings are merged (secrets, then tokens,
then the rest), so one marker never breaks another detector's match. The scrubber never
raises: a detector that fails is skipped and the others still apply.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator

__all__ = ["EMAIL", "CREDIT_CARD", "IP_ADDRESS", "REDACTED_TOKEN", "REDACTED_SECRET", "scrub"]

_log = logging.getLogger("sentinel.capture")

EMAIL = "[EMAIL]"
CREDIT_CARD = "[CREDIT_CARD]"
IP_ADDRESS = "[IP_ADDRESS]"
REDACTED_TOKEN = "[REDACTED_TOKEN]"
REDACTED_SECRET = "[REDACTED_SECRET]"

Span = tuple[int, int, str]
"""``(start, end, marker)``: ``text[start:end]`` is replaced by ``marker``."""

# -- emails: found by their "@", expanded over bounded local and domain parts ----------------
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])")


def _emails(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL:
            start -= 1
        while start < at and text[start] == ".":  # a full stop before, not in, the address
            start += 1
        domain = _DOMAIN.match(text, at + 1)
        if start < at and domain:
            yield start, domain.end(), EMAIL
            at = text.find("@", domain.end())
        else:
            at = text.find("@", at + 1)


# -- card numbers: a card's shape, an issuer's prefix and length, then Luhn ------------------
_CARD = re.compile(
    # A digit first, then the look back: the engine skips quickly to the next digit.
    r"[0-9](?<![\w.-][0-9])(?:"
    r"[0-9]{12,18}"
    r"|[0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?"  # 4-4-4-4, 4-4-4-4-1..3
    r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5}"  # 4-6-5 (Amex), 4-6-4 (Diners)
    r")(?![\w]|[ -]\d|\.\d)"
)


def _issuer_length_ok(digits: str) -> bool:
    """Whether ``digits`` starts like a card of a real issuer and has that issuer's length."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return n == 16
    if two in (34, 37):  # American Express
        return n == 15
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:  # Diners Club
        return 14 <= n <= 19
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or two == 62:
        return 16 <= n <= 19  # Discover, UnionPay
    if 3528 <= four <= 3589:  # JCB
        return 16 <= n <= 19
    return False


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if _issuer_length_ok(digits) and _luhn(digits):
            yield m.start(), m.end(), CREDIT_CARD


# -- IP addresses: candidates by shape, confirmed by the ipaddress module --------------------
_IPV4 = re.compile(
    r"[0-9](?<![\w.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![\w]|\.[0-9])"
)
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_LOOPBACK = ipaddress.IPv6Address("::1")


def _ipv4s(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        yield m.start(), m.end(), IP_ADDRESS


def _ipv6s(text: str) -> Iterator[Span]:
    # Found by their colons: each run of hex digits, colons and dots around one is read at
    # most 45 characters either way (the longest address), then checked.
    n = len(text)
    at = text.find(":")
    while at != -1:
        start = at
        while start > 0 and at - start < 45 and text[start - 1] in _IPV6_CHARS:
            start -= 1
        end = at + 1
        while end < n and end - at < 45 and text[end] in _IPV6_CHARS:
            end += 1
        at = text.find(":", end)
        if (
            start > 0 and (text[start - 1] in _IPV6_CHARS or _WORD_CHAR.match(text[start - 1]))
        ) or (end < n and (text[end] in _IPV6_CHARS or _WORD_CHAR.match(text[end]))):
            continue  # part of a longer word or run: not an address
        candidate = text[start:end].rstrip(".")
        if candidate.endswith(":") and not candidate.endswith("::"):
            candidate = candidate[:-1]  # "host ::1: refused"
        if candidate.count(":") < 2:
            continue
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        # "x[1::2]" is a slice, not an address: short compressed forms need four hex
        # digits ("fe80::1") unless they are the loopback.
        if address != _LOOPBACK and sum(c.isalnum() for c in candidate) < 4:
            continue
        yield start, start + len(candidate), IP_ADDRESS


# -- tokens: well-known prefixes, JWTs, and bearer credentials -------------------------------
_TOKENS = tuple(
    re.compile(p)
    for p in (
        # One pattern per literal prefix: the regex engine finds a literal prefix quickly.
        r"gh[pousr]_[A-Za-z0-9]{30,255}",  # GitHub
        r"github_pat_[A-Za-z0-9_]{22,255}",
        r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,255}",  # OpenAI, Anthropic
        r"sk_(?:live|test)_[A-Za-z0-9]{16,255}",  # Stripe
        r"rk_(?:live|test)_[A-Za-z0-9]{16,255}",
        r"xox[abposre]-[A-Za-z0-9-]{10,255}",  # Slack
        r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|NPA)[A-Z0-9]{16}(?![A-Za-z0-9])",  # AWS key ids
        r"AIza[0-9A-Za-z_-]{35}",  # Google API keys
        r"glpat-[A-Za-z0-9_-]{20,255}",  # GitLab
        r"snt_[a-z]+_[A-Za-z0-9_-]{32,255}",  # Sentinel's own tokens
        r"eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{0,4096}",  # JWT
    )
)
_BEARER = re.compile(  # a character class first: the engine skips to it quickly
    r"[BbTt](?:earer|EARER|asic|ASIC|oken|OKEN)[ \t]{1,8}([A-Za-z0-9._~+/=-]{8,4096})"
)
_WORD_CHAR = re.compile(r"\w")
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_-]")


def _tokens(text: str) -> Iterator[Span]:
    for pattern in _TOKENS:
        for m in pattern.finditer(text):
            if m.start() == 0 or not _TOKEN_CHAR.match(text[m.start() - 1]):
                yield m.start(), m.end(), REDACTED_TOKEN
    for m in _BEARER.finditer(text):
        if m.start() > 0 and _WORD_CHAR.match(text[m.start() - 1]):
            continue
        value = m.group(1)
        scheme = m.group()[:5].lower()
        if scheme not in ("beare", "basic", "token"):
            continue
        # "token expired" is prose; a bearer credential is opaque: long, with digits or symbols.
        if scheme == "token" and not _opaque(value):
            continue
        if scheme != "token" and not (_opaque(value) or len(value) >= 16):
            continue
        yield m.start(1), m.end(1), REDACTED_TOKEN


# -- key=value secrets: a secret-ish name, a separator, a value ------------------------------
_SECRET_WORD = re.compile(
    r"(?i)passw(?:or)?d|passphrase|\bpwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|authorization|\bauth\b|credentials?|session[_-]?id|cookie|signature"
)
_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_SECRET_WORD_ASCII = re.compile(
    rb"passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    rb"|private[_-]?key|authorization|auth|credential|session[_-]?id|cookie|signature"
)
_QUOTED = {
    "'": re.compile(r"'([^'\n\\]{1,1024})'"),
    '"': re.compile(r'"([^"\n\\]{1,1024})"'),
}
_BARE = re.compile(r"[^\s,;&'\"()\[\]{}<>]{1,1024}")
_DIGIT = re.compile(r"\d")
_ALPHA = re.compile(r"[^\W\d_]")
_SYMBOL = re.compile(r"[!#$%^&*+/=@~?|]")
_INNER_UPPER = re.compile(r"(?<=.)[A-Z]")
_LOWER = re.compile(r"[a-z]")
_BARE_AFTER_COLON = re.compile(r"[^\s,;&'\"()\[\]{}<>:]{1,1024}")
_CODE = re.compile(r"[A-Za-z_][\w.]*")
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_NOT_SECRET = frozenset(
    "max min num count limit len length size ttl expiry expires expire timeout type url uri "
    "path file filename name usage prompt completion at hint policy version tokens endpoint".split()
)
_SCHEME = re.compile(r"(?i)(?:bearer|basic|token|digest)[ \t]")
_URL_PASSWORD = re.compile(r"://[^/\s:@]{1,128}:([^/\s@]{1,256})@")


def _opaque(value: str) -> bool:
    """Whether ``value`` looks machine-made (a credential) rather than a word of prose:
    letters with digits or symbols, or case changing inside it, or high entropy."""
    if len(value) < 6:
        return False
    if _ALPHA.search(value) and (_DIGIT.search(value) or _SYMBOL.search(value)):
        return True
    if _INNER_UPPER.search(value) and _LOWER.search(value):
        return True
    n = len(value)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(value).values())
    return entropy >= 3.5 and not value.isalpha()


def _secret_name(name: str) -> bool:
    """Whether ``name`` names a secret: a secret-ish word that ends a part of it
    (``api_key``, ``dbPassword``, ``SECRET_KEY``; not ``tokenizer``)."""
    for m in _SECRET_WORD.finditer(name):
        if m.end() == len(name) or not name[m.end()].islower():
            return True
    return False


def _secrets(text: str) -> Iterator[Span]:
    # Driven by the secret-ish words, found in an ASCII lower-case copy of the same length
    # (a pattern without IGNORECASE, which the regex engine scans for quickly); each name
    # is read at most 64 characters either side, and only then a bounded value.
    low = text.encode("ascii", "replace").lower()
    n = len(text)
    skip_to = last_sep = 0
    for word in _SECRET_WORD_ASCII.finditer(low):
        if word.start() < skip_to:
            continue
        name_end = word.end()
        while name_end < n and name_end - word.end() < 64 and text[name_end] in _NAME:
            name_end += 1
        quote = text[name_end] if name_end < n and text[name_end] in "'\"" else ""
        at = name_end + len(quote)
        while at < n and at - name_end < 8 and text[at] in " \t":
            at += 1
        if at >= n or text[at] not in "=:" or at <= last_sep:
            continue
        last_sep = at
        if at + 1 < n and text[at + 1] in "=:":
            continue  # "password == x", "token::x": code, not an assignment
        space_before = at > name_end + len(quote)
        start = word.start()
        while start > 0 and name_end - start < 64 and text[start - 1] in _NAME:
            start -= 1
        name = text[start:name_end]
        quoted_key = bool(quote) and start > 0 and text[start - 1] == quote
        if (quote and not quoted_key) or not _secret_name(name):
            continue
        if any(w.lower() in _NOT_SECRET for w in _WORDS.findall(name)):
            continue  # max_tokens=, token_url=, tokenType=: figures and names, no secret
        sep = text[at]
        value_at = at + 1
        while value_at < n and value_at - at <= 8 and text[value_at] in " \t":
            value_at += 1
        space_after = value_at > at + 1
        if value_at >= n:
            continue
        if _SCHEME.match(text, value_at):
            continue  # "Authorization: Bearer x": the bearer detector takes the credential
        if text[value_at] in _QUOTED:
            value = _QUOTED[text[value_at]].match(text, value_at)
            if value is None:
                continue
            v_start, v_end = value.span(1)
        else:
            value = (_BARE if sep == "=" else _BARE_AFTER_COLON).match(text, value_at)
            if value is None:
                continue
            v_start, v_end = value.span()
            if text[v_end - 1] in ".:":  # the sentence's full stop, not the secret's
                v_end -= 1
            if v_end < n and text[v_end] in "([":  # code: token = load_token(...)
                continue
            if space_before and space_after and _CODE.fullmatch(text, v_start, v_end):
                continue  # code in a traceback: "password = settings.DB_PASSWORD"
        secret = text[v_start:v_end]
        # "key=value" and "'key': 'value'" are assignments; a bare "token: x" may be prose,
        # so there the value must look machine-made.
        assigned = sep == "=" or quoted_key
        if v_end > v_start and (assigned or _opaque(secret)) and secret not in _MARKERS:
            yield v_start, v_end, REDACTED_SECRET
            skip_to = v_end


def _url_passwords(text: str) -> Iterator[Span]:
    for m in _URL_PASSWORD.finditer(text):
        yield m.start(1), m.end(1), REDACTED_SECRET


_MARKERS = frozenset({EMAIL, CREDIT_CARD, IP_ADDRESS, REDACTED_TOKEN, REDACTED_SECRET})

_DETECTORS: tuple[Callable[[str], Iterator[Span]], ...] = (
    _secrets,
    _url_passwords,
    _tokens,
    _emails,
    _cards,
    _ipv6s,
    _ipv4s,
)
"""In priority order: where two findings overlap, the earlier detector's wins."""


def find(text: str) -> list[Span]:
    """Every finding in ``text``, without overlaps, in order of position.

    A detector that fails is logged and skipped, so the others still apply.
    """
    kept: list[Span] = []
    for detector in _DETECTORS:
        try:
            found = sorted(detector(text))
        except Exception:  # a scrubber bug must never reach the application
            _log.warning("scrubber detector %s failed; skipped", detector.__name__, exc_info=True)
            continue
        kept = _merge(kept, found)
    return kept


def _merge(kept: list[Span], found: list[Span]) -> list[Span]:
    """``kept`` with the spans of ``found`` that overlap nothing before them (both sorted)."""
    out: list[Span] = []
    i = 0
    for span in found:
        while i < len(kept) and kept[i][1] <= span[0]:
            out.append(kept[i])
            i += 1
        if i < len(kept) and kept[i][0] < span[1]:
            continue
        if out and out[-1][1] > span[0]:
            continue
        out.append(span)
    out.extend(kept[i:])
    return out


def scrub(text: str) -> str:
    """``text`` with every email, card number, IP address, token and secret replaced.

    Never raises: anything that is not a string is converted first, and a detector that
    fails is skipped.
    """
    try:
        if not isinstance(text, str):
            text = str(text)
        if not text:
            return text
        parts: list[str] = []
        last = 0
        for start, end, marker in find(text):
            parts.append(text[last:start])
            parts.append(marker)
            last = end
        parts.append(text[last:])
        return "".join(parts)
    except Exception:
        _log.warning("scrubbing failed; text withheld", exc_info=True)
        return REDACTED_SECRET
