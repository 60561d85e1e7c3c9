"""Rewrites older-opset forms of ONNX operators into the newest form, so that each Walle
composite op has one definition. Attributes that later opsets turned into inputs become
constant inputs (Slice, Pad, Clip); Softmax before opset 13 keeps its flatten-to-2-d meaning
through the ``coerce_2d`` attribute.
"""

from __future__ import annotations

import numpy as np

from .writer import NodeSpec, TensorValue

MIN_OPSET = 7


def normalize_node(node: NodeSpec, opset: int, add_constant) -> NodeSpec:
    """``add_constant(name_hint, array) -> value name`` registers a new initializer."""
    op, attrs = node.op_type, node.attrs

    def attr_to_input(names: list[str], dtypes: list[str], first_input: int) -> None:
        inputs = node.inputs[:first_input]
        for key, dtype in zip(names, dtypes, strict=True):
            if key in attrs:
                inputs.append(add_constant(f"{node.name}_{key}", np.asarray(attrs.pop(key), dtype=dtype)))
            else:
                inputs.append("")
        while inputs and inputs[-1] == "":
            inputs.pop()
        node.inputs = inputs

    if op == "Slice" and opset < 10:
        attr_to_input(["starts", "ends", "axes"], ["int64"] * 3, 1)
    elif op == "Pad" and opset < 11:
        attrs["pads"] = attrs.pop("pads", attrs.pop("paddings", []))
        value = attrs.pop("value", 0.0)
        node.inputs = node.inputs[:1] + [add_constant(f"{node.name}_pads", np.asarray(attrs.pop("pads"), "int64"))]
        node.inputs.append(add_constant(f"{node.name}_value", np.asarray(value, "float32")))
    elif op == "Clip" and opset < 11:
        lo, hi = attrs.pop("min", None), attrs.pop("max", None)
        node.inputs = node.inputs[:1]
        node.inputs.append(add_constant(f"{node.name}_min", np.asarray(lo, "float32")) if lo is not None else "")
        if hi is not None:
            node.inputs.append(add_constant(f"{node.name}_max", np.asarray(hi, "float32")))
    elif op in ("Softmax", "LogSoftmax", "Hardmax") and opset < 13:
        attrs.setdefault("axis", 1)
        attrs["coerce_2d"] = 1
    elif op == "Constant":
        pass
    return node


def tensor_value(name: str, array: np.ndarray) -> TensorValue:
    return TensorValue(name, np.ascontiguousarray(array))
