"""Scrubber precision and recall per entity type, and throughput, against the published one.

Builds a labelled corpus (``--samples`` exception messages and tracebacks, seeded): real-
shaped emails, Luhn-valid card numbers of real issuers in their usual groupings, IPv4 and
IPv6 addresses, provider tokens (GitHub, OpenAI, Anthropic, Slack, AWS, JWT, bearer) and
``key=value`` / JSON / repr secrets, mixed with decoys that must survive: order ids and
other non-Luhn digit runs, epoch timestamps, ISO dates and times, version numbers, UUIDs,
hashes, MAC addresses, memory addresses, slices, code lines and prose about tokens.

Both scrubbers run on the same corpus. What each one removed is read back from its output
(the text between markers is found in the input in order), so one method scores both:
recall = entities whose every character was removed; precision (per marker) = removals
that overlap a labelled entity. Presidio's published recall is printed for reference.
Throughput is MB/s over the whole corpus, same run, same machine.

Usage: .venv/bin/python bench/bench_capture_scrubber.py [--samples N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import re
import string
import time
from collections import defaultdict
from collections.abc import Callable

from sentinel.capture.scrubber import scrub

PRESIDIO_RECALL = {"email": 1.0, "card": 0.772, "ip": 0.909}
"""Presidio's published per-entity recall (its evaluation), for reference only."""
MARKER = re.compile(r"\[(EMAIL|CREDIT_CARD|IP_ADDRESS|REDACTED_TOKEN|REDACTED_SECRET)\]")
TYPES = ("email", "card", "ipv4", "ipv6", "token", "secret")
MARKER_OF = {
    "EMAIL": "email",
    "CREDIT_CARD": "card",
    "IP_ADDRESS": "ip",
    "REDACTED_TOKEN": "token",
    "REDACTED_SECRET": "secret",
}


def rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def email(rng: random.Random) -> str:
    first = rng.choice(["alice", "bob", "carol", "dmitri", "e.lee", "f_o", "zoë"[:2]])
    local = rng.choice(
        [first, f"{first}.{rand(rng, 5, string.ascii_lowercase)}", f"{first}+{rng.randint(1, 99)}"]
    )
    domain = rng.choice(["example.com", "mail.example.co.uk", "corp.io", "eu.shop-123.org"])
    return f"{local}{rng.randint(0, 999) if rng.random() < 0.3 else ''}@{domain}"


def card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("65", 16),
            ("3530", 16),
            ("36", 14),
            ("4", 13),
            ("62", 16),
        ]
    )
    digits = luhn_complete(prefix, length, rng)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if length == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    if length == 14:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    if length == 13:
        return digits
    return sep.join(digits[i : i + 4] for i in range(0, length, 4))


def ipv4(rng: random.Random) -> str:
    first = rng.choice([10, 172, 192, 203, 198, 8, 34, 52, 100])
    rest = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    return ".".join(str(x) for x in (first, *rest))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    return rng.choice(
        [
            ":".join(groups),
            f"2001:db8:{groups[2]}::{groups[7]}",
            f"fe80::{groups[5]}:{groups[6]}:{groups[7]}",
            "::1",
            f"2600:1f18:{groups[2]}:{groups[3]}::{groups[6]}",
            f"::ffff:{ipv4(rng)}",
        ]
    )


def token(rng: random.Random) -> str:
    return rng.choice(
        [
            lambda: "ghp_" + rand(rng, 36),
            lambda: "gho_" + rand(rng, 36),
            lambda: "ghs_" + rand(rng, 36),
            lambda: "github_pat_" + rand(rng, 22) + "_" + rand(rng, 59),
            lambda: "sk-proj-" + rand(rng, 48, string.ascii_letters + string.digits + "_-"),
            lambda: "sk-" + rand(rng, 48),
            lambda: "sk-ant-api03-" + rand(rng, 93, string.ascii_letters + string.digits + "_-"),
            lambda: (
                "xoxb-"
                + f"{rng.randint(10**11, 10**12)}-{rng.randint(10**11, 10**12)}-"
                + rand(rng, 24)
            ),
            lambda: "AKIA" + rand(rng, 16, string.ascii_uppercase + string.digits),
            lambda: (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ"
                + rand(rng, 40, string.ascii_letters + string.digits + "_-")
                + "."
                + rand(rng, 43, string.ascii_letters + string.digits + "_-")
            ),
        ]
    )()


SECRET_NAMES = [
    "password",
    "db_password",
    "PASSWORD",
    "api_key",
    "apiKey",
    "API_KEY",
    "secret",
    "client_secret",
    "SECRET_KEY",
    "access_token",
    "auth_token",
    "refresh_token",
    "passwd",
    "aws_secret_access_key",
    "private_key",
    "x-api-key",
]


def secret_value(rng: random.Random) -> str:
    return rng.choice(
        [
            lambda: rand(rng, rng.randint(8, 16), string.ascii_letters + string.digits + "!#%^*"),
            lambda: rand(rng, 40, string.ascii_letters + string.digits + "/+"),
            lambda: "hunter" + str(rng.randint(2, 99)),
            lambda: rand(rng, 32, "0123456789abcdef"),
        ]
    )()


DECOYS: list[Callable[[random.Random], str]] = [
    lambda r: f"order {r.randint(10**12, 10**18)}1",  # long ids (Luhn-invalid checked below)
    lambda r: f"ts={r.randint(1_600_000_000_000, 1_800_000_000_000)}",
    lambda r: f"at {r.randint(1_600_000_000, 1_800_000_000)}.{r.randint(0, 999999):06d}",
    lambda r: f"requests {r.randint(1, 3)}.{r.randint(0, 40)}.{r.randint(0, 9)}",
    lambda r: f"version 10.0.{r.randint(10000, 22000)}.{r.randint(1, 999)}",
    lambda r: (
        f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T"
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.123+00:00"
    ),
    lambda r: f"took {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
    lambda r: "request " + "-".join(rand(r, n, "0123456789abcdef") for n in (8, 4, 4, 4, 12)),
    lambda r: "sha256 " + rand(r, 64, "0123456789abcdef"),
    lambda r: "commit " + rand(r, 40, "0123456789abcdef"),
    lambda r: "mac " + ":".join(rand(r, 2, "0123456789abcdef") for _ in range(6)),
    lambda r: f"<object at 0x7f{rand(r, 10, '0123456789abcdef')}>",
    lambda r: f"    return rows[{r.randint(0, 9)}::{r.randint(2, 5)}]",
    lambda r: "Invalid token: signature has expired",
    lambda r: f"max_tokens={r.randint(16, 4096)}, prompt_tokens={r.randint(1, 999)}",
    lambda r: "    password = settings.DB_PASSWORD",
    lambda r: "    if password == confirm:",
    lambda r: "    token = load_token(path)",
    lambda r: f"port {r.randint(1024, 65535)} line {r.randint(1, 2000)}",
    lambda r: f"amount 1{r.randint(0, 10**14):014d}.00 EUR",
    lambda r: f"phone +1-800-555-{r.randint(1000, 9999)}",
]

TEMPLATES = [
    ("email", "ValueError: no account for {} in tenant 7"),
    ("email", '  File "/app/shop/users.py", line 88, in invite\n    send_mail(to="{}")'),
    ("email", "smtplib.SMTPRecipientsRefused: {{'{}': (550, b'no such user')}}"),
    ("card", "PaymentDeclined: card {} declined (insufficient funds)"),
    ("card", '    charge(amount=42, pan="{}")'),
    ("ipv4", "ConnectionRefusedError: [Errno 111] connect to {}:5432 failed"),
    ("ipv4", "forbidden request from {} (X-Forwarded-For)"),
    ("ipv6", "OSError: [Errno 101] Network is unreachable: ('{}', 443)"),
    ("ipv6", "client {} sent an invalid header"),
    ("token", "HTTPError: 401 Unauthorized with key {}"),
    ("token", "headers={{'Authorization': 'Bearer {}'}}"),
    ("token", "github.BadCredentialsException: token {} rejected"),
    ("bearer", "Authorization: Bearer {}"),
    ("secret", "{name}={value}"),
    ("secret", '{{"{name}": "{value}", "user": "svc"}}'),
    ("secret", "Settings({name}='{value}', debug=False)"),
    ("secret", "{name}: {value}"),
]
FRAME = '  File "/app/shop/{mod}.py", line {line}, in {fn}\n    {code}\n'


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def sample(rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """One traceback-like text and its labelled entities ``(start, end, type)``."""
    parts: list[str] = ["Traceback (most recent call last):\n"]
    labels: list[tuple[int, int, str]] = []

    def add(text: str) -> None:
        parts.append(text)

    for _ in range(rng.randint(1, 3)):
        add(
            FRAME.format(
                mod=rng.choice(["api", "orders", "billing"]),
                line=rng.randint(1, 900),
                fn=rng.choice(["get", "charge", "handle"]),
                code=rng.choice(["return handler(request)", "x = compute(rows)"]),
            )
        )
    for _ in range(rng.randint(1, 3)):
        kind, template = rng.choice(TEMPLATES)
        offset = sum(len(p) for p in parts)
        if kind == "secret":
            name, value = rng.choice(SECRET_NAMES), secret_value(rng)
            text = template.format(name=name, value=value)
            at = text.index(value, text.index(name) + len(name))
            labels.append((offset + at, offset + at + len(value), "secret"))
        else:
            value = {
                "email": email,
                "card": card,
                "ipv4": ipv4,
                "ipv6": ipv6,
                "token": token,
                "bearer": lambda r: rand(r, 40, string.ascii_letters + string.digits + "._-"),
            }[kind](rng)
            text = template.format(value)
            at = text.index(value)
            label = "token" if kind == "bearer" else kind
            labels.append((offset + at, offset + at + len(value), label))
        add(text + "\n")
        for _ in range(rng.randint(1, 3)):
            decoy = rng.choice(DECOYS)(rng)
            digits = re.findall(r"\d{13,19}", decoy)
            if any(luhn_ok(d) for d in digits):
                continue  # a Luhn-valid id is indistinguishable from a card: not a fair decoy
            add(decoy + "\n")
    add("RuntimeError: request failed\n")
    return "".join(parts), labels


def removed(original: str, output: str) -> list[tuple[int, int, str]]:
    """Spans of ``original`` each marker of ``output`` replaced, with the marker's type."""
    pieces = MARKER.split(output)
    spans = []
    cursor = original.find(pieces[0])
    assert cursor == 0, "the output does not start like the input"
    cursor = len(pieces[0])
    for i in range(1, len(pieces), 2):
        marker, after = pieces[i], pieces[i + 1]
        end = original.find(after, cursor + 1) if after else len(original)
        if end < 0:
            end = len(original)
        spans.append((cursor, end, MARKER_OF[marker]))
        cursor = end + len(after)
    return spans


def score(scrubber: Callable[[str], str], corpus: list[tuple[str, list]]) -> dict[str, float]:
    caught: dict[str, list[bool]] = defaultdict(list)
    hits: dict[str, list[bool]] = defaultdict(list)
    for text, labels in corpus:
        spans = removed(text, scrubber(text))
        for start, end, kind in labels:
            caught[kind].append(
                all(any(s <= i < e for s, e, _ in spans) for i in range(start, end))
            )
        for s, e, marker in spans:
            hits[marker].append(any(s < le and ls < e for ls, le, _ in labels))
    out = {f"recall_{k}": sum(v) / len(v) for k, v in caught.items()}
    out |= {f"precision_{k}": sum(v) / len(v) for k, v in hits.items() if v}
    out |= {f"removals_{k}": len(v) for k, v in hits.items()}
    return out


def throughput(scrubber: Callable[[str], str], texts: list[str]) -> float:
    size = sum(len(t.encode()) for t in texts)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for t in texts:
            scrubber(t)
        best = min(best, time.perf_counter() - began)
    return size / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = [sample(rng) for _ in range(args.samples)]
    counts = defaultdict(int)
    for _, labels in corpus:
        for *_, kind in labels:
            counts[kind] += 1
    scrubbers: dict[str, Callable[[str], str]] = {"sentinel.capture": scrub}
    try:
        from sentinel_sdk.scrubber import scrub as published

        scrubbers["sentinel_sdk 1.0.0"] = published
    except ImportError:
        print("sentinel-python-sdk is not installed: `pip install sentinel-python-sdk==1.0.0`")
    results = {name: score(fn, corpus) for name, fn in scrubbers.items()}
    size = sum(len(t) for t, _ in corpus)
    print(f"corpus: {args.samples} samples, {size / 1e6:.2f} MB, entities {dict(counts)}")
    names = list(scrubbers)
    print(f"\n| entity | n | {' | '.join(f'recall {n}' for n in names)} | Presidio recall |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for kind in TYPES:
        presidio = PRESIDIO_RECALL.get(kind if kind in ("email", "card") else "ip", None)
        cells = " | ".join(f"{results[n].get(f'recall_{kind}', 0):.3f}" for n in names)
        ref = f"{presidio:.3f}" if presidio is not None and kind != "token" else "—"
        if kind in ("token", "secret"):
            ref = "—"
        print(f"| {kind} | {counts[kind]} | {cells} | {ref} |")
    print(f"\n| marker | {' | '.join(f'precision {n} (removals)' for n in names)} |")
    print("|---|" + "---|" * len(names))
    for marker in ("email", "card", "ip", "token", "secret"):
        cells = " | ".join(
            f"{results[n].get(f'precision_{marker}', float('nan')):.3f} "
            f"({results[n].get(f'removals_{marker}', 0)})"
            for n in names
        )
        print(f"| {marker} | {cells} |")
    texts = [t for t, _ in corpus]
    speed = {n: throughput(fn, texts) for n, fn in scrubbers.items()}
    print("\n| scrubber | MB/s | ratio |")
    print("|---|---|---|")
    base = speed[names[-1]]
    for n in names:
        print(f"| {n} | {speed[n]:.1f} | {speed[n] / base:.2f} |")


if __name__ == "__main__":
    main()
