"""Writes the ``.walle`` FlatBuffers file (schema: csrc/model/walle_model.fbs).

Weights are concatenated into one byte vector aligned to 64 bytes, each tensor at a 64-byte
aligned offset, so the engine maps the file and uses the weights in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
from walle import _model_fb as fb

FORMAT_VERSION = 1
# Version 2 is version 1 plus sequence and optional graph inputs/outputs (ValueInfo.kind and
# unknown_rank). Only models using them are written as version 2: a build that reads version 1
# alone still loads every other model, and refuses these instead of misreading a sequence as
# a tensor (FlatBuffers readers skip fields they do not know).
SEQUENCES_FORMAT_VERSION = 2
ALIGN = 64
_ONNX_TO_CODE = {
    np.dtype("float32"): 1, np.dtype("uint8"): 2, np.dtype("int8"): 3, np.dtype("uint16"): 4,
    np.dtype("int16"): 5, np.dtype("int32"): 6, np.dtype("int64"): 7, np.dtype("bool"): 9,
    np.dtype("float16"): 10, np.dtype("float64"): 11, np.dtype("uint32"): 12, np.dtype("uint64"): 13,
}


@dataclass
class TensorValue:
    """A constant: ``array`` in its numpy dtype, or raw bytes with an explicit ONNX type code."""

    name: str
    array: np.ndarray
    dtype_code: int | None = None  # for types numpy lacks (bfloat16 as uint16 bits)


@dataclass
class ValueSpec:
    name: str
    dtype_code: int
    dims: list[int]  # of the tensor, or of each element of a sequence
    dim_names: list[str]
    kind: str = "tensor"  # a key of VALUE_KINDS
    unknown_rank: bool = False  # the type gives no shape: any rank is accepted (dims empty)


# ValueSpec.kind -> the schema's ValueKind (ONNX tensor, sequence(tensor), optional(...)).
VALUE_KINDS = {"tensor": fb.ValueKind.Tensor, "sequence": fb.ValueKind.Sequence, "optional": fb.ValueKind.Optional,
               "optional(sequence)": fb.ValueKind.OptionalSequence}


@dataclass
class NodeSpec:
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)  # int, float, str, list, TensorValue, GraphSpec


@dataclass
class GraphSpec:
    inputs: list[ValueSpec]
    outputs: list[ValueSpec]
    initializers: list[TensorValue]
    nodes: list[NodeSpec]


# ml_dtypes types (what onnx's numpy_helper returns for them), by numpy dtype name.
_ML_DTYPE_CODES = {"bfloat16": 16, "float8_e4m3fn": 17, "float8_e4m3fnuz": 18, "float8_e5m2": 19,
                   "float8_e5m2fnuz": 20, "uint4": 21, "int4": 22, "float4_e2m1fn": 23, "float8_e8m0fnu": 24,
                   "uint2": 25, "int2": 26}


STRING_CODE = 8


def is_string_array(array: np.ndarray) -> bool:
    """Object arrays (of str, what onnx returns for STRING tensors) and numpy str/bytes arrays."""
    return array.dtype.kind in "OUS"


def string_payload(array: np.ndarray, name: str) -> tuple[bytes, np.ndarray]:
    """The UTF-8 bytes of a string tensor's elements back to back, and where each ends."""
    encoded = []
    for v in array.reshape(-1).tolist():
        if isinstance(v, bytes):
            try:
                v.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TypeError(f"tensor '{name}': a bytes element is not valid UTF-8 ({e})") from e
            encoded.append(v)
        elif isinstance(v, str):
            encoded.append(v.encode("utf-8"))
        else:
            raise TypeError(f"tensor '{name}': string tensor element {v!r} is a {type(v).__name__}, not str")
    ends = np.cumsum([len(b) for b in encoded], dtype=np.uint64) if encoded else np.zeros(0, np.uint64)
    return b"".join(encoded), ends


def dtype_code(array: np.ndarray) -> int:
    if is_string_array(array):
        return STRING_CODE
    code = _ONNX_TO_CODE.get(array.dtype) or _ML_DTYPE_CODES.get(array.dtype.name)
    if code is None:
        raise TypeError(f"unsupported tensor dtype {array.dtype}")
    return code


class _Weights:
    """Collects tensor bytes at aligned offsets."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        pad = (-self.size) % ALIGN
        if pad:
            self.chunks.append(b"\0" * pad)
            self.size += pad
        offset = self.size
        self.chunks.append(data)
        self.size += len(data)
        return offset


class _Writer:
    def __init__(self, builder: flatbuffers.Builder, weights: _Weights):
        self.b = builder
        self.weights = weights

    def strings(self, values: list[str], start) -> int:
        offsets = [self.b.CreateString(v) for v in values]
        start(self.b, len(offsets))
        for o in reversed(offsets):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def tables(self, offsets: list[int], start) -> int:
        start(self.b, len(offsets))
        for o in reversed(offsets):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def int64s(self, values: list[int]) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype=np.int64))

    def tensor(self, t: TensorValue) -> int:
        array = np.ascontiguousarray(t.array).reshape(np.shape(t.array))  # ascontiguousarray makes 0-d 1-d
        code = t.dtype_code if t.dtype_code is not None else dtype_code(array)
        ends = None
        if code == STRING_CODE:
            data, end_values = string_payload(array, t.name)
            ends = self.b.CreateNumpyVector(end_values)
        else:
            data = array.tobytes()
        offset = self.weights.add(data)
        name = self.b.CreateString(t.name)
        dims = self.int64s(list(array.shape))
        fb.TensorDataStart(self.b)
        fb.TensorDataAddName(self.b, name)
        fb.TensorDataAddDtype(self.b, code)
        fb.TensorDataAddDims(self.b, dims)
        fb.TensorDataAddOffset(self.b, offset)
        fb.TensorDataAddSize(self.b, len(data))
        if ends is not None:
            fb.TensorDataAddStringEnds(self.b, ends)
        return fb.TensorDataEnd(self.b)

    def value_info(self, v: ValueSpec) -> int:
        name = self.b.CreateString(v.name)
        dims = self.int64s(v.dims)
        dim_names = self.strings(v.dim_names, fb.ValueInfoStartDimNamesVector)
        fb.ValueInfoStart(self.b)
        fb.ValueInfoAddName(self.b, name)
        fb.ValueInfoAddDtype(self.b, v.dtype_code)
        fb.ValueInfoAddDims(self.b, dims)
        fb.ValueInfoAddDimNames(self.b, dim_names)
        fb.ValueInfoAddKind(self.b, VALUE_KINDS[v.kind])
        fb.ValueInfoAddUnknownRank(self.b, v.unknown_rank)
        return fb.ValueInfoEnd(self.b)

    def attribute(self, key: str, value: Any) -> int:
        b = self.b
        kind, payload = _attribute_kind(value)
        name = b.CreateString(key)
        parts: dict[str, int] = {}
        if kind == fb.AttrKind.String:
            parts["s"] = b.CreateString(value)
        elif kind == fb.AttrKind.Ints:
            parts["ints"] = self.int64s(list(value))
        elif kind == fb.AttrKind.Floats:
            parts["floats"] = b.CreateNumpyVector(np.asarray(value, dtype=np.float64))
        elif kind == fb.AttrKind.Strings:
            parts["strings"] = self.strings(list(value), fb.AttributeStartStringsVector)
        elif kind == fb.AttrKind.Tensor:
            parts["tensor"] = self.tensor(value)
        elif kind == fb.AttrKind.Graph:
            parts["graph"] = self.graph(value)
        fb.AttributeStart(b)
        fb.AttributeAddName(b, name)
        fb.AttributeAddKind(b, kind)
        if kind == fb.AttrKind.Int:
            fb.AttributeAddI(b, payload)
        elif kind == fb.AttrKind.Float:
            fb.AttributeAddF(b, payload)
        adders = {"s": fb.AttributeAddS, "ints": fb.AttributeAddInts, "floats": fb.AttributeAddFloats,
                  "strings": fb.AttributeAddStrings, "tensor": fb.AttributeAddTensor, "graph": fb.AttributeAddGraph}
        for part, offset in parts.items():
            adders[part](b, offset)
        return fb.AttributeEnd(b)

    def node(self, n: NodeSpec) -> int:
        b = self.b
        attrs = [self.attribute(k, v) for k, v in sorted(n.attrs.items())]
        op_type = b.CreateString(n.op_type)
        name = b.CreateString(n.name)
        inputs = self.strings(n.inputs, fb.NodeStartInputsVector)
        outputs = self.strings(n.outputs, fb.NodeStartOutputsVector)
        attr_vec = self.tables(attrs, fb.NodeStartAttrsVector)
        fb.NodeStart(b)
        fb.NodeAddOpType(b, op_type)
        fb.NodeAddName(b, name)
        fb.NodeAddInputs(b, inputs)
        fb.NodeAddOutputs(b, outputs)
        fb.NodeAddAttrs(b, attr_vec)
        return fb.NodeEnd(b)

    def graph(self, g: GraphSpec) -> int:
        nodes = self.tables([self.node(n) for n in g.nodes], fb.GraphStartNodesVector)
        inits = self.tables([self.tensor(t) for t in g.initializers], fb.GraphStartInitializersVector)
        inputs = self.tables([self.value_info(v) for v in g.inputs], fb.GraphStartInputsVector)
        outputs = self.tables([self.value_info(v) for v in g.outputs], fb.GraphStartOutputsVector)
        fb.GraphStart(self.b)
        fb.GraphAddInputs(self.b, inputs)
        fb.GraphAddOutputs(self.b, outputs)
        fb.GraphAddInitializers(self.b, inits)
        fb.GraphAddNodes(self.b, nodes)
        return fb.GraphEnd(self.b)


def _attribute_kind(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | int | np.integer):
        return fb.AttrKind.Int, int(value)
    if isinstance(value, float | np.floating):
        return fb.AttrKind.Float, float(value)
    if isinstance(value, str):
        return fb.AttrKind.String, value
    if isinstance(value, TensorValue):
        return fb.AttrKind.Tensor, value
    if isinstance(value, GraphSpec):
        return fb.AttrKind.Graph, value
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value) and value:
            return fb.AttrKind.Strings, value
        if all(isinstance(v, int | np.integer) for v in value):
            return fb.AttrKind.Ints, value
        return fb.AttrKind.Floats, value
    raise TypeError(f"unsupported attribute value {value!r}")


def serialize(graph: GraphSpec, producer: str) -> bytes:
    """The bytes of a .walle file holding ``graph``."""
    weights = _Weights()
    estimate = sum(t.array.nbytes for t in graph.initializers) + (1 << 20)
    builder = flatbuffers.Builder(min(estimate * 2, (1 << 31) - 1))
    w = _Writer(builder, weights)
    graph_offset = w.graph(graph)
    blob = b"".join(weights.chunks)
    # The weights vector, 64-byte aligned (StartVector's alignment argument).
    builder.StartVector(1, len(blob), ALIGN)
    builder.head = builder.head - len(blob)
    builder.Bytes[builder.head : builder.head + len(blob)] = blob
    weights_offset = builder.EndVector()
    producer_offset = builder.CreateString(producer)
    fb.ModelStart(builder)
    boundary = graph.inputs + graph.outputs
    uses_sequences = any(v.kind != "tensor" or v.unknown_rank for v in boundary)
    fb.ModelAddFormatVersion(builder, SEQUENCES_FORMAT_VERSION if uses_sequences else FORMAT_VERSION)
    fb.ModelAddProducer(builder, producer_offset)
    fb.ModelAddGraph(builder, graph_offset)
    fb.ModelAddWeights(builder, weights_offset)
    root = fb.ModelEnd(builder)
    # Size-prefixed, so that the loader can tell a truncated file from a complete one.
    builder.FinishSizePrefixed(root, file_identifier=b"WALL")
    return bytes(builder.Output())
