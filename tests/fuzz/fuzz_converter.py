"""atheris (libFuzzer-driven) target for the ONNX converter: mutated ONNX protobufs go through
``convert_model`` (onnx's shape inference included, in its guarded worker), the writer and
the engine's loader. Each input must end in a converted model the loader accepts or in a
walle.Error; any other exception, a crash or a hang is a bug.

Mutation is structure-aware half of the time: the protobuf is parsed and one field is changed
(a node's op type, an input name, an attribute's value, a tensor's type or dims, a graph
input's shape), so mutants stay protobufs that reach the converter's own logic; the other
half is libFuzzer's byte mutation.

    python tests/fuzz/fuzz_converter.py build/fuzz/corpus/onnx -max_total_time=60
"""

from __future__ import annotations

import os
import random
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import onnx
    import walle
    from walle import _walle
    from walle.converters.onnx.convert import convert_model
    from walle.converters.onnx.writer import serialize

_OPS = ["Relu", "Softmax", "Gather", "Concat", "Reshape", "TopK", "Loop", "If", "Scan", "Split", "Slice", "Conv",
        "BatchNormalization", "MatMul", "Gemm", "LabelEncoder", "Cast", "Unique", "DFT", "Squeeze", "ReduceSum"]
_INTS = [0, 1, -1, 2, 7, 1 << 31, 1 << 40, 2**63 - 1, -(2**63), 26, 99]
_TMP = tempfile.mkdtemp(prefix="walle-fuzz-")


def _mutate_structure(model: onnx.ModelProto, rng: random.Random) -> None:
    g = model.graph
    choice = rng.randrange(7)
    if choice == 0 and g.node:
        rng.choice(g.node).op_type = rng.choice(_OPS)
    elif choice == 1 and g.node:
        n = rng.choice(g.node)
        names = [v.name for v in g.input] + [o for m in g.node for o in m.output] + ["", "undefined"]
        if n.input and rng.random() < 0.7:
            n.input[rng.randrange(len(n.input))] = rng.choice(names)
        elif n.input:
            del n.input[rng.randrange(len(n.input))]
        else:
            n.input.append(rng.choice(names))
    elif choice == 2 and g.node:
        n = rng.choice(g.node)
        a = n.attribute.add() if not n.attribute or rng.random() < 0.3 else rng.choice(n.attribute)
        if not a.name:
            a.name, a.type = rng.choice(["axis", "axes", "k", "perm", "to", "keepdims"]), onnx.AttributeProto.INT
        if a.type == onnx.AttributeProto.INT:
            a.i = rng.choice(_INTS)
        elif a.type == onnx.AttributeProto.INTS:
            a.ints[:] = [rng.choice(_INTS) for _ in range(rng.randrange(4))]
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rng.choice([float("nan"), float("inf"), -1.0, 0.0])
    elif choice == 3 and g.initializer:
        t = rng.choice(g.initializer)
        if rng.random() < 0.5:
            t.data_type = rng.choice(_INTS[:4] + [8, 14, 16, 21, 27, 99])
        else:
            t.dims[:] = [rng.choice([0, 1, 2, 3, 1 << 40, -1]) for _ in range(rng.randrange(4))]
    elif choice == 4 and g.input:
        shape = rng.choice(g.input).type.tensor_type.shape
        del shape.dim[:]
        for _ in range(rng.randrange(4)):
            shape.dim.add().dim_value = rng.choice([0, 1, 3, 1 << 40, 2**63 - 1])
    elif choice == 5 and model.opset_import:
        model.opset_import[0].version = rng.choice([1, 6, 11, 13, 17, 21, 25, 99])
    elif g.node and rng.random() < 0.5:
        g.node.append(g.node[rng.randrange(len(g.node))])  # a duplicate producer


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        try:
            model = onnx.ModelProto.FromString(data)
            _mutate_structure(model, rng)
            out = model.SerializeToString()
            if len(out) <= max_size:
                return out
        except Exception:  # noqa: BLE001, S110 - not a protobuf: mutate the bytes instead
            pass
    return atheris.Mutate(data, max_size)


def test_one_input(data: bytes) -> None:
    try:
        model = onnx.ModelProto.FromString(data)
    except Exception:  # noqa: BLE001 - not a protobuf; onnx.load would refuse it the same way
        return
    try:
        graph, _ = convert_model(model, source="fuzz.onnx")
        blob = serialize(graph, producer="fuzz")
    except walle.Error:
        return
    path = os.path.join(_TMP, "m.walle")
    with open(path, "wb") as f:
        f.write(blob)
    try:
        _walle.check_model(path)
    except walle.ModelError:
        return  # convert() refuses to keep such a file (ConversionError); the loader said why


def main() -> None:
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
