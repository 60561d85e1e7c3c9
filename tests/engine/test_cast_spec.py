"""Casts to the narrow types (4/2-bit integers, float 8) follow the ONNX specification.

Expected values come from tests/conformance/spec_casts.py, written from the spec's rules, and
outputs are read as raw bytes: nothing here goes through ml_dtypes, whose results for
out-of-range values differ between its releases.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from spec_casts import FLOAT8, SMALL_INTS, cast_to_float8, cast_to_small_int, decode_float8

BACKENDS = ["cpu", "cpu-reference"]


def _cast_session(tmp_path, src: int, to: int, n: int, backend: str, saturate: int | None = None):
    attrs = {"to": to} if saturate is None else {"to": to, "saturate": saturate}
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], **attrs)], "cast",
                              [helper.make_tensor_value_info("x", src, [n])],
                              [helper.make_tensor_value_info("y", to, [n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 11
    onnx.save(model, tmp_path / "cast.onnx")
    walle.convert(str(tmp_path / "cast.onnx"), str(tmp_path / "cast.walle"))
    return walle.load(str(tmp_path / "cast.walle"), backend=backend)


def _raw_bytes(a) -> np.ndarray:
    return np.asarray(a).view(np.uint8)


# Ties (0.5, 1.5, 2.5, -2.5), values past both ends of every narrow range, fractions.
SMALL_INPUTS = np.array([-300, -17, -9, -8.5, -8, -7.5, -3, -2.5, -1.5, -1, -0.5, -0.4, 0, 0.4, 0.5,
                         1.5, 2.5, 2.7, 3, 3.5, 7, 7.5, 8, 15, 15.5, 16, 17, 255, 300], np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src", [TensorProto.FLOAT, TensorProto.FLOAT16])
@pytest.mark.parametrize("to_name", sorted(SMALL_INTS))
def test_cast_to_small_int_rounds_to_even_and_keeps_low_bits(tmp_path, backend, src, to_name):
    bits, signed = SMALL_INTS[to_name]
    x = SMALL_INPUTS.astype(helper.tensor_dtype_to_np_dtype(src))
    session = _cast_session(tmp_path, src, getattr(TensorProto, to_name), len(x), backend)
    raw = _raw_bytes(session.run({"x": x})["y"]).astype(np.int64) & ((1 << bits) - 1)
    got = np.where(raw >= 1 << (bits - 1), raw - (1 << bits), raw) if signed else raw
    want = cast_to_small_int(x, bits, signed)
    assert got.tolist() == want.tolist(), f"{to_name} from {x.dtype}: input {x.tolist()}"


def test_small_int_rule_examples():
    """The spec's rule on hand-checked values, so the reference itself is pinned down."""
    assert cast_to_small_int(np.array([-9, -8.5, 2.5, 3.5, 7.5, 8]), 4, True).tolist() == [7, -8, 2, 4, -8, -8]
    assert cast_to_small_int(np.array([-1, 15.5, 16, 17]), 4, False).tolist() == [15, 0, 0, 1]
    assert cast_to_small_int(np.array([-3, 2, 1.5]), 2, True).tolist() == [1, -2, -2]


FLOAT8_INPUTS = np.array([0.0, -0.0, 1.0, -1.0, 0.3, 1.0625, 1.1875, 3.1415926, 240, 448, 449, 460, 464,
                          465, 480, 500, 1e6, -1e6, 57344, 59392, 61440, 1e-3, 2 ** -9, 2 ** -10, 2 ** -17,
                          3 * 2 ** -11, np.inf, -np.inf, np.nan], np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to_name", sorted(FLOAT8))
def test_cast_to_float8_follows_the_spec_tables(tmp_path, backend, saturate, to_name):
    session = _cast_session(tmp_path, TensorProto.FLOAT, getattr(TensorProto, to_name), len(FLOAT8_INPUTS),
                            backend, saturate=saturate)
    codes = _raw_bytes(session.run({"x": FLOAT8_INPUTS})["y"])
    got = np.array([decode_float8(int(c), to_name) for c in codes])
    want = cast_to_float8(FLOAT8_INPUTS, to_name, saturate=bool(saturate))
    same = (np.isnan(got) & np.isnan(want)) | ((got == want) & (np.signbit(got) == np.signbit(want)))
    bad = [(float(FLOAT8_INPUTS[i]), float(got[i]), float(want[i])) for i in np.flatnonzero(~same)]
    assert not bad, f"{to_name} saturate={saturate}: (input, got, spec) {bad}"


def test_float8_reference_examples():
    """Hand-checked points of the spec's tables (E4M3FN max 448, E5M2 max 57344)."""
    e4 = cast_to_float8(np.array([448, 464, 465, np.inf, 1.0625, 1.1875]), "FLOAT8E4M3FN")
    assert e4.tolist() == [448, 448, 448, 448, 1.0, 1.25]
    assert np.isnan(cast_to_float8(np.array([465.0]), "FLOAT8E4M3FN", saturate=False)).all()
    e5 = cast_to_float8(np.array([59392.0, 61439, 61440, np.inf]), "FLOAT8E5M2", saturate=False)
    assert e5.tolist() == [57344, 57344, np.inf, np.inf]
    assert np.signbit(cast_to_float8(np.array([-0.0]), "FLOAT8E4M3FNUZ")).tolist() == [False]
