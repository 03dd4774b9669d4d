"""Which issue an event belongs to: its exception type and its normalised in-app frames.

Two events are one issue when they raise the same type through the same code: the
files and functions of the frames that belong to the application (not the standard
library, not installed packages), without line numbers, ids, addresses or values, which
change with every deploy or request. Events without any frame (another language's SDK
that sends none) group by their type and their message with the values taken out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_PYTHON = re.compile(
    r'File "(?P<path>[^"\n]{1,1024})", line (?P<line>\d{1,9})(?:, in (?P<fn>.{1,512}))?'
)
_JAVA = re.compile(
    r"at (?P<fn>[\w$.<>/]{1,512})\((?P<path>[^():\n]{0,512})(?::(?P<line>\d{1,9}))?\)"
)
_LIBRARY = re.compile(
    r"site-packages|dist-packages|/lib/python\d|/lib64/python\d|\\lib\\|/usr/lib/|^<frozen |^<"
)
_JAVA_LIBRARY = re.compile(r"^(?:java|javax|jdk|sun|com\.sun|kotlin|scala|org\.springframework)\.")
_VOLATILE = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|\d+")
_VALUES = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|\[[A-Z_]+\]")
_ROOTS = ("app", "src", "code", "workspace", "srv", "opt", "usr", "var", "www")


@dataclass(frozen=True)
class Frame:
    """One frame of a stack trace as the gateway understands it."""

    path: str
    line: int | None
    function: str
    in_app: bool


def parse_frames(trace: str) -> list[Frame]:
    """The frames of a Python (or Java) stack trace, outermost first, in its order."""
    frames = []
    for raw in trace.splitlines():
        line = raw.lstrip(" \t|+-")
        if line.startswith("File "):
            m = _PYTHON.match(line)
            if m:
                path = m.group("path")
                frames.append(
                    Frame(
                        path,
                        int(m.group("line")),
                        (m.group("fn") or "").strip(),
                        not _LIBRARY.search(path),
                    )
                )
        elif line.startswith("at "):
            m = _JAVA.match(line)
            if m:
                fn = m.group("fn")
                frames.append(
                    Frame(
                        m.group("path"),
                        int(m.group("line")) if m.group("line") else None,
                        fn,
                        not _JAVA_LIBRARY.match(fn),
                    )
                )
    return frames


def _stable(text: str) -> str:
    return _VOLATILE.sub("#", text)


def _short(path: str) -> str:
    """The last two parts of ``path``: the same file deployed under different roots."""
    return "/".join(PurePosixPath(path.replace("\\", "/")).parts[-2:])


def fingerprint(repo: str, exception_type: str, message: str, frames: list[Frame]) -> str:
    """The issue key of an event: hex SHA-256 of repository, type and normalised frames."""
    chosen = [f for f in frames if f.in_app] or frames
    if chosen:
        body = "\n".join(f"{_stable(_short(f.path))}:{_stable(f.function)}" for f in chosen)
    else:
        body = _stable(_VALUES.sub("?", message.split("\n", 1)[0][:500]))
    key = f"{repo.lower()}\n{exception_type}\n{body}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def culprit(frames: list[Frame]) -> str:
    """Where it happened: the innermost in-app frame (else the innermost), ``file in fn``."""
    chosen = [f for f in frames if f.in_app] or frames
    if not chosen:
        return ""
    f = chosen[-1]
    return f"{_short(f.path)} in {f.function}" if f.function else _short(f.path)


def repo_path(path: str, repo: str) -> str | None:
    """The path of ``path`` inside the GitHub repository ``repo``, where it can be told.

    After the directory named like the repository (a checkout), or after a container's
    usual root (``/app``, ``/srv/app``...); relative paths are taken as they are.
    """
    if not path or path.startswith("<") or path.endswith((".java", ".kt", ".scala")):
        return None  # JVM traces name the file only, not where it is
    parts = PurePosixPath(path.replace("\\", "/")).parts
    name = repo.rsplit("/", 1)[-1].lower()
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() == name:
            return "/".join(parts[i + 1 :])
    if not path.startswith("/"):
        return "/".join(parts)
    rest = list(parts[1:])
    while len(rest) > 1 and rest[0] in _ROOTS:
        rest.pop(0)
    return "/".join(rest) if len(rest) < len(parts) - 1 else None


def github_url(repo: str, frame: Frame) -> str | None:
    """A link to the frame's line on GitHub (default branch), or ``None`` for library code."""
    if not frame.in_app:
        return None
    inside = repo_path(frame.path, repo)
    if inside is None:
        return None
    anchor = f"#L{frame.line}" if frame.line else ""
    return f"https://github.com/{repo}/blob/HEAD/{inside}{anchor}"
