"""Writes the fuzzers' seed corpora, made here and never downloaded:

- ``<out>/model``: one small ``.walle`` file per case of tests/engine/test_ops.py (every op
  family the planner decomposes), plus control-flow models (Loop, If, Scan), for fuzz_model;
- ``<out>/onnx``: the same models as ONNX protobufs, for fuzz_converter.py.

Run from the repository root:  python -m tests.fuzz.make_corpus build/fuzz/corpus
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import walle
from onnx import TensorProto, helper, numpy_helper

from tests.engine.onnx_helpers import node_model, with_output_types
from tests.engine.test_ops import CASES, _opset


def _control_flow() -> dict[str, onnx.ModelProto]:
    f = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["v", "one"], ["v_out"]),
         helper.make_node("Softmax", ["v_out"], ["s"], axis=-1)],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", f, [3])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", f, [3]),
         helper.make_tensor_value_info("s", f, [3])])
    loop = helper.make_graph(
        [helper.make_node("Loop", ["m", "", "x"], ["y", "scan"], body=body)], "loop",
        [helper.make_tensor_value_info("x", f, [3])],
        [helper.make_tensor_value_info("y", f, [3]), helper.make_tensor_value_info("scan", f, [2, 3])],
        [numpy_helper.from_array(np.array(2, np.int64), "m"), numpy_helper.from_array(np.ones(3, np.float32), "one")])
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["r"])], "b", [], [helper.make_tensor_value_info("r", f, [3])])
    if_graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)], "if",
                                 [helper.make_tensor_value_info("x", f, [3]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                                 [helper.make_tensor_value_info("y", f, [3])])
    opsets = [helper.make_opsetid("", 17)]
    return {"loop": helper.make_model(loop, opset_imports=opsets), "if": helper.make_model(if_graph, opset_imports=opsets)}


def models() -> dict[str, onnx.ModelProto]:
    out = {}
    for name, op, inputs, constants, attrs, n_out in CASES:
        try:
            out[name] = with_output_types(node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs))
        except Exception:  # noqa: BLE001, S112 - a case onnx cannot type is simply not a seed
            continue
    out.update(_control_flow())
    return out


def main(out: Path) -> None:
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models().items():
            src = Path(tmp) / "m.onnx"
            onnx.save(model, src)
            (out / "onnx" / f"{name}.onnx").write_bytes(src.read_bytes())
            try:
                walle.convert(src, out / "model" / f"{name}.walle")
                written += 1
            except walle.Error:
                continue
    print(f"{written} .walle seeds in {out / 'model'}, {len(list((out / 'onnx').iterdir()))} ONNX seeds in {out / 'onnx'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/corpus"))
