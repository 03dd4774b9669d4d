"""Grouping: frames parsed from Python (chains, groups) and JVM traces, fingerprints that
ignore what changes between deploys and requests, and frame paths inside the repository."""

from __future__ import annotations

import pytest

from sentinel.capture.grouping import (
    Frame,
    culprit,
    fingerprint,
    github_url,
    parse_frames,
    repo_path,
)

CHAINED = """Traceback (most recent call last):
  File "/app/shop/db.py", line 10, in connect
    sock.connect(addr)
ConnectionRefusedError: [Errno 111] Connection refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/shop/api.py", line {line}, in get_order
    conn = connect()
  File "/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py", line 3, in execute
    return self._execute()
RuntimeError: database away at 0x7f3a2b1c
"""
GROUP = """  + Exception Group Traceback (most recent call last):
  |   File "/srv/shop/validate.py", line 8, in check
  |     raise ExceptionGroup("invalid", errors)
  | ExceptionGroup: invalid (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/srv/shop/validate.py", line 4, in field
    | ValueError: bad email
    +------------------------------------
"""
JAVA = """java.lang.IllegalStateException: order 42 missing
\tat com.acme.shop.OrderService.find(OrderService.java:87)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)
\tat java.base/java.lang.Thread.run(Thread.java:833)
"""


def test_python_frames_of_chains_and_groups() -> None:
    frames = parse_frames(CHAINED.format(line=5))
    assert [(f.path, f.line, f.function, f.in_app) for f in frames] == [
        ("/app/shop/db.py", 10, "connect", True),
        ("/app/shop/api.py", 5, "get_order", True),
        ("/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py", 3, "execute", False),
    ]
    assert culprit(frames) == "shop/api.py in get_order"
    assert [(f.path, f.function) for f in parse_frames(GROUP)] == [
        ("/srv/shop/validate.py", "check"),
        ("/srv/shop/validate.py", "field"),
    ]


def test_jvm_frames() -> None:
    frames = parse_frames(JAVA)
    assert [(f.function, f.line, f.in_app) for f in frames] == [
        ("com.acme.shop.OrderService.find", 87, True),
        ("org.springframework.web.servlet.FrameworkServlet.service", 897, False),
        ("java.base/java.lang.Thread.run", 833, False),
    ]
    assert github_url("acme/shop", frames[0]) is None  # a JVM trace names no directory


def test_fingerprints_ignore_lines_values_and_roots_but_not_type_code_or_repo() -> None:
    one = parse_frames(CHAINED.format(line=5))
    moved = parse_frames(CHAINED.format(line=99).replace("/app/", "/home/ci/build/"))
    key = fingerprint("acme/shop", "RuntimeError", "database away at 0x1", one)
    assert key == fingerprint("ACME/shop", "RuntimeError", "other message", moved)
    assert key != fingerprint("acme/shop", "ValueError", "", one)
    assert key != fingerprint("acme/billing", "RuntimeError", "", one)
    assert key != fingerprint("acme/shop", "RuntimeError", "", one[1:])
    # No frames at all: the message decides, without its values.
    bare = fingerprint("acme/shop", "Timeout", "call to 'svc-17' took 3012 ms", [])
    assert bare == fingerprint("acme/shop", "Timeout", "call to 'svc-9' took 88 ms", [])
    assert bare != fingerprint("acme/shop", "Timeout", "queue full", [])


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/home/dev/src/shop/app/api.py", "app/api.py"),
        ("/app/api/orders.py", "api/orders.py"),
        ("/usr/src/app/orders.py", "orders.py"),
        ("orders/api.py", "orders/api.py"),
        ("/home/dev/project/x.py", None),
        ("<stdin>", None),
    ],
)
def test_paths_inside_the_repository(path: str, inside: str | None) -> None:
    assert repo_path(path, "acme/shop") == inside


def test_github_links_only_for_application_frames() -> None:
    app = Frame("/srv/shop/api.py", 12, "get", True)
    assert github_url("acme/shop", app) == "https://github.com/acme/shop/blob/HEAD/api.py#L12"
    assert github_url("acme/shop", Frame("/srv/shop/api.py", 12, "get", False)) is None
