"""Constant folding: a node whose inputs are all constants is evaluated now with the onnx
package's reference evaluator and replaced by its results; Shape of a value whose shape is
statically known becomes a constant, which lets whole shape subgraphs fold.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from .writer import NodeSpec, TensorValue

# Random ops must not be folded; folding results much larger than their inputs (Expand,
# ConstantOfShape, Tile) would only grow the file, the engine folds those at plan time.
# StringNormalizer and RegexFullMatch are left to the engine too: the reference evaluator's
# differ from the spec's (it strips accents and removes stopwords word by word; it matches
# with Python's re, whose \w and \b are Unicode where RE2's are ASCII).
_NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
               "Bernoulli", "If", "Loop", "Scan", "StringNormalizer", "RegexFullMatch"}
_MAX_GROWTH_ELEMENTS = 1 << 16


def _shape_value(node: NodeSpec, shape: list[int]) -> np.ndarray:
    rank = len(shape)
    start = node.attrs.get("start", 0)
    end = node.attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.asarray(shape[start:end], dtype=np.int64)


def _evaluate(node: NodeSpec, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    attrs = {}
    for k, v in node.attrs.items():
        if k == "coerce_2d":  # our own marker, not an ONNX attribute
            continue
        attrs[k] = numpy_helper.from_array(v.array, v.name) if isinstance(v, TensorValue) else v
    names = [f"i{k}" if a is not None else "" for k, a in enumerate(inputs)]
    outs = [f"o{k}" for k in range(len(node.outputs))]
    proto = helper.make_node(node.op_type, names, outs, **attrs)
    feeds = {n: a for n, a in zip(names, inputs, strict=True) if n}
    graph = helper.make_graph(
        [proto], "fold",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in feeds.items()],
        [helper.make_empty_tensor_value_info(o) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(model).run(None, feeds)
    # A sequence (a list) or an empty optional (None) is no constant tensor: the engine
    # resolves those at plan time. np.asarray would silently stack a list into one tensor.
    if not all(isinstance(r, np.ndarray | np.generic) for r in results):
        raise ValueError(f"{node.op_type} does not produce tensors")
    return [np.asarray(r) for r in results]


def fold_constants(nodes: list[NodeSpec], constants: dict[str, np.ndarray], static_shapes: dict[str, list[int]],
                   opset: int) -> tuple[list[NodeSpec], int]:
    kept: list[NodeSpec] = []
    folded = 0
    for node in nodes:
        values = None
        if node.op_type == "Shape" and node.inputs[0] in static_shapes:
            values = [_shape_value(node, static_shapes[node.inputs[0]])]
        elif node.op_type == "Constant":
            values = _try(node, [], opset)
        elif node.op_type not in _NEVER_FOLD and node.inputs and all(not i or i in constants for i in node.inputs):
            ins = [constants[i] if i else None for i in node.inputs]
            values = _try(node, ins, opset)
            if values is not None:
                budget = max(sum(a.size for a in ins if a is not None), _MAX_GROWTH_ELEMENTS)
                if sum(v.size for v in values) > budget:
                    values = None
        if values is None or "coerce_2d" in node.attrs:
            kept.append(node)
            continue
        for name, value in zip(node.outputs, values, strict=False):
            if name:
                constants[name] = value
        folded += 1
    return kept, folded


def _try(node: NodeSpec, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray] | None:
    try:
        return _evaluate(node, inputs, opset)
    except Exception:  # noqa: BLE001 - what the reference evaluator cannot do, the engine folds at plan time
        return None
