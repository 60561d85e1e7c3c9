"""Expected values of ONNX casts written from the specification, without ml_dtypes.

The node tests' expected outputs come from onnx's generators, which compute casts to the narrow
types with ``ml_dtypes``; its results for out-of-range values have changed between releases
(0.7.0 gives 0 where earlier releases wrapped). The suite must not depend on the day it is
installed, so for those casts the expected values are recomputed here from the rules the ONNX
documents state:

* 4- and 2-bit integers (onnx docs/technical/int4.md and int2.md, "Cast"): "rounding to the
  nearest-even integer and truncating", i.e. keep the low 4 (2) bits, two's complement for the
  signed types.
* float 8 (the Cast operator's tables): round to nearest, ties to even, on the target's mantissa;
  with saturate=1 out-of-range and infinite values go to +/-max; with saturate=0 they go to
  infinity where the type has one (E5M2) and to NaN otherwise; NaN stays NaN.
"""

from __future__ import annotations

import numpy as np

SMALL_INTS = {"INT4": (4, True), "UINT4": (4, False), "INT2": (2, True), "UINT2": (2, False)}


def cast_to_small_int(x: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """Values (int64) of a cast of float ``x`` to a ``bits``-bit integer, as the spec defines it."""
    r = np.rint(np.asarray(x, np.float64)).astype(np.int64)  # np.rint rounds ties to even
    low = r & ((1 << bits) - 1)
    if signed:
        low = np.where(low >= 1 << (bits - 1), low - (1 << bits), low)
    return low


# (exponent bits, mantissa bits, exponent bias, has infinities, NaN encodings, has negative zero)
# Formats as the ONNX Cast operator describes them (E4M3FN/E5M2 after the OCP FP8 spec, the FNUZ
# types after Graphcore's: no infinities, one NaN at 0x80, no -0).
FLOAT8 = {
    "FLOAT8E4M3FN": {"e": 4, "m": 3, "bias": 7, "inf": False, "fnuz": False},
    "FLOAT8E4M3FNUZ": {"e": 4, "m": 3, "bias": 8, "inf": False, "fnuz": True},
    "FLOAT8E5M2": {"e": 5, "m": 2, "bias": 15, "inf": True, "fnuz": False},
    "FLOAT8E5M2FNUZ": {"e": 5, "m": 2, "bias": 16, "inf": False, "fnuz": True},
}


def decode_float8(code: int, name: str) -> float:
    """The value of one float 8 byte."""
    f = FLOAT8[name]
    e_bits, m_bits, bias = f["e"], f["m"], f["bias"]
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> m_bits) & ((1 << e_bits) - 1)
    man = code & ((1 << m_bits) - 1)
    if f["fnuz"]:
        if code == 0x80:
            return float("nan")
    elif f["inf"]:  # E5M2: IEEE-like top exponent
        if exp == (1 << e_bits) - 1:
            return sign * float("inf") if man == 0 else float("nan")
    elif exp == (1 << e_bits) - 1 and man == (1 << m_bits) - 1:  # E4M3FN: S.1111.111 is NaN
        return float("nan")
    if exp == 0:
        return sign * man * 2.0 ** (1 - bias - m_bits)
    return sign * (1 + man / (1 << m_bits)) * 2.0 ** (exp - bias)


def float8_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, codes) of every finite code, values ascending; -0 is dropped (0 stands for it)."""
    pairs = sorted((decode_float8(c, name), c) for c in range(256)
                   if np.isfinite(decode_float8(c, name)) and c != 0x80)
    return np.array([v for v, _ in pairs]), np.array([c for _, c in pairs])


def cast_to_float8(x: np.ndarray, name: str, saturate: bool = True) -> np.ndarray:
    """Values (float64) of a cast of ``x`` to float 8 type ``name``, as the Cast operator's tables say."""
    f = FLOAT8[name]
    values, codes = float8_table(name)
    top = values[-1]
    x = np.asarray(x, np.float64)
    out = np.empty(x.shape, np.float64)
    for i, v in np.ndenumerate(x):
        if np.isnan(v):
            out[i] = np.nan
            continue
        if abs(v) > top:
            # Past the largest finite value: it still rounds to it when less than half an ulp
            # beyond, or exactly half with the top code's mantissa even (ties to even: E4M3FN's
            # 0x7E is even, so 464 -> 448; E5M2's 0x7B is odd, so 61440 overflows).
            half = top + (top - values[-2]) / 2
            overflows = np.isinf(v) or abs(v) > half or (abs(v) == half and codes[-1] % 2 == 1)
            if overflows and not saturate:
                out[i] = np.copysign(np.inf, v) if f["inf"] else np.nan
            else:
                out[i] = np.copysign(top, v)
            continue
        k = np.searchsorted(values, v)
        lo, hi = values[max(k - 1, 0)], values[min(k, len(values) - 1)]
        if v - lo < hi - v:
            r = lo
        elif hi - v < v - lo:
            r = hi
        else:  # a tie: the even code
            r = lo if codes[max(k - 1, 0)] % 2 == 0 else hi
        if r == 0 and np.signbit(v) and not f["fnuz"]:
            r = -0.0
        out[i] = r
    return out
