"""Float32 fused multiply-add as the GPU computes it (``fma.rn.f32``), for exact host goldens.

The product of two float32 values is exact in float64, so only the add rounds twice (to
float64, then to float32). That differs from one rounding only where the float64 sum lands
exactly halfway between two float32 values while the exact sum does not; the error term of
the add (Knuth's TwoSum) says which side it lies on. With it (``Chain(fused=True)``) the GPU
backend can draw new FMA operands every run and still know every result word bit for bit, with
no stored golden.
"""

from __future__ import annotations

import numpy as np

_F32, _F64, _U32 = np.float32, np.float64, np.uint32


def fma32(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x * a + b`` rounded once to float32 (round to nearest, ties to even), elementwise."""
    p = x.astype(_F64) * a.astype(_F64)  # exact: 24 + 24 significant bits
    c = np.asarray(b, _F64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c
        bv = s - p
        err = (p - (s - bv)) + (c - bv)  # p + c == s + err exactly
        r = s.astype(_F32)
        off = s - r.astype(_F64)  # exact: s and r are within a float32 ulp
        toward = np.where(off > 0, _F32(np.inf), _F32(-np.inf))
        other = np.nextafter(r, toward)
        halfway = (off != 0) & (s == (r.astype(_F64) + other.astype(_F64)) / 2)
    # At a float64 sum that is a float32 tie, the exact sum lies past it (round away from r)
    # when the error has the sign of the offset, and short of it (keep r) otherwise.
    return np.where(halfway & (err != 0) & ((err > 0) == (off > 0)), other, r)
