"""ai.onnx.preview.training.Gradient, expanded by the converter into the backward graph of the
nodes between its `xs` and `y` (reverse-mode differentiation, seeded with ones as the ONNX
doc says). Covers elementwise Add, Sub, Mul, Div, Neg and Identity on equal shapes; any other
op on the path is a clear error naming it.
"""

from __future__ import annotations

import numpy as np
from walle.errors import ConversionError

from .writer import NodeSpec, TensorValue

_DIFFERENTIABLE = {"Add", "Sub", "Mul", "Div", "Neg", "Identity"}


def expand_gradients(nodes: list[NodeSpec], shapes: dict[str, list[int]]) -> list[NodeSpec]:
    out: list[NodeSpec] = []
    for node in nodes:
        if node.op_type != "Gradient":
            out.append(node)
            continue
        out.extend(_backward(node, out, shapes))
    return out


def _backward(grad: NodeSpec, forward: list[NodeSpec], shapes: dict[str, list[int]]) -> list[NodeSpec]:
    xs, y = list(grad.attrs.get("xs", [])), grad.attrs.get("y")
    if not xs or not y or len(grad.outputs) != len(xs):
        raise ConversionError(f"Gradient '{grad.name}': needs attributes xs and y, one output per x")
    producer = {o: n for n in forward for o in n.outputs}
    new: list[NodeSpec] = []
    counter = iter(range(1 << 30))

    def emit(op: str, inputs: list[str], **attrs) -> str:
        name = f"{grad.name}__d{next(counter)}"
        new.append(NodeSpec(op, name, inputs, [name], attrs))
        return name

    # nodes on a path from any x to y, in reverse topological order
    order: list[NodeSpec] = []
    seen: set[int] = set()

    def visit(value: str) -> None:
        n = producer.get(value)
        if n is None or id(n) in seen:
            return
        seen.add(id(n))
        for i in n.inputs:
            visit(i)
        order.append(n)

    visit(y)
    ones = emit("ConstantOfShape", [emit("Shape", [y])], value=TensorValue("one", np.ones(1, np.float32)))
    grads: dict[str, str] = {y: emit("CastLike", [ones, y])}

    def accumulate(value: str, g: str) -> None:
        grads[value] = emit("Add", [grads[value], g]) if value in grads else g

    for n in reversed(order):
        g = grads.get(n.outputs[0])
        if g is None:
            continue
        if n.op_type not in _DIFFERENTIABLE:
            raise ConversionError(f"Gradient '{grad.name}': cannot differentiate {n.op_type} '{n.name}'")
        if len(n.inputs) == 2 and shapes.get(n.inputs[0]) != shapes.get(n.inputs[1]):
            raise ConversionError(f"Gradient '{grad.name}': {n.op_type} '{n.name}' broadcasts, which is not differentiated yet")
        a = n.inputs[0]
        b = n.inputs[1] if len(n.inputs) > 1 else None
        if n.op_type in ("Add", "Identity"):
            accumulate(a, g)
            if b:
                accumulate(b, g)
        elif n.op_type == "Sub":
            accumulate(a, g)
            accumulate(b, emit("Neg", [g]))
        elif n.op_type == "Neg":
            accumulate(a, emit("Neg", [g]))
        elif n.op_type == "Mul":
            accumulate(a, emit("Mul", [g, b]))
            accumulate(b, emit("Mul", [g, a]))
        else:  # Div: d(a/b) = g/b, -g*a/b^2
            accumulate(a, emit("Div", [g, b]))
            accumulate(b, emit("Neg", [emit("Div", [emit("Mul", [g, a]), emit("Mul", [b, b])])]))
    for x, out in zip(xs, grad.outputs, strict=True):
        if x in grads:
            new.append(NodeSpec("Identity", f"{grad.name}__out_{out}", [grads[x]], [out]))
        else:  # y does not depend on x
            new.append(NodeSpec("Sub", f"{grad.name}__out_{out}", [x, x], [out]))
    return new
