"""Builds one-node ONNX models and computes expected outputs with the onnx package's
reference evaluator (numpy), for the kernel and decomposition tests."""

from __future__ import annotations

import numpy as np
import onnx
import walle
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 17


def node_model(op: str, inputs: dict[str, np.ndarray], n_outputs: int = 1, constants: dict | None = None,
               opset: int = OPSET, **attrs) -> onnx.ModelProto:
    """A model with one `op` node; `inputs` are graph inputs, `constants` initializers."""
    constants = constants or {}
    names = list(inputs) + list(constants)
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_outputs)], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_outputs)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def with_output_types(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fills output types from shape inference (the converter needs typed graph outputs)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for out in model.graph.output:
        if out.name in known and known[out.name].type.tensor_type.elem_type:
            out.CopyFrom(known[out.name])
    return model


def run_walle(model: onnx.ModelProto, inputs: dict[str, np.ndarray], tmp_path, isa: str = "auto",
              threads: int = 1, force: dict[str, str] | None = None) -> list[np.ndarray]:
    src, dst = tmp_path / "m.onnx", tmp_path / "m.walle"
    onnx.save(with_output_types(model), src)
    walle.convert(src, dst)
    session = walle.load(dst, isa=isa, threads=threads, force=force)
    return list(session.run(inputs).values())


def reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, inputs)]


def available_isas() -> list[str]:
    """Every CPU level this processor runs: the portable one and its architecture's SIMD levels."""
    from walle import _walle

    levels = {"reference": ["reference"], "avx2": ["reference", "avx2"],
              "avx512": ["reference", "avx2", "avx512"], "neon": ["reference", "neon"]}
    return levels[_walle.detected_isa()]
