"""Sequences and optionals at the graph boundary: sequence inputs are Python lists of arrays,
sequence outputs come back as lists, an empty optional is None (in and out). Expected
values come from onnx's reference evaluator and from onnxruntime, each where it runs the
model (onnxruntime lacks SequenceMap; the reference evaluator mishandles empty optionals:
Identity(None) raises, Optional() comes back as [None] with OptionalHasElement true)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import walle
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def seq_type(elem: int, shape=None) -> onnx.TypeProto:
    return helper.make_sequence_type_proto(helper.make_tensor_type_proto(elem, shape))


def opt_type(inner: onnx.TypeProto) -> onnx.TypeProto:
    return helper.make_optional_type_proto(inner)


def make_model(nodes, inputs, outputs, opset: int = 18, valid: bool = True) -> onnx.ModelProto:
    """`inputs`/`outputs` are (name, TypeProto) pairs; a `valid` model passes onnx's full check."""
    graph = helper.make_graph(nodes, "g", [helper.make_value_info(n, t) for n, t in inputs],
                              [helper.make_value_info(n, t) for n, t in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if valid:
        onnx.checker.check_model(model, full_check=True)
    return model


def load(model: onnx.ModelProto, tmp_path, name: str = "m") -> walle.Session:
    onnx.save(model, tmp_path / f"{name}.onnx")
    walle.convert(tmp_path / f"{name}.onnx", tmp_path / f"{name}.walle")
    return walle.load(tmp_path / f"{name}.walle")


def assert_same(got, want) -> None:
    """Sequence outputs compare by length then element-wise; an empty optional is None."""
    if want is None:
        assert got is None
        return
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)
        return
    want = np.asarray(want)
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


def check(model, session, feed: dict, use_ort: bool = True, use_ref: bool = True) -> dict:
    got = session.run(feed)
    if use_ref:
        for g, w in zip(got.values(), ReferenceEvaluator(model).run(None, feed), strict=True):
            assert_same(g, w)
    if use_ort:
        s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        for g, w in zip(got.values(), s.run(None, feed), strict=True):
            assert_same(g, w)
    return got


# --- sequence inputs and outputs ---

def seq_ops_model() -> onnx.ModelProto:
    nodes = [helper.make_node("SequenceAt", ["xs", "pos"], ["at"]),
             helper.make_node("SequenceLength", ["xs"], ["n"]),
             helper.make_node("ConcatFromSequence", ["xs"], ["cat"], axis=0)]
    return make_model(nodes, [("xs", seq_type(F, ["N", 3])), ("pos", helper.make_tensor_type_proto(I64, []))],
                      [("at", helper.make_tensor_type_proto(F, ["A", 3])), ("n", helper.make_tensor_type_proto(I64, [])),
                       ("cat", helper.make_tensor_type_proto(F, ["C", 3]))])


def test_sequence_input_at_length_concat(tmp_path):
    model = seq_ops_model()
    session = load(model, tmp_path)
    xs = [np.arange(6, dtype=np.float32).reshape(2, 3), -np.ones((1, 3), np.float32)]
    got = check(model, session, {"xs": xs, "pos": np.array(-1, np.int64)})
    assert got["n"] == 2 and got["cat"].shape == (3, 3)


def test_sequence_replans_when_length_or_shapes_change(tmp_path):
    """Length and element shapes are plan-time facts: each change re-plans, and going back
    to an earlier signature gives that signature's results again."""
    model = seq_ops_model()
    session = load(model, tmp_path)
    rng = np.random.default_rng(0)
    feeds = [[rng.standard_normal((r, 3)).astype(np.float32) for r in rows] for rows in ([2, 1], [1, 1, 4], [3], [2, 1])]
    concat_rows = []
    for xs in feeds:
        got = check(model, session, {"xs": xs, "pos": np.array(0, np.int64)}, use_ort=False)
        assert got["n"] == len(xs)
        concat_rows.append(got["cat"].shape[0])
    assert concat_rows == [3, 6, 3, 3]


def test_sequence_position_change_replans(tmp_path):
    """SequenceAt's position fed as a model input is a plan-time value: a new value re-plans."""
    model = seq_ops_model()
    session = load(model, tmp_path)
    xs = [np.full((1, 3), k, np.float32) for k in range(3)]
    for pos in (0, 2, -2, 1):
        got = session.run({"xs": xs, "pos": np.array(pos, np.int64)})
        np.testing.assert_array_equal(got["at"], xs[pos])


def test_sequence_element_needed_by_value(tmp_path):
    """A sequence element that shapes the plan (Reshape's shape) is planned as a constant and
    re-planned when its value changes, also when the sequence's length moves it."""
    nodes = [helper.make_node("SequenceAt", ["shapes", "last"], ["shape"]), helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = make_model(nodes, [("x", helper.make_tensor_type_proto(F, [6])), ("shapes", seq_type(I64, [2])),
                               ("last", helper.make_tensor_type_proto(I64, []))],
                       [("y", helper.make_tensor_type_proto(F, ["A", "B"]))])
    session = load(model, tmp_path)
    x = np.arange(6, dtype=np.float32)
    for shapes in ([[2, 3]], [[3, 2]], [[9, 9], [1, 6]], [[9, 9], [6, 1]], [[2, 3]]):
        feed = {"x": x, "shapes": [np.array(s, np.int64) for s in shapes], "last": np.array(-1, np.int64)}
        (y,) = check(model, session, feed).values()
        assert y.shape == tuple(shapes[-1])


def test_empty_sequence_input(tmp_path):
    model = make_model([helper.make_node("SequenceLength", ["xs"], ["n"])], [("xs", seq_type(F))],
                       [("n", helper.make_tensor_type_proto(I64, []))])
    session = load(model, tmp_path)
    assert session.run({"xs": []})["n"] == 0
    assert session.run({"xs": (np.zeros(2, np.float32),)})["n"] == 1  # a tuple is a sequence too


def test_split_to_sequence_output(tmp_path):
    model = make_model([helper.make_node("SplitToSequence", ["x", "split"], ["seq"], axis=1)],
                       [("x", helper.make_tensor_type_proto(F, [2, 5])), ("split", helper.make_tensor_type_proto(I64, [2]))],
                       [("seq", seq_type(F))])
    session = load(model, tmp_path)
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    got = check(model, session, {"x": x, "split": np.array([2, 3], np.int64)})
    assert [a.shape for a in got["seq"]] == [(2, 2), (2, 3)]
    assert session.outputs[0].kind == "sequence" and session.outputs[0].shape is None


def test_sequence_map_over_a_sequence_input(tmp_path):
    """The body runs once per element; elements of different lengths each get their own plan."""
    body = helper.make_graph([helper.make_node("Add", ["e", "t"], ["o"]), helper.make_node("Shape", ["e"], ["s"])],
                             "body", [helper.make_tensor_value_info("e", F, ["N"]), helper.make_tensor_value_info("t", F, [1])],
                             [helper.make_tensor_value_info("o", F, ["N"]), helper.make_tensor_value_info("s", I64, [1])])
    model = make_model([helper.make_node("SequenceMap", ["xs", "t"], ["ys", "shapes"], body=body)],
                       [("xs", seq_type(F, ["N"])), ("t", helper.make_tensor_type_proto(F, [1]))],
                       [("ys", seq_type(F, ["N"])), ("shapes", seq_type(I64, [1]))])
    session = load(model, tmp_path)
    xs = [np.arange(n, dtype=np.float32) for n in (3, 1, 4)]
    got = check(model, session, {"xs": xs, "t": np.array([0.5], np.float32)}, use_ort=False)
    assert [s.tolist() for s in got["shapes"]] == [[3], [1], [4]]


def test_sequence_insert_into_input_sequence_positional(tmp_path):
    """run() with a positional list: each entry is one input (here a list for the sequence)."""
    model = make_model([helper.make_node("SequenceInsert", ["xs", "x", "pos"], ["ys"])],
                       [("xs", seq_type(I64)), ("x", helper.make_tensor_type_proto(I64, [2])),
                        ("pos", helper.make_tensor_type_proto(I64, []))],
                       [("ys", seq_type(I64))])
    session = load(model, tmp_path)
    xs = [np.array([1, 2], np.int64), np.array([3], np.int64)]
    (ys,) = session.run([xs, np.array([9, 9], np.int64), np.array(1, np.int64)]).values()
    assert [a.tolist() for a in ys] == [[1, 2], [9, 9], [3]]
    check(model, session, {"xs": xs, "x": np.array([7, 8], np.int64), "pos": np.array(0, np.int64)})


def test_sequence_of_constants_is_not_folded_into_a_tensor(tmp_path):
    """The converter folds constant nodes; a sequence of constants must stay a sequence."""
    nodes = [helper.make_node("Constant", [], ["a"], value=helper.make_tensor("a", F, [2], [1, 2])),
             helper.make_node("Constant", [], ["b"], value=helper.make_tensor("b", F, [2], [3, 4])),
             helper.make_node("SequenceConstruct", ["a", "b", "x"], ["s"])]
    model = make_model(nodes, [("x", helper.make_tensor_type_proto(F, [2]))], [("s", seq_type(F, [2]))])
    session = load(model, tmp_path)
    check(model, session, {"x": np.array([5, 6], np.float32)})


# --- optionals ---

def optional_model() -> onnx.ModelProto:
    """has = OptionalHasElement(o); y = Identity(o) (an optional output); v = If(has,
    OptionalGetElement(o), zeros)."""
    then = helper.make_graph([helper.make_node("OptionalGetElement", ["o"], ["v1"])], "then", [],
                             [helper.make_tensor_value_info("v1", F, [3])])
    zeros = helper.make_tensor("z", F, [3], [0, 0, 0])
    other = helper.make_graph([helper.make_node("Constant", [], ["v2"], value=zeros)], "else", [],
                              [helper.make_tensor_value_info("v2", F, [3])])
    nodes = [helper.make_node("OptionalHasElement", ["o"], ["has"]), helper.make_node("Identity", ["o"], ["y"]),
             helper.make_node("If", ["has"], ["v"], then_branch=then, else_branch=other)]
    o = opt_type(helper.make_tensor_type_proto(F, [3]))
    return make_model(nodes, [("o", o)], [("has", helper.make_tensor_type_proto(TensorProto.BOOL, [])), ("y", o),
                                         ("v", helper.make_tensor_type_proto(F, [3]))])


def test_optional_input_present_then_absent(tmp_path):
    model = optional_model()
    session = load(model, tmp_path)
    info = session.inputs[0]
    assert (info.kind, info.is_optional, info.is_sequence, info.shape) == ("optional", True, False, (3,))
    x = np.array([1, 2, 3], np.float32)
    got = check(model, session, {"o": x})
    assert got["has"] and got["y"] is not None
    got = check(model, session, {"o": None}, use_ref=False)
    assert not got["has"] and got["y"] is None
    np.testing.assert_array_equal(got["v"], np.zeros(3, np.float32))
    assert session.run({})["y"] is None  # an optional input may be left out of a dict
    np.testing.assert_array_equal(session.run([x])["y"], x)  # and back: a present value re-plans


def test_optional_sequence_input_and_output(tmp_path):
    """optional(sequence): None or a list; Identity passes either through."""
    t = opt_type(seq_type(F, [2]))
    model = make_model([helper.make_node("Identity", ["o"], ["y"]), helper.make_node("OptionalHasElement", ["o"], ["h"])],
                       [("o", t)], [("y", t), ("h", helper.make_tensor_type_proto(TensorProto.BOOL, []))])
    session = load(model, tmp_path)
    assert session.inputs[0].kind == "optional(sequence)" and session.inputs[0].is_sequence
    xs = [np.ones(2, np.float32), np.zeros(2, np.float32)]
    check(model, session, {"o": xs})
    got = check(model, session, {"o": None}, use_ref=False)
    assert got["y"] is None and not got["h"]
    with pytest.raises(walle.InputError, match=r"input 'o': expected a list of arrays"):
        session.run({"o": xs[0]})


def test_empty_optional_constructed_in_the_graph(tmp_path):
    """Optional() with a type attribute is empty; OptionalHasElement with no input is false."""
    t = opt_type(seq_type(F, [5]))
    nodes = [helper.make_node("Optional", [], ["e"], type=seq_type(F, [5])),
             helper.make_node("OptionalHasElement", ["e"], ["h"]),
             helper.make_node("OptionalHasElement", [""], ["h0"]),
             helper.make_node("SequenceConstruct", ["x"], ["s"]), helper.make_node("Optional", ["s"], ["p"])]
    model = make_model(nodes, [("x", helper.make_tensor_type_proto(F, [5]))],
                       [("e", t), ("h", helper.make_tensor_type_proto(TensorProto.BOOL, [])),
                        ("h0", helper.make_tensor_type_proto(TensorProto.BOOL, [])), ("p", t)])
    session = load(model, tmp_path)
    got = check(model, session, {"x": np.arange(5, dtype=np.float32)}, use_ref=False)
    assert got["e"] is None and not got["h"] and not got["h0"] and len(got["p"]) == 1


def test_loop_carries_an_optional_sequence_that_starts_empty(tmp_path):
    """Loop state starting as None: the body tests OptionalHasElement and builds a sequence
    (ONNX's loop16_seq_none, run here with the input absent as well as present)."""
    t_seq = seq_type(F, [])
    t_opt = opt_type(t_seq)
    start = helper.make_graph([helper.make_node("Constant", [], ["c"], value=helper.make_tensor("c", F, [], [0])),
                               helper.make_node("SequenceConstruct", ["c"], ["s0"])], "start", [],
                              [helper.make_value_info("s0", t_seq)])
    carry = helper.make_graph([helper.make_node("OptionalGetElement", ["o_in"], ["s1"])], "carry", [],
                              [helper.make_value_info("s1", t_seq)])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("OptionalHasElement", ["o_in"], ["has"]),
         helper.make_node("Not", ["has"], ["none"]),
         helper.make_node("If", ["none"], ["s"], then_branch=start, else_branch=carry),
         helper.make_node("Cast", ["i"], ["f"], to=F), helper.make_node("SequenceInsert", ["s", "f"], ["s_out"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                 helper.make_value_info("o_in", t_opt)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_value_info("s_out", t_seq)])
    model = make_model([helper.make_node("Loop", ["n", "", "o"], ["r"], body=body)],
                       [("n", helper.make_tensor_type_proto(I64, [])), ("o", t_opt)], [("r", t_seq)])
    session = load(model, tmp_path)
    for o in (None, [np.array(5, np.float32), np.array(6, np.float32)]):
        # onnxruntime only: the reference evaluator hands back the optional loop state unchanged
        got = check(model, session, {"n": np.array(3, np.int64), "o": o}, use_ref=False)
        assert [float(a) for a in got["r"]] == ([0, 0, 1, 2] if o is None else [5, 6, 0, 1, 2])


def test_optional_get_element_on_plain_tensor_and_sequence(tmp_path):
    """ONNX 18: OptionalGetElement and OptionalHasElement also take non-optional values."""
    nodes = [helper.make_node("OptionalGetElement", ["x"], ["y"]), helper.make_node("OptionalGetElement", ["xs"], ["ys"]),
             helper.make_node("OptionalHasElement", ["x"], ["h"])]
    model = make_model(nodes, [("x", helper.make_tensor_type_proto(F, [2])), ("xs", seq_type(F, [2]))],
                       [("y", helper.make_tensor_type_proto(F, [2])), ("ys", seq_type(F, [2])),
                        ("h", helper.make_tensor_type_proto(TensorProto.BOOL, []))])
    session = load(model, tmp_path)
    check(model, session, {"x": np.array([1, 2], np.float32), "xs": [np.array([3, 4], np.float32)]})


def test_optional_get_element_of_empty_is_an_error(tmp_path):
    o = opt_type(helper.make_tensor_type_proto(F, [3]))
    model = make_model([helper.make_node("OptionalGetElement", ["o"], ["y"], name="get")], [("o", o)],
                       [("y", helper.make_tensor_type_proto(F, [3]))])
    session = load(model, tmp_path)
    np.testing.assert_array_equal(session.run({"o": np.ones(3, np.float32)})["y"], np.ones(3, np.float32))
    with pytest.raises(walle.Error, match="OptionalGetElement 'get': the optional is empty"):
        session.run({"o": None})


# --- bad input ---

def test_bad_inputs_name_the_input_and_what_was_expected(tmp_path):
    session = load(seq_ops_model(), tmp_path)
    pos = np.array(0, np.int64)
    good = [np.zeros((2, 3), np.float32)]
    cases = [
        ({"xs": np.zeros((2, 3), np.float32), "pos": pos}, r"input 'xs': expected a list of arrays \(a sequence\)"),
        ({"xs": good, "pos": [pos]}, r"input 'pos': expected an array, got a list"),
        ({"xs": None, "pos": pos}, r"input 'xs': got None, but the input is not optional"),
        ({"xs": good, "pos": None}, r"input 'pos': got None, but the input is not optional"),
        ({"xs": [good[0], np.zeros((1, 3), np.int64)], "pos": pos}, r"input 'xs' item 1: expected dtype float32, got int64"),
        ({"xs": [np.zeros(3, np.float32)], "pos": pos}, r"input 'xs' item 0: expected shape \[N, 3\], got \[3\]"),
        ({"xs": [np.zeros((2, 4), np.float32)], "pos": pos}, r"input 'xs' item 0: expected shape \[N, 3\], got \[2, 4\]"),
        ({"xs": [good[0], "text"], "pos": pos}, r"input 'xs' item 1"),
        ({"pos": pos}, r"missing input\(s\) \['xs'\]"),
    ]
    for feed, message in cases:
        with pytest.raises(walle.InputError, match=message):
            session.run(feed)
    session.run({"xs": good, "pos": pos})  # the session still works


def test_engine_checks_kinds_without_numpy_layer(tmp_path):
    """The engine checks kinds itself (a sub-interpreter passes buffers straight through)."""
    session = load(seq_ops_model(), tmp_path)
    t = walle.Tensor(np.zeros((1, 3), np.float32))
    pos = walle.Tensor(np.array(0, np.int64))
    with pytest.raises(walle.InputError, match=r"input 'xs': expected a sequence of tensors, got a tensor"):
        session._engine.run([t, pos], [])
    with pytest.raises(walle.InputError, match=r"input 'pos': expected a tensor, got a sequence of 1 tensors"):
        session._engine.run([[t], [pos]], [])
    with pytest.raises(walle.InputError, match=r"input 'xs': expected a sequence of tensors, got None"):
        session._engine.run([None, pos], [])
    with pytest.raises(walle.InputError, match=r"input 'xs' item 0: expected an array"):
        session._engine.run([[object()], pos], [])
    (at, n, cat) = session._engine.run([[t, t], pos], [])
    assert isinstance(at, walle.Tensor) and np.asarray(n) == 2 and np.asarray(cat).shape == (2, 3)


def test_sequence_where_a_tensor_is_needed_is_an_error(tmp_path):
    model = make_model([helper.make_node("Abs", ["xs"], ["y"], name="abs")], [("xs", seq_type(F))],
                       [("y", helper.make_tensor_type_proto(F, None))], valid=False)  # onnx's checker rejects it too
    onnx.save(model, tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    session = walle.load(tmp_path / "m.walle")
    with pytest.raises(walle.Error, match="Abs 'abs': got a sequence where a tensor is expected"):
        session.run({"xs": [np.ones(2, np.float32)]})


# --- model format and introspection ---

def test_tensor_info_repr_and_kinds(tmp_path):
    session = load(seq_ops_model(), tmp_path)
    xs, pos = session.inputs
    assert repr(pos) == "TensorInfo(name='pos', dtype='int64', shape=())"  # the tensor case is unchanged
    assert pos.kind == "tensor" and not pos.is_sequence and not pos.is_optional
    assert repr(xs) == "TensorInfo(name='xs', kind='sequence', dtype='float32', shape=('N', 3))"
    assert xs != walle.TensorInfo("xs", "float32", ("N", 3))  # same shape and dtype, different kind


def test_graph_output_kind_must_match_what_the_graph_computes(tmp_path):
    """A sequence computed for an output declared as a tensor is a model error, not a wrong answer."""
    model = make_model([helper.make_node("SequenceConstruct", ["x"], ["s"])], [("x", helper.make_tensor_type_proto(F, [2]))],
                       [("s", helper.make_tensor_type_proto(F, [2]))], valid=False)
    onnx.save(model, tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    with pytest.raises(walle.ModelError, match="graph output 's' is declared a tensor, but the graph computes a sequence"):
        walle.load(tmp_path / "m.walle")


def test_unsupported_boundary_types_are_conversion_errors(tmp_path):
    t = helper.make_sequence_type_proto(seq_type(F))
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [("x", t)], [("y", t)], valid=False)
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(walle.ConversionError, match=r"graph input 'x' has type seq\(seq\(tensor\(float\)\)\)"):
        walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")


def test_loader_rejects_an_unknown_value_kind(tmp_path, monkeypatch):
    """The FlatBuffers verifier does not check enum ranges; the loader does."""
    from walle.converters.onnx import writer

    spec = writer.GraphSpec([writer.ValueSpec("x", 1, [2], [""], kind="future")],
                            [writer.ValueSpec("x", 1, [2], [""])], [], [])
    monkeypatch.setitem(writer.VALUE_KINDS, "future", 9)
    (tmp_path / "bad.walle").write_bytes(writer.serialize(spec, producer="test"))
    with pytest.raises(walle.ModelError, match="graph input 'x': unknown value kind 9"):
        walle.load(tmp_path / "bad.walle")


def test_format_version_2_only_for_sequence_models(tmp_path, monkeypatch):
    """Sequence/optional graph values need format version 2 (a build reading only version 1
    then refuses the file instead of misreading it); tensor-only models stay version 1."""
    from walle import _model_fb as fb
    from walle.converters.onnx import writer

    def version(path) -> int:
        return fb.Model.GetRootAs(path.read_bytes(), 4).FormatVersion()  # after the 4-byte size prefix

    load(seq_ops_model(), tmp_path, "seq")
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", helper.make_tensor_type_proto(F, [2]))],
                       [("y", helper.make_tensor_type_proto(F, [2]))])
    load(model, tmp_path, "plain")
    assert (version(tmp_path / "seq.walle"), version(tmp_path / "plain.walle")) == (2, 1)
    assert walle._walle.format_version() == 2
    x = writer.ValueSpec("x", 1, [], [], kind="sequence")
    monkeypatch.setattr(writer, "SEQUENCES_FORMAT_VERSION", 1)  # a sequence in a version-1 file is inconsistent
    (tmp_path / "v1.walle").write_bytes(writer.serialize(writer.GraphSpec([x], [x], [], []), producer="test"))
    with pytest.raises(walle.ModelError, match="graph value 'x' is a sequence, which format version 1 cannot hold"):
        walle.load(tmp_path / "v1.walle")
