"""Rewrites older-opset forms of ONNX operators into the newest form, so that each Walle
composite op has one definition. Attributes that later opsets turned into inputs become
constant inputs (Slice, Pad, Clip); Softmax before opset 13 keeps its flatten-to-2-d meaning
through the ``coerce_2d`` attribute.
"""

from __future__ import annotations

import numpy as np

from .writer import NodeSpec

MIN_OPSET = 1

# Before opset 7 these took `broadcast` (and `axis`) attributes instead of numpy broadcasting.
_LEGACY_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less", "PRelu"}
_TYPE_CODES = {"FLOAT": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7, "STRING": 8,
               "BOOL": 9, "FLOAT16": 10, "DOUBLE": 11, "UINT32": 12, "UINT64": 13}


def normalize_node(node: NodeSpec, opset: int, add_constant, rank_of=lambda name: None) -> NodeSpec:
    """``add_constant(name_hint, array) -> value name`` registers a new initializer;
    ``rank_of(value name)`` is the rank shape inference found, or None."""
    op, attrs = node.op_type, node.attrs
    attrs.pop("consumed_inputs", None)  # opset < 6 memory hint, meaningless here
    if opset < 7 and op in _LEGACY_BROADCAST and "broadcast" in attrs:
        # Opset < 7: with broadcast=1, B's dims line up with A's starting at `axis` (default:
        # the trailing dims, which is numpy's rule). Unsqueeze B at the end to make it numpy's.
        attrs.pop("broadcast")
        axis = attrs.pop("axis", None)
        ra, rb = rank_of(node.inputs[0]), rank_of(node.inputs[1])
        if axis is not None and ra is not None and rb is not None:
            axis = axis + ra if axis < 0 else axis
            extra = ra - axis - rb
            if extra > 0:
                src, b = node.inputs[1], f"{node.inputs[1]}__bcast_{node.name}"
                node.inputs = [node.inputs[0], b]
                unsqueeze = NodeSpec("Unsqueeze", f"{node.name}_bcast", [src], [b], {"axes": list(range(rb, rb + extra))})
                return [unsqueeze, node]
    if op == "PRelu" and opset < 7:  # a 1-d slope of length C applies per channel (axis 1)
        ra, rb = rank_of(node.inputs[0]), rank_of(node.inputs[1])
        if ra is not None and rb == 1 and ra > 2:
            src, b = node.inputs[1], f"{node.inputs[1]}__bcast_{node.name}"
            node.inputs = [node.inputs[0], b]
            return [NodeSpec("Unsqueeze", f"{node.name}_bcast", [src], [b], {"axes": list(range(1, ra - 1))}), node]
    if op == "Cast" and isinstance(attrs.get("to"), str):  # opset < 6 names the type
        attrs["to"] = _TYPE_CODES[attrs["to"].upper()]
    if op == "Reshape" and opset < 5 and "shape" in attrs:
        node.inputs = node.inputs[:1] + [add_constant(f"{node.name}_shape", np.asarray(attrs.pop("shape"), "int64"))]
    if op == "Concat" and opset < 4:
        attrs.setdefault("axis", 1)
    if op in ("BatchNormalization", "Dropout"):
        for k in ("is_test", "spatial"):
            attrs.pop(k, None)
    if op == "Gemm":
        attrs.pop("broadcast", None)

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
    elif op == "Scan" and opset < 9:  # opset 8: sequence_lens first, batch axis everywhere
        attrs["batch_major"] = 1
    elif op == "DFT" and opset < 20:  # the axis default moved from 1 to -2 when it became an input
        attrs.setdefault("axis", 1)
    elif op == "Constant":
        pass
    return [node]

