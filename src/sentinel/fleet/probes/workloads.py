"""The seven probe workloads in NumPy, one replica per SM, and the inputs shared with the GPU.

Each function computes the result words of the SMs in ``sms`` (one row each) and lets the
``Corruption`` hit them where the hardware unit would: the FMA, tensor, register and
transcendental results, the AES state mid-cipher, every read of a memory or shared-memory cell.
The GPU kernels (``kernels/probes.cu``) take the same inputs, so the host can also serve as
their reference where the result is exactly defined (AES, register patterns, march tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sentinel.fleet.probes import aes
from sentinel.fleet.probes.faults import Corruption

LANES = 64
"""Independent FMA chains per SM (two warps)."""
WARP = 32
TMR_STEPS = 256
"""FMA steps of the TMR workload, from inputs seeded by the caller."""
ALL_ONES = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True)
class FmaInputs:
    """Per-lane start values and coefficients of ``x = x * a + b``."""

    x0: np.ndarray
    a: np.ndarray
    b: np.ndarray


def fma_inputs(seed: int) -> FmaInputs:
    """Lanes spanning both signs and exponents 2^-100..2^100, so every result bit is 0 somewhere.

    ``b = x0 * (1 - a)`` keeps each chain near its start, so it never overflows or goes subnormal
    (subnormals would be flushed on some GPUs and not on others).
    """
    rng = np.random.default_rng(seed)
    exponents = np.linspace(-100, 100, LANES).round()
    signs = np.where(np.arange(LANES) % 2 == 0, 1.0, -1.0)
    x0 = (signs * (1 + rng.random(LANES)) * 2.0**exponents).astype(np.float32)
    a = (1 - 2.0**-10 * (1 + rng.random(LANES))).astype(np.float32)
    b = (x0.astype(np.float64) * (1 - a.astype(np.float64))).astype(np.float32)
    return FmaInputs(x0, a, b)


def fma(sms: np.ndarray, iters: int, inputs: FmaInputs, corruption: Corruption) -> np.ndarray:
    """Dependent multiply-add chains (the CPU rounds twice per step; the GPU uses fused FMA)."""
    x = np.tile(inputs.x0, (len(sms), 1))
    for _ in range(iters):
        np.multiply(x, inputs.a, out=x)
        np.add(x, inputs.b, out=x)
    return corruption.apply(x.view(np.uint32), sms)


def tensor_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (16x16) and B (16x8) fp16 with exact products; C0 (16x8) fp32 of both signs, wide range.

    Multiples of 1/16 below 1 make every product and every 16-term dot product exact in fp32,
    so the replicas agree bit for bit whatever order the hardware sums in.
    """
    rng = np.random.default_rng(2)
    a = (rng.integers(-15, 16, (16, 16)) / 16).astype(np.float16)
    b = (rng.integers(-15, 16, (16, 8)) / 16).astype(np.float16)
    signs = np.where(rng.random((16, 8)) < 0.5, -1.0, 1.0)
    c0 = (signs * (1 + rng.random((16, 8))) * 2.0 ** rng.integers(-20, 21, (16, 8))).astype(
        np.float32
    )
    return a, b, c0


def tensor(sms: np.ndarray, iters: int, corruption: Corruption) -> np.ndarray:
    """``D = A @ B + D`` repeated: the fp16-in, fp32-accumulate tile of one tensor-core MMA."""
    a16, b16, c0 = tensor_inputs()
    a = np.broadcast_to(a16.astype(np.float32), (len(sms), 16, 16))
    b = b16.astype(np.float32)
    d = np.tile(c0, (len(sms), 1, 1))
    for _ in range(iters):
        d += np.matmul(a, b)
    return corruption.apply(d.reshape(len(sms), -1).view(np.uint32), sms)


ULP_BOUNDS = {"sin": 2.0, "cos": 2.0, "exp": 2.0, "log": 1.0}
"""Maximum error in ULP of CUDA's sinf, cosf, expf, logf (CUDA C Programming Guide)."""


def transcendental_inputs(n: int) -> dict[str, np.ndarray]:
    """``n`` float32 arguments per function, over ranges where the ULP bounds hold."""
    jitter = np.random.default_rng(3).random(n) * 1e-3
    return {
        "sin": (np.linspace(-8 * np.pi, 8 * np.pi, n) + jitter).astype(np.float32),
        "cos": (np.linspace(-8 * np.pi, 8 * np.pi, n) - jitter).astype(np.float32),
        "exp": (np.linspace(-80, 80, n) + jitter).astype(np.float32),
        "log": (np.geomspace(1e-30, 1e30, n) * (1 + jitter)).astype(np.float32),
    }


def transcendental(sms: np.ndarray, n: int, corruption: Corruption) -> np.ndarray:
    """sin, cos, exp, log of the fixed arguments, concatenated as float32 bits.

    The model unit rounds float64 results to float32 (within 0.5 ULP and then some), since
    NumPy's own float32 functions may exceed CUDA's 1 ULP bound on logf.
    """
    args = transcendental_inputs(n)
    out = np.concatenate(
        [
            getattr(np, name)(np.tile(x, (len(sms), 1)).astype(np.float64)).astype(np.float32)
            for name, x in args.items()
        ],
        axis=1,
    )
    return corruption.apply(out.view(np.uint32), sms, sfu=True)


def ulp_errors(words: np.ndarray, n: int) -> dict[str, float]:
    """Worst error in float32 ULP of each function's results against a float64 reference."""
    with np.errstate(invalid="ignore"):  # a fault may have made a signalling NaN
        results = words.view(np.float32).astype(np.float64)
    errors = {}
    for i, (name, x) in enumerate(transcendental_inputs(n).items()):
        reference = getattr(np, name)(x.astype(np.float64))
        ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
        got = results[i * n : (i + 1) * n]
        errors[name] = float(np.nan_to_num(np.abs(got - reference) / ulp, nan=np.inf).max())
    return errors


AES_ROUND_KEYS = aes.expand_key(aes.FIPS197_KEY)


def aes_plaintexts(n: int) -> np.ndarray:
    """``n`` blocks (N, 16): the FIPS-197 C.1 plaintext first, then fixed pseudo-random ones."""
    rest = np.random.default_rng(4).integers(0, 256, (n - 1, 16), dtype=np.uint8)
    return np.vstack([np.frombuffer(aes.FIPS197_PLAINTEXT, np.uint8), rest])


def aes_encrypt(sms: np.ndarray, n: int, corruption: Corruption) -> np.ndarray:
    """Every SM encrypts the same ``n`` blocks under the FIPS-197 key; words per SM."""
    blocks = np.tile(aes_plaintexts(n), (len(sms), 1))

    def tamper(state: np.ndarray) -> np.ndarray:
        words = state.reshape(len(sms), -1).view(np.uint32)
        return corruption.apply(words, sms).view(np.uint8).reshape(-1, 16)

    out = aes.encrypt(blocks, AES_ROUND_KEYS, tamper if corruption.active else None)
    return out.reshape(len(sms), -1).view(np.uint32)


REGISTER_PATTERNS = np.array(
    [0x00000000, 0xFFFFFFFF, 0xAAAAAAAA, 0x55555555, 0x33333333, 0xCCCCCCCC, 0x0F0F0F0F, 0xF0F0F0F0]
    + [1 << i for i in range(32)]
    + [0xFFFFFFFF ^ (1 << i) for i in range(32)],
    np.uint32,
)
"""Solid, checkerboard and walking-one/zero words: every bit holds 0 and 1 in some register."""


def register_expected() -> np.ndarray:
    """Thread ``t`` of a warp holds pattern ``(r + t) % 72`` in register ``r``."""
    n = len(REGISTER_PATTERNS)
    index = (np.arange(n)[None, :] + np.arange(WARP)[:, None]) % n
    return REGISTER_PATTERNS[index].reshape(-1)


def registers(sms: np.ndarray, iters: int, corruption: Corruption) -> np.ndarray:
    """The patterns held while being inverted twice per iteration, then read out."""
    regs = np.tile(register_expected(), (len(sms), 1))
    for _ in range(iters):
        np.invert(regs, out=regs)
        np.invert(regs, out=regs)
    return corruption.apply(regs, sms)


def march(
    cells: np.ndarray, sms: np.ndarray, steps: list[tuple[str, int]], corruption: Corruption
) -> np.ndarray:
    """Run a march test over ``cells`` (one row per SM) in place: ``("w", v)`` writes ``v``,
    ``("r", v)`` reads every cell through the SM's faults and expects ``v``.

    Returns (rows, 2) words: misread cells and the OR of the wrong bits, both 0 when healthy.
    Whole rows are written and read at once, so the CPU model cannot show address-order coupling
    faults; the GPU kernels walk the addresses in the test's order.
    """
    bad = np.zeros(len(sms), np.uint32)
    bits = np.zeros(len(sms), np.uint32)
    for op, value in steps:
        if op == "w":
            cells[:] = value
            continue
        diff = corruption.apply(cells, sms) ^ np.uint32(value)
        bad += np.count_nonzero(diff, axis=1).astype(np.uint32)
        bits |= np.bitwise_or.reduce(diff, axis=1)
    return np.stack([bad, bits], axis=1)


def mats_plus(walking: bool) -> list[tuple[str, int]]:
    """MATS+ (w0; up r0,w1; down r1,w0), then walking ones if asked."""
    steps = [("w", 0), ("r", 0), ("w", 0xFFFFFFFF), ("r", 0xFFFFFFFF), ("w", 0)]
    if walking:
        for bit in range(32):
            steps += [("w", 1 << bit), ("r", 1 << bit)]
    return steps


def march_c_minus(backgrounds: int) -> list[tuple[str, int]]:
    """March C- (w0; up r0,w1; up r1,w0; down r0,w1; down r1,w0; r0) per data background."""
    steps: list[tuple[str, int]] = []
    for zero in (0x00000000, 0x55555555)[:backgrounds]:
        one = zero ^ 0xFFFFFFFF
        steps += [("w", zero), ("r", zero), ("w", one), ("r", one), ("w", zero)]
        steps += [("r", zero), ("w", one), ("r", one), ("w", zero), ("r", zero)]
    return steps
