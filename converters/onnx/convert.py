"""The ONNX -> .walle pipeline: parse, check every op is supported, normalize older opsets,
fold constants (shape subgraphs included), fold BatchNormalization into Conv, drop dead
nodes, and write the FlatBuffers file.
"""

from __future__ import annotations

import collections
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from walle import _walle
from walle.errors import ConversionError, ModelError, UnsupportedOpError

from .fold import fold_constants
from .fuse import fold_batchnorm_into_conv, implicit_inputs, remove_dead_nodes
from .gradient import expand_gradients
from .inference import infer_shapes
from .normalize import MIN_OPSET, normalize_node
from .writer import GraphSpec, NodeSpec, TensorValue, ValueSpec, serialize

_DEFAULT_DOMAINS = ("", "ai.onnx")
# If/Loop/Scan bodies nested deeper than this are refused: each level is three FlatBuffers
# tables (graph, node, attribute) and the loader's verifier stops at a depth of 64.
MAX_GRAPH_NESTING = 16
# Other domains whose ops Walle defines (by the same op_type names, which do not collide).
_EXTRA_DOMAINS = ("ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview")


@dataclass
class ConversionReport:
    """What the converter did; ``walle convert`` prints it."""

    source: str
    opset: int
    nodes_in: int
    nodes_out: int = 0
    folded: int = 0
    batchnorms_fused: int = 0
    dead_removed: int = 0
    op_counts: dict[str, int] = field(default_factory=dict)
    weight_bytes: int = 0


def _opset(model: onnx.ModelProto, source: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions and any(o.domain in _EXTRA_DOMAINS for o in model.opset_import):
        versions = [onnx.defs.onnx_opset_version()]  # only ml/training ops: newest default semantics
    if not versions:
        raise ConversionError(f"{source}: the model imports no default-domain opset")
    opset = versions[0]
    newest = onnx.defs.onnx_opset_version()
    if opset < MIN_OPSET or opset > newest:
        raise ConversionError(f"{source}: opset {opset} is outside the supported range {MIN_OPSET}..{newest}")
    return opset


def _check_supported(graph: onnx.GraphProto, source: str) -> None:
    """Raises UnsupportedOpError listing every unsupported op type with its node names."""
    supported = set(_walle.composite_ops())
    missing: dict[str, list[str]] = collections.defaultdict(list)

    def visit(g: onnx.GraphProto) -> None:
        for i, node in enumerate(g.node):
            op = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
            converter_op = node.domain == "ai.onnx.preview.training" and node.op_type == "Gradient"
            if not converter_op and (node.domain not in _DEFAULT_DOMAINS + _EXTRA_DOMAINS or node.op_type not in supported):
                missing[op].append(node.name or f"#{i}")
            for a in node.attribute:  # If/Loop/Scan bodies
                if a.type == onnx.AttributeProto.GRAPH:
                    visit(a.g)

    visit(graph)
    if missing:
        lines = [f"  {op}: nodes {', '.join(repr(n) for n in names[:5])}" + (" ..." if len(names) > 5 else "")
                 for op, names in sorted(missing.items())]
        raise UnsupportedOpError(
            f"{source}: {len(missing)} unsupported operator type(s); nothing was written:\n" + "\n".join(lines)
        )


def _attribute(attr: onnx.AttributeProto, where: str, subgraph=None):
    t = onnx.AttributeProto
    if attr.type == t.GRAPH and subgraph is not None:
        return subgraph(attr.g, f"{where} attribute '{attr.name}'")
    if attr.type == t.INT:
        return int(attr.i)
    if attr.type == t.FLOAT:
        return float(attr.f)
    if attr.type == t.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if attr.type == t.INTS:
        return [int(v) for v in attr.ints]
    if attr.type == t.FLOATS:
        return [float(v) for v in attr.floats]
    if attr.type == t.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if attr.type == t.TENSOR:
        return TensorValue(attr.t.name or attr.name, _to_array(attr.t, where))
    if attr.type == t.TYPE_PROTO:  # Optional's `type`: kept as ONNX's notation, e.g. "seq(tensor(float))"
        return type_name(attr.tp)
    raise ConversionError(f"{where}: attribute '{attr.name}' has a type Walle does not read ({attr.type})")


def _dtype_name(code: int) -> str:
    """ONNX's name of a type code, or the number for a code onnx does not know either."""
    try:
        return onnx.TensorProto.DataType.Name(code)
    except ValueError:
        return f"unknown type code {code}"


def _to_array(tensor: onnx.TensorProto, where: str) -> np.ndarray:
    if tensor.data_type in (0, 14, 15) or tensor.data_type > 26:
        name = _dtype_name(tensor.data_type)
        raise ConversionError(f"{where}: tensor '{tensor.name}' has type {name}, which this build does not support")
    if tensor.data_type == onnx.TensorProto.STRING:
        return _string_array(tensor, where)
    try:
        return numpy_helper.to_array(tensor)
    except Exception as e:  # external data missing, malformed raw data, ...
        raise ConversionError(f"{where}: cannot read tensor '{tensor.name}': {e}") from e


def type_name(t: onnx.TypeProto) -> str:
    """ONNX's notation for a type: tensor(float), seq(tensor(int64)), optional(seq(...)), ..."""
    if t.HasField("tensor_type"):
        return f"tensor({_dtype_name(t.tensor_type.elem_type).lower()})"
    if t.HasField("sequence_type"):
        return f"seq({type_name(t.sequence_type.elem_type)})"
    if t.HasField("optional_type"):
        return f"optional({type_name(t.optional_type.elem_type)})"
    if t.HasField("map_type"):
        key = _dtype_name(t.map_type.key_type).lower()
        return f"map({key}, {type_name(t.map_type.value_type)})"
    if t.HasField("sparse_tensor_type"):
        return f"sparse_tensor({_dtype_name(t.sparse_tensor_type.elem_type).lower()})"
    return "undefined"


def _string_array(tensor: onnx.TensorProto, where: str) -> np.ndarray:
    """A STRING tensor as an object array of str; its bytes must be UTF-8 (the engine's strings are)."""
    try:
        values = [s.decode("utf-8") for s in tensor.string_data]
    except UnicodeDecodeError as e:
        raise ConversionError(f"{where}: string tensor '{tensor.name}' holds bytes that are not UTF-8 ({e})") from e
    out = np.empty(len(values), dtype=object)
    out[:] = values
    dims = tuple(int(d) for d in tensor.dims)
    if int(np.prod(dims, dtype=np.int64)) != len(values):
        raise ConversionError(f"{where}: string tensor '{tensor.name}' has {len(values)} strings for shape {list(dims)}")
    return out.reshape(dims)


def _value_spec(v: onnx.ValueInfoProto, where: str) -> ValueSpec:
    """A graph input or output: a tensor, sequence(tensor), optional(tensor) or
    optional(sequence(tensor)); dtype and shape are the tensor's (each element's)."""
    t, kind = v.type, "tensor"
    if t.HasField("optional_type"):
        t, kind = t.optional_type.elem_type, "optional"
    if t.HasField("sequence_type"):
        t, kind = t.sequence_type.elem_type, "sequence" if kind == "tensor" else "optional(sequence)"
    if not t.HasField("tensor_type"):
        raise ConversionError(f"{where} '{v.name}' has type {type_name(v.type)}; Walle supports "
                              "tensors, sequences of tensors and optionals of those (not maps or nested sequences)")
    tt = t.tensor_type
    if tt.elem_type in (14, 15) or tt.elem_type > 26:
        raise ConversionError(f"{where} '{v.name}' has type {_dtype_name(tt.elem_type)}, which this build does not support")
    # A sequence element or optional value whose type gives no shape may have any rank. (A plain
    # tensor without a shape keeps its old meaning: rank 0.)
    unknown_rank = kind != "tensor" and not tt.HasField("shape")
    dims, names = [], []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
            names.append("")
        else:
            dims.append(-1)
            names.append(d.dim_param)
    return ValueSpec(v.name, int(tt.elem_type), dims, names, kind, unknown_rank)


def convert_model(model: onnx.ModelProto, source: str = "<model>") -> tuple[GraphSpec, ConversionReport]:
    """Converts an in-memory ONNX model; returns the graph to serialize and a report.

    Every failure is a walle.Error naming ``source``: the specific checks raise their own, and
    a malformed model that trips anything else (a mutated protobuf with a bytes name, an
    attribute of an unexpected kind) is a ConversionError saying what went wrong, never a
    bare Python exception (tests/fuzz/fuzz_converter.py keeps it so).
    """
    try:
        graph, report = _convert_model(model, source)
        serialize(graph, producer="check")  # what convert() writes must serialize too
        return graph, report
    except (ConversionError, UnsupportedOpError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError,
            UnicodeError, ZeroDivisionError) as e:
        raise ConversionError(f"{source}: malformed model ({type(e).__name__}: {e})") from e


# The engine's limit on one dimension (csrc/core/tensor.h kMaxDim); the loader refuses more.
MAX_DIM = 1 << 40


def _check_declared_dims(graph: onnx.GraphProto, source: str) -> None:
    """Declared dimensions (inputs, outputs, value_info, initializers, in every subgraph) within
    0..MAX_DIM, checked before onnx's shape inference sees the model: on a dimension near 2^63 its
    data propagation runs for minutes (a fuzzer's finding), and the loader would refuse the
    converted file anyway."""

    def visit(g: onnx.GraphProto) -> None:
        for kind, values in (("graph input", g.input), ("graph output", g.output), ("value", g.value_info)):
            for v in values:
                t = v.type
                while t.HasField("optional_type") or t.HasField("sequence_type"):
                    t = t.optional_type.elem_type if t.HasField("optional_type") else t.sequence_type.elem_type
                for d in t.tensor_type.shape.dim if t.HasField("tensor_type") else ():
                    if d.HasField("dim_value") and not 0 <= d.dim_value <= MAX_DIM:
                        raise ConversionError(f"{source}: {kind} '{v.name}' has dimension {d.dim_value}, "
                                              f"outside 0..2^40")
        for t in g.initializer:
            if any(not 0 <= d <= MAX_DIM for d in t.dims):
                raise ConversionError(f"{source}: initializer '{t.name}' has dims {list(t.dims)}, outside 0..2^40")
        for node in g.node:
            for a in node.attribute:
                for sub in [a.g, *a.graphs] if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) else ():
                    visit(sub)

    visit(graph)


def _convert_model(model: onnx.ModelProto, source: str) -> tuple[GraphSpec, ConversionReport]:
    opset = _opset(model, source)
    graph = model.graph
    _check_supported(graph, source)
    _check_declared_dims(graph, source)
    inferred = infer_shapes(model, source)  # in a guarded worker: onnx may crash on malformed models
    report = ConversionReport(source=source, opset=opset, nodes_in=len(graph.node))

    constants: dict[str, np.ndarray] = {t.name: _to_array(t, source) for t in graph.initializer}
    new_constant_ids = iter(range(1 << 30))

    def add_constant(hint: str, array: np.ndarray) -> str:
        name = f"{hint}__{next(new_constant_ids)}"
        constants[name] = np.asarray(array)
        return name

    ranks = _ranks(inferred, constants)
    nesting = [0]  # bodies being converted, outermost first

    def subgraph(g: onnx.GraphProto, where: str) -> GraphSpec:
        """A control-flow body: normalized like the main graph, not folded (the engine
        decomposes it inline at plan time, where outer values are known)."""
        if len(nesting) > MAX_GRAPH_NESTING:
            raise ConversionError(f"{source}: {where}: control-flow bodies are nested more than "
                                  f"{MAX_GRAPH_NESTING} deep (the model file's verifier allows no more)")
        nesting.append(0)
        try:
            return _body(g, where)
        finally:
            nesting.pop()

    def _body(g: onnx.GraphProto, where: str) -> GraphSpec:
        own: dict[str, np.ndarray] = {t.name: _to_array(t, where) for t in g.initializer}

        def add_own(hint: str, array: np.ndarray) -> str:
            name = f"{hint}__{next(new_constant_ids)}"
            own[name] = np.asarray(array)
            return name

        body = convert_nodes(g.node, add_own)
        return GraphSpec([_subgraph_value(v) for v in g.input], [_subgraph_value(v) for v in g.output],
                         [TensorValue(k, v) for k, v in own.items()], body)

    def convert_nodes(graph_nodes, add) -> list[NodeSpec]:
        out: list[NodeSpec] = []
        for i, n in enumerate(graph_nodes):
            name = n.name or f"{n.op_type}_{i}"
            where = f"{n.op_type} '{name}'"
            attrs = {a.name: _attribute(a, where, subgraph) for a in n.attribute}
            spec = NodeSpec(n.op_type, name, list(n.input), list(n.output), attrs)
            out.extend(normalize_node(spec, opset, add, ranks.get))
        return out

    nodes = convert_nodes(graph.node, add_constant)
    nodes = expand_gradients(nodes, _static_shapes(inferred))

    static_shapes = _static_shapes(inferred)
    nodes, report.folded = fold_constants(nodes, constants, static_shapes, opset)
    nodes, report.batchnorms_fused = fold_batchnorm_into_conv(nodes, constants, source)

    initializer_names = set(constants)
    inputs = [_value_spec(v, "graph input") for v in graph.input if v.name not in initializer_names]
    outputs = [_value_spec(v, "graph output") for v in graph.output]
    nodes, report.dead_removed = remove_dead_nodes(nodes, [o.name for o in outputs])
    used = {name for node in nodes for name in node.inputs + implicit_inputs(node)} | {o.name for o in outputs}
    initializers = [TensorValue(k, v) for k, v in constants.items() if k in used]

    report.nodes_out = len(nodes)
    report.op_counts = dict(collections.Counter(n.op_type for n in nodes))
    report.weight_bytes = sum(t.array.nbytes for t in initializers)
    return GraphSpec(inputs, outputs, initializers, nodes), report


def _subgraph_value(v: onnx.ValueInfoProto) -> ValueSpec:
    """A body's input or output: bound by position, so a sequence or untyped value is
    described by its element type (float when unknown)."""
    t = v.type
    while t.HasField("sequence_type") or t.HasField("optional_type"):
        t = t.sequence_type.elem_type if t.HasField("sequence_type") else t.optional_type.elem_type
    if not t.HasField("tensor_type"):
        return ValueSpec(v.name, 1, [], [])
    dims = [int(d.dim_value) if d.HasField("dim_value") else -1 for d in t.tensor_type.shape.dim]
    return ValueSpec(v.name, int(t.tensor_type.elem_type) or 1, dims, [""] * len(dims))


def _ranks(model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> dict[str, int]:
    """Rank of every value whose rank is known (shape inference or a constant)."""
    ranks = {k: v.ndim for k, v in constants.items()}
    g = model.graph
    for v in list(g.input) + list(g.value_info) + list(g.output):
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            ranks.setdefault(v.name, len(v.type.tensor_type.shape.dim))
    return ranks


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Fully known shapes of every value shape inference could resolve."""
    shapes: dict[str, list[int]] = {}
    g = model.graph
    for v in list(g.input) + list(g.value_info) + list(g.output):
        if not v.type.HasField("tensor_type") or not v.type.tensor_type.HasField("shape"):
            continue
        dims = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = [int(d.dim_value) for d in dims]
    return shapes


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> ConversionReport:
    """Converts the ONNX file ``src`` into the Walle model file ``dst``.

    Raises :class:`walle.UnsupportedOpError` listing every unsupported operator (with node
    names) before anything is written, and :class:`walle.ConversionError` for a file that is
    not a readable ONNX model.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    try:
        model = onnx.load(src)
    except FileNotFoundError as e:
        raise ConversionError(f"{src}: no such file") from e
    except Exception as e:
        raise ConversionError(f"{src}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    try:
        graph, report = convert_model(model, source=src)
    except ConversionError as e:  # every conversion error names the model
        if str(e).startswith(src):
            raise
        raise ConversionError(f"{src}: {e}") from e
    data = serialize(graph, producer=f"walle-converter onnx-opset-{report.opset}")
    # Write to a temporary file and rename, so a failed write never leaves half a model; the
    # engine's loader checks the file first, so the converter never leaves one it would refuse.
    directory = Path(dst).resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".walle-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            _walle.check_model(tmp)
        except ModelError as e:
            raise ConversionError(f"{src}: the converted model would not load: {e}") from e
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return report
