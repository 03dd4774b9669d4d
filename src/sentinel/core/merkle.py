"""RFC 6962 Merkle tree hashing, the proof that a batch of ledger entries was not rewritten.

Leaves and interior nodes are hashed with different one-byte prefixes (0x00 and 0x01) so
that an interior node can never be passed off as a leaf (the second-preimage trick).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256 of a leaf with the leaf prefix."""
    return sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256 of two child hashes with the interior-node prefix."""
    return sha256(_NODE + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves``; the empty tree hashes to SHA-256 of nothing.

    Built bottom-up, pairing neighbours and carrying an odd last node up a level, which
    yields the same tree as RFC 6962's split at the largest power of two below n.
    """
    if not leaves:
        return sha256().digest()
    level = [sha256(_LEAF + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        paired = [
            sha256(_NODE + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of RFC 6962 section 2.1.1 proving ``leaves[index]`` is in the tree."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    proof: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(merkle_root(leaves[lo : lo + k]))
            lo += k
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, n: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows ``leaf`` at ``index`` in a tree of ``n`` leaves with ``root``.

    The algorithm of RFC 9162 section 2.1.3.2, which rejects proofs of the wrong length.
    """
    if not 0 <= index < n:
        return False
    fn, sn = index, n - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
