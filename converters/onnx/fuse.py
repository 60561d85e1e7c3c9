"""Graph rewrites done once at conversion: BatchNormalization folded into the Conv before
it, and removal of nodes no output depends on.
"""

from __future__ import annotations

import collections

import numpy as np
from walle.errors import ConversionError

from .writer import GraphSpec, NodeSpec


def fold_batchnorm_into_conv(nodes: list[NodeSpec], constants: dict[str, np.ndarray],
                             source: str = "<model>") -> tuple[list[NodeSpec], int]:
    """Conv(W, b) -> BatchNorm(scale, bias, mean, var) becomes Conv(W * s, (b - mean) * s + bias),
    s = scale / sqrt(var + eps), when the conv output feeds only that BatchNorm and all the
    parameters are constants. Computed in float64, stored in the weights' dtype."""
    consumers = collections.Counter(i for n in nodes for i in n.inputs)
    producer = {o: n for n in nodes for o in n.outputs}
    removed: set[int] = set()
    fused = 0
    for bn in nodes:
        if bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        if len(bn.inputs) < 5 or not all(bn.inputs[:5]):
            raise ConversionError(f"{source}: BatchNormalization '{bn.name}' has inputs {bn.inputs}; it needs 5 "
                                  "(X, scale, B, input_mean, input_var)")
        conv = producer.get(bn.inputs[0])
        if conv is None or conv.op_type != "Conv" or consumers[conv.outputs[0]] != 1:
            continue
        params = bn.inputs[1:5]
        weights = conv.inputs[1]
        if weights not in constants or not all(p in constants for p in params):
            continue
        if len(conv.inputs) > 2 and conv.inputs[2] and conv.inputs[2] not in constants:
            continue
        scale, bias, mean, var = (constants[p].astype(np.float64) for p in params)
        w = constants[weights]
        s = scale / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        b0 = constants[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2 and conv.inputs[2] else 0.0
        new_w = (w.astype(np.float64) * s.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
        new_b = ((b0 - mean) * s + bias).astype(w.dtype)
        w_name, b_name = f"{conv.name}_bn_weight", f"{conv.name}_bn_bias"
        constants[w_name], constants[b_name] = new_w, new_b
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.outputs = [bn.outputs[0]]
        removed.add(id(bn))
        fused += 1
    return [n for n in nodes if id(n) not in removed], fused


def implicit_inputs(node: NodeSpec) -> list[str]:
    """Outer-scope values a node's subgraphs (If/Loop/Scan bodies) read without declaring."""
    found: list[str] = []
    for value in node.attrs.values():
        if isinstance(value, GraphSpec):
            defined = {v.name for v in value.inputs} | {t.name for t in value.initializers}
            for n in value.nodes:
                found.extend(i for i in n.inputs + implicit_inputs(n) if i and i not in defined)
                defined.update(n.outputs)
    return found


def remove_dead_nodes(nodes: list[NodeSpec], outputs: list[str]) -> tuple[list[NodeSpec], int]:
    needed = set(outputs)
    kept: list[NodeSpec] = []
    for node in reversed(nodes):
        if any(o in needed for o in node.outputs if o):
            kept.append(node)
            needed.update(i for i in node.inputs + implicit_inputs(node) if i)
    kept.reverse()
    return kept, len(nodes) - len(kept)
