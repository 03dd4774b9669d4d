"""AES-128 encryption in NumPy, vectorised over many blocks: the AES probe's host reference.

The state is the FIPS-197 byte order (``state[r + 4c]``), which is also the order the CUDA
kernel uses, so the 32-bit words of both line up for fault masks and comparisons.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FIPS197_KEY = bytes(range(16))
"""FIPS-197 Appendix C.1 known answer: key 000102..0f."""
FIPS197_PLAINTEXT = bytes.fromhex("00112233445566778899aabbccddeeff")
FIPS197_CIPHERTEXT = bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")

TAMPER_ROUND = 5
"""Round after which injected faults hit the state, so they diffuse as a real fault would."""


def _sbox() -> np.ndarray:
    """The S-box from its definition (inverse in GF(2^8), then the affine map)."""
    exp = [1] * 255
    for i in range(1, 255):
        x = exp[i - 1]
        exp[i] = x ^ ((x << 1) ^ (0x11B if x & 0x80 else 0)) & 0xFF  # multiply by 3
    log = {v: i for i, v in enumerate(exp)}
    box = np.zeros(256, np.uint8)
    for x in range(256):
        inv = 0 if x == 0 else exp[(255 - log[x]) % 255]
        s = inv
        for shift in range(1, 5):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        box[x] = s ^ 0x63
    return box


SBOX = _sbox()
XTIME = np.array([((x << 1) ^ (0x1B if x & 0x80 else 0)) & 0xFF for x in range(256)], np.uint8)
SHIFT_ROWS = np.array([(r + 4 * ((c + r) % 4)) for c in range(4) for r in range(4)])
_RCON = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36)


def expand_key(key: bytes) -> np.ndarray:
    """The 11 round keys of an AES-128 key, shape (11, 16)."""
    words = [list(key[i : i + 4]) for i in range(0, 16, 4)]
    for i in range(4, 44):
        temp = list(words[i - 1])
        if i % 4 == 0:
            temp = [int(SBOX[b]) for b in temp[1:] + temp[:1]]
            temp[0] ^= _RCON[i // 4 - 1]
        words.append([a ^ b for a, b in zip(words[i - 4], temp, strict=True)])
    return np.array(words, np.uint8).reshape(11, 16)


def _mix_columns(state: np.ndarray) -> np.ndarray:
    cols = state.reshape(-1, 4, 4)
    a0, a1, a2, a3 = (cols[:, :, i] for i in range(4))
    x0, x1, x2, x3 = (XTIME[a] for a in (a0, a1, a2, a3))
    out = np.stack(
        (
            x0 ^ x1 ^ a1 ^ a2 ^ a3,
            a0 ^ x1 ^ x2 ^ a2 ^ a3,
            a0 ^ a1 ^ x2 ^ x3 ^ a3,
            x0 ^ a0 ^ a1 ^ a2 ^ x3,
        ),
        axis=2,
    )
    return out.reshape(-1, 16)


def encrypt(
    blocks: np.ndarray,
    round_keys: np.ndarray,
    tamper: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Encrypt ``blocks`` (N, 16) uint8; ``tamper`` may corrupt the state after round 5."""
    state = blocks ^ round_keys[0]
    for rnd in range(1, 11):
        state = SBOX[state][:, SHIFT_ROWS]
        if rnd < 10:
            state = _mix_columns(state)
        state = state ^ round_keys[rnd]
        if tamper is not None and rnd == TAMPER_ROUND:
            state = tamper(state)
    return state
