"""Signed checkpoints of the audit ledger, kept outside its database.

A hash chain alone cannot show that its tail was cut off, or that someone holding the
database rewrote it from entry k and recomputed every hash after. A checkpoint closes
both holes: an Ed25519 signature over the ledger's size and the hash of its newest
entry, published to a place the database's holder does not control (a directory, or
S3). Verification then checks the chain against every checkpoint: a ledger shorter
than a checkpoint was truncated, a ledger whose entry at a checkpoint's size hashes
differently was rewritten, and a checkpoint whose signature fails was forged.

Checkpoints are C2SP signed notes (https://c2sp.org/signed-note) whose body follows the
tlog-checkpoint layout (https://c2sp.org/tlog-checkpoint), as Certificate Transparency
logs and Sigstore's Rekor publish them::

    <origin>
    <size>
    <base64 of the entry_hash of entry <size>>

    — <key name> <base64 of 4-byte key id || 64-byte signature>

The chain head stands where those logs put a Merkle tree root: it commits to every entry
before it just as well, and the server knows it without re-reading the ledger.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "DirectoryStore",
    "Publisher",
    "S3Store",
    "SigningKey",
    "Verifier",
    "open_store",
]

log = logging.getLogger("sentinel.core.checkpoints")

_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "
PUBLIC_KEY_NAME = "ledger-signing.pub"
"""The file (or object) next to the checkpoints that holds the verifier key."""
_NOTE_PREFIX = "checkpoint-"


class CheckpointError(Exception):
    """A checkpoint that cannot be read, does not verify, or a key that cannot be used."""

    def __init__(self, message: str, size: int = 0) -> None:
        super().__init__(message)
        self.size = size
        """The ledger size the checkpoint claims, when it could be read; else 0."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the ledger named ``origin`` had ``size`` entries, the last of
    which had entry hash ``root_hash``."""

    origin: str
    size: int
    root_hash: bytes
    name: str = ""
    """Where it was read from (file or object name), for messages."""

    def body(self) -> str:
        """The signed text."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @property
    def label(self) -> str:
        """How messages name this checkpoint."""
        return f"checkpoint {self.name or self.size} (size {self.size})"


def _key_id(name: str, public: bytes) -> bytes:
    """The signed-note key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key)."""
    return sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise CheckpointError(f"key name {name!r} must be non-empty, without spaces or '+'")


class Verifier:
    """Checks checkpoints signed by one Ed25519 key."""

    def __init__(self, name: str, public: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self._public = public
        self._raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = _key_id(name, self._raw)

    def text(self) -> str:
        """The verifier key in signed-note form: ``name+hex key id+base64(0x01 || key)``."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(_ED25519 + self._raw).decode()}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """A verifier from :meth:`text`'s form."""
        try:
            name, key_id, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
            if raw[:1] != _ED25519 or len(raw) != 33:
                raise ValueError("not an Ed25519 key")
            verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(
                f"malformed verifier key {text.strip()[:80]!r}: expected name+keyid+base64 ({exc})"
            ) from exc
        if verifier.key_id.hex() != key_id:
            raise CheckpointError(f"verifier key {name!r}: its key id does not match the key")
        return verifier

    def open(self, note: str, name: str = "") -> Checkpoint:
        """The checkpoint in ``note`` once its signature by this key verifies.

        Raises:
            CheckpointError: a malformed note, or no valid signature by this key.
        """
        where = name or "checkpoint"
        body, sep, signatures = note.partition("\n\n")
        if not sep:
            raise CheckpointError(f"{where}: not a signed note (no blank line before signatures)")
        body += "\n"
        lines = body.split("\n")
        try:
            origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
        except (IndexError, ValueError) as exc:
            raise CheckpointError(f"{where}: malformed checkpoint body ({exc})") from exc
        if not origin or size < 1 or len(root) != 32:
            raise CheckpointError(f"{where}: malformed checkpoint body")
        checkpoint = Checkpoint(origin, size, root, name)
        if checkpoint.body() != body:
            raise CheckpointError(f"{where}: checkpoint body is not in canonical form")
        for line in signatures.splitlines():
            if not line.startswith(_SIG_PREFIX):
                continue
            key_name, _, encoded = line[len(_SIG_PREFIX) :].rpartition(" ")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError:
                continue
            if key_name != self.name or raw[:4] != self.key_id:
                continue
            try:
                self._public.verify(raw[4:], body.encode())
            except InvalidSignature:
                break
            return checkpoint
        raise CheckpointError(
            f"{checkpoint.label}: the signature does not verify with key {self.name} "
            f"({self.key_id.hex()}): the checkpoint was forged or altered",
            size,
        )


class SigningKey:
    """The Ed25519 key that signs checkpoints; it lives in a file, never in the database."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._private = private
        self.verifier = Verifier(name, private.public_key())

    @classmethod
    def load_or_create(cls, path: Path, name: str = "sentinel-ledger") -> SigningKey:
        """The key in ``path`` (PEM, PKCS #8), created there (mode 0600) when missing.

        Creation uses O_EXCL and O_NOFOLLOW, so a file or symlink planted at ``path``
        is never written through, and two processes cannot both create it.
        """
        try:
            return cls(name, _read_key(path))
        except FileNotFoundError:
            pass
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:  # another process created it first
            return cls(name, _read_key(path))
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        log.info("created the ledger signing key %s", path)
        return cls(name, key)

    def sign(self, checkpoint: Checkpoint) -> str:
        """``checkpoint`` as a signed note."""
        body = checkpoint.body()
        signature = self.verifier.key_id + self._private.sign(body.encode())
        return f"{body}\n{_SIG_PREFIX}{self.name} {base64.b64encode(signature).decode()}\n"


def _read_key(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} holds a {type(key).__name__}; an Ed25519 key is needed")
    return key


def note_name(size: int) -> str:
    """The file or object name of the checkpoint at ``size``: sorts by size."""
    return f"{_NOTE_PREFIX}{size:020d}"


class CheckpointStore(Protocol):
    """Where checkpoints are published: named text documents."""

    def put(self, name: str, text: str) -> None:
        """Write (or replace) the document ``name``."""

    def get(self, name: str) -> str | None:
        """The document ``name``, or None."""

    def checkpoints(self) -> list[tuple[str, str]]:
        """Every checkpoint note as (name, text), in size order."""


class DirectoryStore:
    """Checkpoints as files in a directory; each write is atomic (temporary file, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def put(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.path / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, self.path / name)

    def get(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def checkpoints(self) -> list[tuple[str, str]]:
        if not self.path.is_dir():
            return []
        return [
            (p.name, p.read_text(encoding="utf-8"))
            for p in sorted(self.path.glob(f"{_NOTE_PREFIX}*"))
        ]


class S3Store:
    """Checkpoints as objects under ``s3://bucket/prefix`` (boto3; any S3-compatible store).

    Args:
        url: ``s3://bucket`` or ``s3://bucket/prefix``.
        client: a boto3 S3 client; by default one from the environment's configuration
            (``AWS_*`` variables, ``AWS_ENDPOINT_URL_S3`` for a compatible store).
    """

    def __init__(self, url: str, client: Any = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise CheckpointError(f"{url!r} names no bucket; use s3://bucket/prefix")
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            try:
                import boto3
            except ImportError as exc:
                raise ImportError("S3 checkpoints need boto3: pip install 'sentinel[s3]'") from exc
            client = boto3.client("s3")
        self._s3 = client

    def __str__(self) -> str:
        return self.url

    def put(self, name: str, text: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=text.encode())

    def get(self, name: str) -> str | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
        except self._s3.exceptions.NoSuchKey:
            return None
        return str(body.read().decode("utf-8"))

    def checkpoints(self) -> list[tuple[str, str]]:
        keys: list[str] = []
        pages = self._s3.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix + _NOTE_PREFIX):
            keys += [item["Key"] for item in page.get("Contents", ())]
        out = []
        for key in sorted(keys):
            name = key[len(self.prefix) :]
            text = self.get(name)
            if text is not None:
                out.append((name, text))
        return out


def open_store(location: str | Path) -> DirectoryStore | S3Store:
    """The store at ``location``: ``s3://bucket/prefix``, or a directory path."""
    if str(location).startswith("s3://"):
        return S3Store(str(location))
    return DirectoryStore(Path(location))


def load_checkpoints(
    store: CheckpointStore,
    verifier: Verifier,
    verified: dict[tuple[str, str], Checkpoint] | None = None,
) -> tuple[list[Checkpoint], list[CheckpointError]]:
    """Every checkpoint in ``store`` whose signature verifies, and a problem for each other.

    ``verified`` caches notes already checked (by name and exact text), so a server that
    verifies often checks each signature once.
    """
    good: list[Checkpoint] = []
    bad: list[CheckpointError] = []
    cache = {} if verified is None else verified
    for name, text in store.checkpoints():
        known = cache.get((name, text))
        if known is not None:
            good.append(known)
            continue
        try:
            checkpoint = cache[name, text] = verifier.open(text, name)
        except CheckpointError as exc:
            bad.append(exc)
            continue
        good.append(checkpoint)
    return good, bad


class Publisher:
    """Signs the ledger's head and publishes it, every ``every_entries`` new entries or
    ``every_seconds`` (when anything changed), and once more at :meth:`stop`.

    Args:
        head: returns the committed (size, entry hash) of the ledger.
        key: the signing key.
        store: where checkpoints go.
        origin: the ledger's name in every checkpoint.
        published: the size of the newest checkpoint already in ``store``.
    """

    def __init__(
        self,
        head: Callable[[], tuple[int, bytes]],
        key: SigningKey,
        store: CheckpointStore,
        origin: str,
        *,
        every_entries: int = 1_000_000,
        every_seconds: float = 60.0,
        published: int = 0,
    ) -> None:
        if every_entries < 1 or every_seconds <= 0:
            raise ValueError("checkpoint cadence must be at least 1 entry and above 0 seconds")
        self._head = head
        self._key = key
        self._store = store
        self._origin = origin
        self._every_entries = every_entries
        self._every_seconds = every_seconds
        self.published = published
        self.failures = 0
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if store.get(PUBLIC_KEY_NAME) is None:
            store.put(PUBLIC_KEY_NAME, key.verifier.text() + "\n")

    def start(self) -> None:
        """Publish in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="sentinel-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and publish the final head."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.publish()

    def publish(self) -> Checkpoint | None:
        """Sign and store the current head if it grew since the last checkpoint."""
        size, root = self._head()
        self._last = time.monotonic()
        if size <= self.published:
            return None
        checkpoint = Checkpoint(self._origin, size, root, note_name(size))
        try:
            self._store.put(note_name(size), self._key.sign(checkpoint))
        except Exception:  # an unreachable store must not stop the server; retried next time
            self.failures += 1
            log.exception("could not publish %s to %s", checkpoint.label, self._store)
            return None
        self.published = size
        return checkpoint

    def _run(self) -> None:
        poll = min(1.0, self._every_seconds)
        while not self._stop.wait(poll):
            size, _ = self._head()
            due = time.monotonic() - self._last >= self._every_seconds
            if size - self.published >= self._every_entries or (due and size > self.published):
                self.publish()


def newest(checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The checkpoint with the largest size, or None."""
    return max(checkpoints, key=lambda c: c.size, default=None)
