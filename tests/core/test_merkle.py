"""RFC 6962 Merkle hashing checked against the Certificate Transparency test vectors."""

from __future__ import annotations

from hashlib import sha256

import pytest

from sentinel.core.merkle import inclusion_proof, leaf_hash, merkle_root, verify_inclusion

# The eight leaves and the roots of their prefixes from Certificate Transparency's
# merkle_tree_test (RFC 6962 reference implementation).
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PROOFS = [
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]  # fmt: skip


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert merkle_root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_match_ct_vectors(n: int) -> None:
    assert merkle_root(LEAVES[:n]).hex() == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "n", "expected"), PROOFS)
def test_inclusion_proofs_match_ct_vectors(index: int, n: int, expected: list[str]) -> None:
    proof = inclusion_proof(LEAVES[:n], index)
    assert [p.hex() for p in proof] == expected
    assert verify_inclusion(LEAVES[index], index, n, proof, bytes.fromhex(ROOTS[n - 1]))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 17, 100])
def test_every_proof_verifies_and_rejects_tampering(n: int) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, i)
        assert verify_inclusion(leaf, i, n, proof, root)
        assert not verify_inclusion(leaf + b"!", i, n, proof, root)
        assert not verify_inclusion(leaf, i, n, [*proof, root], root)
    assert not verify_inclusion(leaves[0], n, n, [], root)


def test_inclusion_proof_rejects_index_outside_tree() -> None:
    with pytest.raises(IndexError, match="outside a tree of 2 leaves"):
        inclusion_proof([b"a", b"b"], 2)


def test_domain_separation_defeats_second_preimage() -> None:
    a, b = b"left", b"right"
    forged_leaf = leaf_hash(a) + leaf_hash(b)
    assert merkle_root([a, b]) != merkle_root([forged_leaf])
    # Without the prefixes the same forgery collides: that is what the prefixes prevent.
    naive_pair = sha256(sha256(a).digest() + sha256(b).digest()).digest()
    naive_forged_leaf = sha256(a).digest() + sha256(b).digest()
    assert sha256(naive_forged_leaf).digest() == naive_pair
