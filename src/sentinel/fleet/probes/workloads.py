"""The seven probe workloads in NumPy, one replica per SM, and the inputs shared with the GPU.

Each function computes the result words of the SMs in ``sms`` (one row each) and lets the
``Corruption`` hit them where the hardware unit would: every step of the FMA and tensor chains,
every register access, every transcendental result, the AES state mid-cipher, every read of a
memory or shared-memory cell. The GPU kernels (``kernels/probes.cu``) take the same inputs, so
the host can also serve as their reference where the result is exactly defined (AES, register
patterns, march tests).

Inputs take a ``seed``: both backends draw new operands for every run, so a fault that only
some operand bit patterns trigger meets a fresh sample of the bit space each period; seed 0 is
the fixed set of a backend that does not reseed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sentinel.fleet.probes import aes
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes.faults import WARP, Corruption, LiveFault

LANES = 1024
"""Independent FMA chains per block (32 warps, the most a block holds). Each chain sits at its
fixed point, so its operand never changes: operand variety comes from lanes (and new operands
each run), while a fault that only some operands trigger meets them once per step."""
FMA_STEPS = ((1 << 16) - 1, (1 << 18) - 1)
"""Steps per chain (normal, deep). Odd, so a bit flipped at every step of a settled chain,
which toggles it, shows at the end. 65,535 steps: a fault that one operand in 256 triggers and
that hits one such operation in 100,000 then fails about six runs in seven (at 4,095 it was
about one in seven, too rare to be quarantined within 10 periods); 67 million FMAs per SM are
under a millisecond of an H100 SM at its 128 a clock."""
REGISTER_ITERS = (1 << 15, 1 << 16)
"""Register-file probe iterations (normal, deep), two writes of every register each: a fault
that hits one write of a register in a million meets 2 million such writes a run."""
TRANSCENDENTAL_N = (16384, 65536)
"""Arguments per function of the transcendental probe (normal, deep)."""
TMR_STEPS = 256
"""FMA steps of the TMR workload, from inputs seeded by the caller."""


@dataclass(frozen=True)
class FmaInputs:
    """Per-lane start values and coefficients of ``x = x * a + b``."""

    x0: np.ndarray
    a: np.ndarray
    b: np.ndarray


def fma_inputs(seed: int) -> FmaInputs:
    """Operands that cover the bit space: a quarter of the lanes each of exponents from near
    the smallest normal (2^-116) to near overflow (2^126), walking-one and walking-zero
    mantissas, and random mantissas; both signs everywhere.

    ``b = x0 * (1 - a)`` keeps each chain at its start, so it never overflows, and ``b`` stays
    normal (subnormals would be flushed on some GPUs and not on others).
    """
    rng = np.random.default_rng(seed)
    quarter = LANES // 4
    exponents = np.concatenate(
        [np.linspace(-116, 126, quarter).round(), rng.integers(-116, 127, LANES - quarter)]
    )
    walk = (np.arange(quarter) + rng.integers(0, 23)) % 23
    mantissas = np.concatenate(
        [
            rng.integers(0, 1 << 23, quarter),
            1 << walk,
            ((1 << 23) - 1) ^ (1 << walk),
            rng.integers(0, 1 << 23, LANES - 3 * quarter),
        ]
    )
    signs = np.where(np.arange(LANES) % 2 == 0, 1.0, -1.0)
    x0 = (signs * (1 + mantissas / 2.0**23) * 2.0**exponents).astype(np.float32)
    a = (1 - 2.0**-10 * (1 + rng.random(LANES))).astype(np.float32)
    b = (x0.astype(np.float64) * (1 - a.astype(np.float64))).astype(np.float32)
    return FmaInputs(x0, a, b)


def fma_chain(iters: int, inputs: FmaInputs, *, fused: bool = False) -> Chain:
    """The FMA probe's chains: the CPU model rounds twice per step, ``fused`` once, as the GPU."""
    return Chain(inputs.x0, inputs.a, inputs.b, iters, np.arange(LANES) % WARP, fused=fused)


def chains(sms: np.ndarray, chain: Chain, corruption: Corruption) -> np.ndarray:
    """The final words of ``chain`` (FMA or tensor) on every SM in ``sms``, through each SM's
    faults: healthy SMs share the kept healthy words, a faulty one is recomputed."""
    rows = np.tile(chain.golden, (len(sms), 1))
    for i, sm in enumerate(np.asarray(sms).tolist()):
        if faults := corruption.on(sm):
            rows[i] = chain.run(faults)
    return corruption.mask(rows, sms)


def tensor_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (16x16) and B (16x8) fp16 with exact products; C0 (16x8) fp32 of both signs, wide range.

    Multiples of 1/16 below 1 make every product and every 16-term dot product exact in fp32,
    so the replicas agree bit for bit whatever order the hardware sums in. Every fourth row of
    A is zero, so a quarter of the accumulators keep C0's small magnitudes and positive signs
    through a long chain, and every result bit is 0 somewhere.
    """
    rng = np.random.default_rng(2 if seed == 0 else [2, seed])
    a = rng.integers(-15, 16, (16, 16)) / 16
    a[::4] = 0
    a = a.astype(np.float16)
    b = (rng.integers(-15, 16, (16, 8)) / 16).astype(np.float16)
    signs = np.where(rng.random((16, 8)) < 0.5, -1.0, 1.0)
    c0 = (signs * (1 + rng.random((16, 8))) * 2.0 ** rng.integers(-20, 21, (16, 8))).astype(
        np.float32
    )
    return a, b, c0


TENSOR_LANES = np.array([(i % 8) * 4 + j // 2 for i in range(16) for j in range(8)])
"""Warp lane holding each accumulator element of an m16n8k16 MMA (row-major 16x8)."""


def tensor_chain(iters: int, seed: int) -> Chain:
    """``D = A @ B + D`` repeated: each accumulator element is a chain ``d + (A @ B)[i, j]``."""
    a16, b16, c0 = tensor_inputs(seed)
    product = (a16.astype(np.float32) @ b16.astype(np.float32)).reshape(-1)
    return Chain(c0.reshape(-1), np.ones_like(product), product, iters, TENSOR_LANES)


ULP_BOUNDS = {"sin": 2.0, "cos": 2.0, "exp": 2.0, "log": 1.0}
"""Maximum error in ULP of CUDA's sinf, cosf, expf, logf (CUDA C Programming Guide)."""


def transcendental_inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` float32 arguments per function, over ranges where the ULP bounds hold.

    Seed 0 is evenly spaced with a small fixed jitter; any other seed moves each argument by a
    random share of the grid spacing, so successive runs sample the arguments between points.
    """
    rng = np.random.default_rng(3 if seed == 0 else [3, seed])
    trig = np.linspace(-8 * np.pi, 8 * np.pi, n)
    exp = np.linspace(-80, 80, n)
    log = np.geomspace(1e-30, 1e30, n)
    if seed == 0:
        jitter = rng.random(n) * 1e-3
        shifts = (jitter, -jitter, jitter, log * jitter)
    else:
        share = rng.random((4, n))
        spacing = max(n - 1, 1)
        shifts = (
            share[0] * 16 * np.pi / spacing,
            share[1] * 16 * np.pi / spacing,
            share[2] * 160 / spacing,
            log * (1e60 ** (share[3] / spacing) - 1),
        )
    grids = (trig, trig, exp, log)
    return {
        name: (grid + shift).astype(np.float32)
        for name, grid, shift in zip(("sin", "cos", "exp", "log"), grids, shifts, strict=True)
    }


def transcendental_golden(n: int, seed: int) -> np.ndarray:
    """sin, cos, exp, log of the arguments, concatenated as float32 bits.

    The model unit rounds float64 results to float32 (within 0.5 ULP and then some), since
    NumPy's own float32 functions may exceed CUDA's 1 ULP bound on logf.
    """
    args = transcendental_inputs(n, seed)
    out = np.concatenate(
        [getattr(np, name)(x.astype(np.float64)).astype(np.float32) for name, x in args.items()]
    )
    return out.view(np.uint32)


def transcendental(
    sms: np.ndarray, n: int, seed: int, golden: np.ndarray, corruption: Corruption
) -> np.ndarray:
    """Every SM's ``golden`` results through its faults; each result is one SFU operation."""
    rows = np.tile(golden, (len(sms), 1))
    operands = np.concatenate(list(transcendental_inputs(n, seed).values())).view(np.uint32)
    return corruption.apply(rows, sms, sfu=True, operands=operands)


def ulp_errors(words: np.ndarray, n: int, seed: int = 0) -> dict[str, float]:
    """Worst error in float32 ULP of each function's results against a float64 reference."""
    with np.errstate(invalid="ignore"):  # a fault may have made a signalling NaN
        results = words.view(np.float32).astype(np.float64)
    errors = {}
    for i, (name, x) in enumerate(transcendental_inputs(n, seed).items()):
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


REGISTER_LANES = np.repeat(np.arange(WARP), len(REGISTER_PATTERNS))
REGISTER_IDS = np.tile(np.arange(len(REGISTER_PATTERNS)), WARP)
"""Thread (lane) and register of each word of ``register_expected()``."""


def registers(sms: np.ndarray, iters: int, corruption: Corruption) -> np.ndarray:
    """The patterns held while being inverted twice per iteration, then read out.

    Each inversion is one register write a per-word fault can hit; a hit persists through
    the later inversions, as a wrong bit in a register would.
    """
    rows = np.tile(register_expected(), (len(sms), 1))
    for i, sm in enumerate(np.asarray(sms).tolist()):
        for fault in corruption.on(sm):
            rows[i] = _register_writes(rows[i], 2 * iters, fault)
    return corruption.mask(rows, sms)


def _register_writes(words: np.ndarray, writes: int, fault: LiveFault) -> np.ndarray:
    """``words`` after ``writes`` inversions each, ``fault`` hitting the writes it picks."""
    words = words.copy()
    scope = np.flatnonzero(fault.in_scope(REGISTER_LANES, REGISTER_IDS))
    if scope.size == 0:
        return words
    if fault.spec.word_rate is None:  # every write: step them all, for the words in scope
        value = words[scope]
        for _ in range(writes):
            result = ~value
            chosen = fault.triggered(value)
            result[chosen] = fault.hit(result[chosen], sfu=False)
            value = result
        words[scope] = value
        return words
    picked = fault.pick(scope.size * writes)
    for word in np.unique(picked // writes).tolist():
        value, done = words[scope[word] : scope[word] + 1], 0
        for write in (picked[picked // writes == word] % writes + 1).tolist():
            operand = value if (write - 1 - done) % 2 == 0 else ~value
            result = ~operand
            if fault.triggered(operand)[0]:
                result = fault.hit(result, sfu=False)
            value, done = result, write
        words[scope[word]] = (value if (writes - done) % 2 == 0 else ~value)[0]
    return words


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
