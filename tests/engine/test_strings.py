"""String tensors end to end: numpy string arrays in and out, string constants in the model
file, the data-movement ops moving strings unchanged, the string ops (StringConcat,
StringSplit, RegexFullMatch, StringNormalizer, LabelEncoder, Equal, Cast to and from string)
against the onnx reference evaluator, numpy and onnxruntime, and clear errors for bad input,
hostile model files and arithmetic on strings."""

from __future__ import annotations

import gc
import re

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto as TP
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from walle.converters.onnx import writer
from walle.converters.onnx.writer import GraphSpec, NodeSpec, TensorValue, ValueSpec, serialize

WORDS = np.array([["apple", "Straße", "中文"], ["", "naïve café", "ǅemal ΣΊΣΥΦΟΣ"]], dtype=object)


def strings(*values) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = values
    return a


def S(name, shape=None):
    return helper.make_tensor_value_info(name, TP.STRING, shape)


def T(name, elem, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def make(nodes, inputs, outputs, inits=(), opset=20, ml=False) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 4)] if ml else [])
    return helper.make_model(graph, opset_imports=opsets)


def load(model: onnx.ModelProto, tmp_path, name="m", **kw) -> walle.Session:
    onnx.save(model, tmp_path / f"{name}.onnx")
    walle.convert(tmp_path / f"{name}.onnx", tmp_path / f"{name}.walle")
    return walle.load(tmp_path / f"{name}.walle", **kw)


def run(model, feed, tmp_path, **kw) -> list[np.ndarray]:
    return list(load(model, tmp_path, **kw).run(feed).values())


def reference(model, feed) -> list[np.ndarray]:
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feed)]


def assert_strings(got: np.ndarray, want) -> None:
    want = np.asarray(want)
    assert got.dtype == object and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    assert all(isinstance(v, str) for v in got.reshape(-1))
    assert got.tolist() == want.astype(object).tolist()


# --- I/O and the model file ---------------------------------------------------------------

def test_identity_round_trip_and_input_info(tmp_path):
    session = load(make([helper.make_node("Identity", ["x"], ["y"])], [S("x", [2, 3])], [S("y", [2, 3])]), tmp_path)
    assert session.inputs[0].dtype == "string" and session.outputs[0].dtype == "string"
    assert_strings(session.run({"x": WORDS})["y"], WORDS)
    # numpy str ('U') and UTF-8 bytes ('S') arrays are accepted too
    assert_strings(session.run({"x": WORDS.astype(str)})["y"], WORDS)
    encoded = np.array([[w.encode() for w in row] for row in WORDS.tolist()])
    assert encoded.dtype.kind == "S"
    assert_strings(session.run({"x": encoded})["y"], WORDS)


def test_string_constants_come_from_the_model_file(tmp_path):
    suffix = numpy_helper.from_array(strings("-α", "", "-末"), "suffix")
    model = make([helper.make_node("StringConcat", ["x", "suffix"], ["y"])], [S("x", [3])], [S("y", [3])], [suffix])
    x = strings("a", "b", "c")
    assert_strings(run(model, {"x": x}, tmp_path)[0], strings("a-α", "b", "c-末"))


def test_data_movement_ops_move_strings(tmp_path):
    """Reshape, Transpose, Concat, Gather, Where, Slice, Unsqueeze, Squeeze, Expand, Tile,
    Flatten, Split, GatherElements, ScatterElements: the existing byte-moving kernels, checked
    against numpy."""
    c = lambda name, values: numpy_helper.from_array(np.asarray(values, np.int64), name)
    nodes = [
        helper.make_node("Reshape", ["x", "shape32"], ["reshape"]),
        helper.make_node("Transpose", ["x"], ["transpose"], perm=[1, 0]),
        helper.make_node("Concat", ["x", "x"], ["concat"], axis=0),
        helper.make_node("Gather", ["x", "idx"], ["gather"], axis=1),
        helper.make_node("Where", ["cond", "x", "other"], ["where"]),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["slice"]),
        helper.make_node("Unsqueeze", ["x", "axis0"], ["unsqueeze"]),
        helper.make_node("Squeeze", ["unsqueeze", "axis0"], ["squeeze"]),
        helper.make_node("Expand", ["row", "shape23"], ["expand"]),
        helper.make_node("Tile", ["x", "reps"], ["tile"]),
        helper.make_node("Flatten", ["x"], ["flatten"], axis=0),
        helper.make_node("Split", ["x"], ["split0", "split1"], axis=1, num_outputs=2),
        helper.make_node("GatherElements", ["x", "gidx"], ["gather_elements"], axis=1),
        helper.make_node("ScatterElements", ["x", "gidx", "other"], ["scatter"], axis=1),
    ]
    outs = ["reshape", "transpose", "concat", "gather", "where", "slice", "unsqueeze", "squeeze", "expand", "tile",
            "flatten", "split0", "split1", "gather_elements", "scatter"]
    gidx = np.array([[2, 0, 1], [1, 2, 0]], np.int64)
    inits = [c("shape32", [3, 2]), c("idx", [2, 0, 2]), c("starts", [1]), c("ends", [3]), c("axes", [1]),
             c("axis0", [0]), c("shape23", [2, 3]), c("reps", [2, 1]), c("gidx", gidx)]
    model = make(nodes, [S("x", [2, 3]), S("other", [2, 3]), S("row", [1, 3]), T("cond", TP.BOOL, [2, 3])],
                 [S(o) for o in outs], inits, opset=18)
    x = WORDS
    other = np.array([["o1", "o2", "o3"], ["o4", "ö5", "o6"]], dtype=object)
    row = strings("r0", "r1", "r2").reshape(1, 3)
    cond = np.array([[True, False, True], [False, True, False]])
    got = dict(zip(outs, run(model, {"x": x, "other": other, "row": row, "cond": cond}, tmp_path), strict=True))
    scatter = x.copy()
    for i in range(2):
        for j in range(3):
            scatter[i, gidx[i, j]] = other[i, j]
    want = {
        "reshape": x.reshape(3, 2), "transpose": x.T, "concat": np.concatenate([x, x]), "gather": x[:, [2, 0, 2]],
        "where": np.where(cond, x, other), "slice": x[:, 1:3], "unsqueeze": x[None], "squeeze": x,
        "expand": np.broadcast_to(row, (2, 3)), "tile": np.tile(x, (2, 1)), "flatten": x.reshape(1, 6),
        "split0": x[:, :2], "split1": x[:, 2:], "gather_elements": np.take_along_axis(x, gidx, 1), "scatter": scatter,
    }
    for name in outs:
        assert_strings(got[name], want[name])


def test_more_data_movement_on_strings(tmp_path):
    """Pad (strings pad with "" unless given another string, as the spec says), Compress, ReverseSequence, SpaceToDepth,
    ConstantOfShape with a string value."""
    c = lambda name, values, dtype=np.int64: numpy_helper.from_array(np.asarray(values, dtype), name)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["pad"]),
             helper.make_node("Pad", ["x", "pads2", "dots"], ["pad_value"]),
             helper.make_node("Compress", ["x", "keep"], ["compress"], axis=1),
             helper.make_node("ReverseSequence", ["x", "lens"], ["reverse"], batch_axis=0, time_axis=1),
             helper.make_node("SpaceToDepth", ["x4"], ["s2d"], blocksize=2),
             helper.make_node("ConstantOfShape", ["shape"], ["filled"],
                              value=helper.make_tensor("v", TP.STRING, [1], ["ünï"]))]
    outs = ["pad", "pad_value", "compress", "reverse", "s2d", "filled"]
    inits = [c("pads", [0, 1, 0, 0]), c("keep", [True, False, True], bool), c("lens", [3, 2]), c("shape", [2, 1]),
             c("pads2", [1, 0, 0, -1]), numpy_helper.from_array(strings("…"), "dots")]
    model = make(nodes, [S("x", [2, 3]), S("x4", [1, 1, 2, 2])], [S(o) for o in outs], inits, opset=18)
    x4 = strings("a", "b", "c", "d").reshape(1, 1, 2, 2)
    got = dict(zip(outs, run(model, {"x": WORDS, "x4": x4}, tmp_path), strict=True))
    assert_strings(got["pad"], np.concatenate([np.full((2, 1), "", dtype=object), WORDS], axis=1))
    assert_strings(got["pad_value"], np.concatenate([np.full((1, 2), "…", dtype=object), WORDS[:, :2]]))
    assert_strings(got["compress"], WORDS[:, [0, 2]])
    assert_strings(got["reverse"], np.array([WORDS[0, ::-1], [WORDS[1, 1], WORDS[1, 0], WORDS[1, 2]]], dtype=object))
    assert_strings(got["s2d"], x4.reshape(1, 4, 1, 1))
    assert_strings(got["filled"], np.full((2, 1), "ünï", dtype=object))


@pytest.mark.parametrize("sorted_", [1, 0])
def test_unique_on_strings(sorted_, tmp_path):
    model = make([helper.make_node("Unique", ["x"], ["y", "first", "inverse", "counts"], sorted=sorted_)], [S("x", [7])],
                 [S("y"), T("first", TP.INT64), T("inverse", TP.INT64), T("counts", TP.INT64)], opset=11)
    check_reference(model, {"x": strings("b", "é", "a", "b", "", "z", "é")}, tmp_path)


def test_outputs_outlive_the_run_and_its_inputs(tmp_path):
    """String outputs point into the run's arena, the inputs or the model: each output keeps
    what it points into alive, so it stays valid after later runs and after its input is gone."""
    model = make([helper.make_node("StringConcat", ["x", "x"], ["twice"]), helper.make_node("Identity", ["x"], ["same"])],
                 [S("x", [2])], [S("twice", [2]), S("same", [2])])
    session = load(model, tmp_path)
    engine = session._engine
    first = engine.run([walle.Tensor.from_strings(["ab", "ünï"], [2])], [])
    gc.collect()
    for k in range(20):  # later runs make and free their own strings
        engine.run([walle.Tensor.from_strings([f"run{k}" * 50, "x"], [2])], [])
    assert first[0].strings() == ["abab", "ünïünï"]
    assert first[1].strings() == ["ab", "ünï"]
    assert first[1].tolist() == ["ab", "ünï"]


def test_scalar_and_empty_string_tensors(tmp_path):
    model = make([helper.make_node("StringConcat", ["x", "y"], ["z"])], [S("x", []), S("y", [0])], [S("z")])
    z = run(model, {"x": np.array("cat", dtype=object), "y": np.zeros(0, dtype=object)}, tmp_path)[0]
    assert z.shape == (0,) and z.dtype == object


# --- bad input -----------------------------------------------------------------------------

@pytest.fixture()
def identity_session(tmp_path):
    return load(make([helper.make_node("Identity", ["x"], ["y"])], [S("x", [2])], [S("y", [2])]), tmp_path)


def test_non_string_elements_are_an_input_error(identity_session):
    with pytest.raises(walle.InputError, match=r"input 'x': element 1 is a int, expected str"):
        identity_session.run({"x": strings("a", 7)})
    with pytest.raises(walle.InputError, match=r"input 'x': element 0 is a NoneType"):
        identity_session.run({"x": strings(None, "b")})


def test_wrong_dtype_is_an_input_error(identity_session, tmp_path):
    with pytest.raises(walle.InputError, match=r"input 'x': expected dtype string.*float32"):
        identity_session.run({"x": np.zeros(2, np.float32)})
    floats = load(make([helper.make_node("Relu", ["x"], ["y"])], [T("x", TP.FLOAT, [2])], [T("y", TP.FLOAT, [2])]),
                  tmp_path, "relu")
    with pytest.raises(walle.InputError, match=r"input 'x': expected dtype float32"):
        floats.run({"x": strings("1", "2")})


def test_text_that_is_not_utf8_is_an_input_error(identity_session):
    with pytest.raises(walle.InputError, match="cannot be encoded as UTF-8"):
        identity_session.run({"x": strings("ok", "\ud800")})  # a lone surrogate
    with pytest.raises(walle.InputError, match="not valid UTF-8"):
        identity_session.run({"x": np.array([b"ok", b"\xff\xfe"])})


def test_wrong_shape_is_an_input_error(identity_session):
    with pytest.raises(walle.InputError, match=r"input 'x': expected shape \[2\]"):
        identity_session.run({"x": strings("a", "b", "c")})


def test_arithmetic_on_strings_is_a_clear_error(tmp_path):
    for op in ("Add", "Mul", "Less"):
        model = make([helper.make_node(op, ["x", "x"], ["y"])], [S("x", [2])], [S("y", [2])])
        with pytest.raises(walle.Error, match=f"{op} '{op}_0': Binary {op} is not defined on string tensors"):
            load(model, tmp_path, op)
    model = make([helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0)], [S("x", [2])], [S("y", [])])
    with pytest.raises(walle.Error, match="Reduce is not defined on string tensors"):
        load(model, tmp_path, "reduce")
    model = make([helper.make_node("Neg", ["x"], ["y"])], [S("x", [2])], [S("y", [2])])
    with pytest.raises(walle.Error, match="Unary Neg is not defined on string tensors"):
        load(model, tmp_path, "neg")


# --- hostile model files ---------------------------------------------------------------------

def _string_model(path, payload=None, monkeypatch=None) -> None:
    spec = GraphSpec([ValueSpec("x", 8, [3], [""])], [ValueSpec("y", 8, [3], [""])],
                     [TensorValue("k", strings("ab", "ç", "def"))], [NodeSpec("StringConcat", "cat", ["x", "k"], ["y"])])
    if payload is not None:
        monkeypatch.setattr(writer, "string_payload", lambda array, name: payload)
    path.write_bytes(serialize(spec, "test"))


def test_string_constant_loads(tmp_path):
    _string_model(tmp_path / "ok.walle")
    y = walle.load(tmp_path / "ok.walle").run({"x": strings("1", "2", "3")})["y"]
    assert_strings(y, strings("1ab", "2ç", "3def"))


@pytest.mark.parametrize(("payload", "message"), [
    ((b"abcdef", np.array([4, 2, 6], np.uint64)), r"string 1 ends at 2, outside \[4, 6\]"),
    ((b"abcdef", np.array([2, 4, 9], np.uint64)), r"string 2 ends at 9, outside \[4, 6\]"),
    ((b"abcdef", np.array([3, 6], np.uint64)), "2 string ends for 3 elements"),
    ((b"abcdef", np.array([1, 2, 3], np.uint64)), "the strings end at 3 of 6 bytes"),
    ((b"ab\xff\xfeef", np.array([2, 4, 6], np.uint64)), "string 1 is not valid UTF-8"),
    ((b"ab\xc0\xafef", np.array([2, 4, 6], np.uint64)), "string 1 is not valid UTF-8"),  # overlong '/'
    ((b"abc", np.zeros(0, np.uint64)), "0 string ends for 3 elements"),
])
def test_hostile_string_offsets_are_a_model_error(payload, message, tmp_path, monkeypatch):
    _string_model(tmp_path / "bad.walle", payload, monkeypatch)
    with pytest.raises(walle.ModelError, match=message):
        walle.load(tmp_path / "bad.walle")


def test_string_attribute_that_is_not_utf8_is_a_model_error(tmp_path):
    spec = GraphSpec([ValueSpec("x", 8, [2], [""])], [ValueSpec("y", 8, [2], [""]), ValueSpec("n", 7, [2], [""])], [],
                     [NodeSpec("StringSplit", "split", ["x"], ["y", "n"], {"delimiter": "\udcff"})])
    with pytest.raises(UnicodeEncodeError):  # the writer itself refuses it...
        serialize(spec, "test")
    spec.nodes[0].attrs["delimiter"] = "é"
    data = serialize(spec, "test").replace("é".encode(), b"\xff\xfe")  # ...so corrupt the file's bytes
    (tmp_path / "bad.walle").write_bytes(data)
    with pytest.raises(walle.ModelError, match="attribute 'delimiter': a string is not valid UTF-8"):
        walle.load(tmp_path / "bad.walle")


def test_corrupted_string_model_never_crashes(tmp_path):
    _string_model(tmp_path / "ok.walle")
    data = bytearray((tmp_path / "ok.walle").read_bytes())
    rng = np.random.default_rng(3)
    outcomes = {"error": 0, "ran": 0}
    for i in range(200):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), 3):
            bad[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"flip{i}.walle"
        path.write_bytes(bad)
        try:
            y = walle.load(path).run({"x": strings("1", "2", "3")})["y"]
            assert all(isinstance(v, str) for v in y.reshape(-1))
            outcomes["ran"] += 1
        except walle.Error:
            outcomes["error"] += 1
    assert outcomes["error"] > 0


# --- the string ops --------------------------------------------------------------------------

def check_reference(model, feed, tmp_path):
    got, want = run(model, feed, tmp_path), reference(model, feed)
    for g, w in zip(got, want, strict=True):
        if w.dtype.kind in "OU":
            assert_strings(g, w)
        else:
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
    return got


def test_string_concat_broadcasts(tmp_path):
    model = make([helper.make_node("StringConcat", ["x", "y"], ["z"])], [S("x", [2, 1]), S("y", [3])], [S("z")])
    check_reference(model, {"x": strings("的", "é").reshape(2, 1), "y": strings("中", "", "-x")}, tmp_path)


def test_equal_on_strings_broadcasts(tmp_path):
    model = make([helper.make_node("Equal", ["x", "y"], ["z"])], [S("x", [2, 3]), S("y", [3])], [T("z", TP.BOOL)])
    y = strings("apple", "Strasse", "中文")
    got = check_reference(model, {"x": WORDS, "y": y}, tmp_path)[0]
    np.testing.assert_array_equal(got, WORDS == y)


@pytest.mark.parametrize(("delimiter", "maxsplit"), [(".", None), ("-", None), ("", None), (None, None), (None, 1),
                                                     (" ", 0), ("ab", 1), ("é", None)])
def test_string_split_matches_reference(delimiter, maxsplit, tmp_path):
    attrs = {k: v for k, v in (("delimiter", delimiter), ("maxsplit", maxsplit)) if v is not None}
    model = make([helper.make_node("StringSplit", ["x"], ["parts", "n"], **attrs)], [S("x", [2, 3])],
                 [S("parts"), T("n", TP.INT64)])
    x = np.array([["a.b.c", "o-n--x-", "  lead  and\u3000trail  "], ["", "xabyabz", "caféécrit é"]], dtype=object)
    check_reference(model, {"x": x}, tmp_path)


def test_string_split_replans_when_the_input_changes(tmp_path):
    model = make([helper.make_node("StringSplit", ["x"], ["parts", "n"])], [S("x", [2])], [S("parts"), T("n", TP.INT64)])
    session = load(model, tmp_path)
    for x in (strings("a b", "c"), strings("a b c d", ""), strings("", "")):
        parts, n = session.run({"x": x}).values()
        want, want_n = reference(model, {"x": x})
        assert_strings(parts, want)
        np.testing.assert_array_equal(n, want_n)


REGEX_CASES = [
    (r"www\.[\w.-]+\.\bcom\b", ["www.google.com", "www.facebook.com", "www.bbc.co.uk", "www..com"]),
    (r"(\W|^)[\w.\-]{0,25}@(yahoo|gmail)\.com(\W|$)", ["account@gmail.com", "account@hotmail.com", "x@yahoo.com "]),
    (r"a{2,3}b?", ["aa", "aaab", "aaaa", "ab", ""]),
    (r"[^aeiou]+", ["xyz", "xyaz", "", "中文"]),
    (r"(?i)hello\s+wörld", ["HELLO  WÖRLD", "hello wörld", "hellowörld"]),
    (r"\d+(\.\d+)?", ["12", "12.5", "12.", ".5"]),
    (r"(?:ab|cd)*", ["", "abcdab", "abc"]),
    (r"中.文", ["中x文", "中文文", "中文", "中éé文"]),
    (r"a.c", ["abc", "a\nc"]),
    (r"(?s)a.c", ["a\nc"]),
    (r"(?P<word>[a-z]+)-(?:x|y)?", ["ab-", "ab-x", "-x"]),
]


@pytest.mark.parametrize(("pattern", "texts"), REGEX_CASES, ids=[c[0] for c in REGEX_CASES])
def test_regex_full_match_agrees_with_python_re(pattern, texts, tmp_path):
    """On these patterns RE2 syntax and Python's re agree: \\w, \\d, \\s and \\b are ASCII in RE2
    (re.ASCII), while case folding under (?i) is Unicode in both."""
    model = make([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern=pattern)], [S("x", [len(texts)])],
                 [T("y", TP.BOOL)])
    got = run(model, {"x": strings(*texts)}, tmp_path)[0]
    flags = 0 if "(?i)" in pattern else re.ASCII
    np.testing.assert_array_equal(got, [re.fullmatch(pattern, t, flags) is not None for t in texts])


@pytest.mark.parametrize(("pattern", "texts", "want"), [
    (r"\x41\x{263A}[\x{1F600}-\x{1F64F}]", ["A☺😀", "A☺x", "a☺😀"], [True, False, False]),  # RE2 hex escapes
    (r"[[:alpha:]_]+\d*", ["abc_9", "9abc", "a_b_c", "é"], [True, False, True, False]),  # POSIX classes (ASCII)
    (r"(?i)[^a]b", ["Ab", "xB", "ab"], [False, True, False]),  # a negated class folds case before negating
])
def test_regex_re2_only_syntax(pattern, texts, want, tmp_path):
    model = make([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern=pattern)], [S("x", [len(texts)])],
                 [T("y", TP.BOOL)])
    np.testing.assert_array_equal(run(model, {"x": strings(*texts)}, tmp_path)[0], want)


def test_regex_random_patterns_agree_with_python_re(tmp_path):
    """Random patterns over the syntax RE2 and Python share (groups, alternation, classes, all
    the quantifiers, lazy ones included), each matched against random short texts."""
    rng = np.random.default_rng(7)

    def pick(options):
        return options[int(rng.integers(len(options)))]

    def alternation(depth):
        return "|".join("".join(piece(depth) for _ in range(int(rng.integers(1, 4)))) for _ in range(int(rng.integers(1, 3))))

    def piece(depth):
        r = rng.random()
        if depth < 3 and r < 0.2:
            a = "(" + alternation(depth + 1) + ")"
        elif depth < 3 and r < 0.3:
            a = "(?:" + alternation(depth + 1) + ")"
        elif r < 0.45:
            a = pick(["[ab]", "[^a]", "[a-c]", ".", "\\d", "[b-c1]"])
        else:
            a = pick(["a", "b", "c"])
        return a + pick(["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "*?", "+?"])

    patterns = [alternation(0) for _ in range(80)]
    texts = ["".join(pick(list("abc1")) for _ in range(int(rng.integers(0, 7)))) for _ in range(40)]
    nodes = [helper.make_node("RegexFullMatch", ["x"], [f"y{i}"], pattern=p) for i, p in enumerate(patterns)]
    model = make(nodes, [S("x", [len(texts)])], [T(f"y{i}", TP.BOOL) for i in range(len(patterns))])
    for pattern, got in zip(patterns, run(model, {"x": strings(*texts)}, tmp_path), strict=True):
        want = [re.fullmatch(pattern, t, re.ASCII) is not None for t in texts]
        assert got.tolist() == want, pattern


def test_regex_word_class_is_ascii_as_in_re2(tmp_path):
    model = make([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern=r"\w+")], [S("x", [2])], [T("y", TP.BOOL)])
    np.testing.assert_array_equal(run(model, {"x": strings("abc_1", "café")}, tmp_path)[0], [True, False])


@pytest.mark.parametrize(("pattern", "why"), [("(ab", "missing ')'"), ("a**", "repetition of a repetition"),
                                              ("(?=a)b", "lookaround"), (r"(a)\1", "backreferences"),
                                              ("[z-a]", "bad character range"), ("*a", "missing argument"),
                                              (r"\pL", "Unicode classes"), ("a{2000}", "above 1000"),
                                              ("a)", "unmatched ')'"), ("[ab", "missing ']'")])
def test_bad_regex_is_a_clear_error(pattern, why, tmp_path):
    model = make([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern=pattern, name="rx")], [S("x", [1])],
                 [T("y", TP.BOOL)])
    with pytest.raises(walle.Error, match=f"RegexFullMatch 'rx'.*{re.escape(why)}"):
        load(model, tmp_path)


def test_regex_on_long_text_neither_crashes_nor_backtracks(tmp_path):
    model = make([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern="(a|aa)*(b|a*)*c")], [S("x", [2])],
                 [T("y", TP.BOOL)])
    got = run(model, {"x": strings("a" * 200_000, "a" * 50_000 + "c")}, tmp_path)[0]
    np.testing.assert_array_equal(got, [False, True])


NORMALIZER_CASES = [  # (attributes, input) where the reference and the spec agree (ASCII text)
    ({"is_case_sensitive": 1}, [["monday", "tuesday"]]),
    ({"is_case_sensitive": 1, "stopwords": ["monday"]}, ["monday", "tuesday", "wednesday", "thursday"]),
    ({"case_change_action": "LOWER", "is_case_sensitive": 1, "stopwords": ["monday"]}, ["monday", "Tuesday"]),
    ({"case_change_action": "UPPER", "is_case_sensitive": 1, "stopwords": ["monday"]}, ["monday", "monday"]),
    ({"case_change_action": "UPPER", "stopwords": ["monday"]}, [["Monday", "tuesday", "wednesday", "MONDAY"]]),
]


@pytest.mark.parametrize(("attrs", "x"), NORMALIZER_CASES)
def test_string_normalizer_matches_reference(attrs, x, tmp_path):
    x = np.array(x, dtype=object)
    model = make([helper.make_node("StringNormalizer", ["x"], ["y"], **attrs)], [S("x", list(x.shape))], [S("y")])
    check_reference(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("action", ["UPPER", "LOWER"])
def test_string_normalizer_changes_unicode_case_as_python(action, tmp_path):
    """Case mapping is Python's str.upper()/lower() ("ß" -> "SS", "ﬁ" -> "FI", "İ" -> "i̇"),
    except that a word-final capital sigma lowers to σ, not ς (no context rules). The reference
    also strips accents (NFKD) first, which the spec does not ask for; onnxruntime does not."""
    words = ["straße", "Naïve", "ǆ", "σίσυφος", "ﬁne", "ÀÉÎÕÜ", "ΣΊΣΥΦΟΣ!", "İ", "中文", "ǅemal"]
    model = make([helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action=action)], [S("x", [len(words)])],
                 [S("y")])
    got = run(model, {"x": strings(*words)}, tmp_path)[0].tolist()
    want = [w.upper() if action == "UPPER" else w.lower() for w in words]
    if action == "LOWER":
        want[6] = "σίσυφοσ!"  # Python: "σίσυφος!"
    assert got == want


def test_string_normalizer_stopwords_are_whole_strings_compared_without_case(tmp_path):
    """As the spec says (and onnxruntime does): whole elements are stopwords, compared in lower
    case unless is_case_sensitive. The reference instead removes space-separated words, and
    with case_change_action NONE compares case-sensitively."""
    model = make([helper.make_node("StringNormalizer", ["x"], ["y"], stopwords=["Monday", "the end"])],
                 [S("x", [5])], [S("y")])
    session = load(model, tmp_path)
    y = session.run({"x": strings("MONDAY", "monday morning", "The End", "Tuesday", "mondays")})["y"]
    assert_strings(y, strings("monday morning", "Tuesday", "mondays"))
    y = session.run({"x": strings("monday", "MONDAY", "the end", "Monday", "THE END")})["y"]  # re-planned
    assert_strings(y, strings(""))


def test_string_normalizer_refuses_other_ranks_and_turkish(tmp_path):
    model = make([helper.make_node("StringNormalizer", ["x"], ["y"])], [S("x", [2, 2])], [S("y")])
    with pytest.raises(walle.Error, match=r"input must be \[C\] or \[1, C\]"):
        load(model, tmp_path, "rank")
    model = make([helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="UPPER", locale="tr_TR")],
                 [S("x", [2])], [S("y")])
    with pytest.raises(walle.Error, match="locale 'tr_TR'"):
        load(model, tmp_path, "tr")


def label_encoder(x_info, y_info, **attrs):
    return make([helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", **attrs)], [x_info], [y_info], ml=True)


LABEL_CASES = [
    ("string->int64", S("x", [5]), TP.INT64, strings("a", "b", "d", "c", "g"),
     {"keys_strings": ["a", "b", "c"], "values_int64s": [0, 1, 2], "default_int64": 42}),
    ("string->int64 default", S("x", [5]), TP.INT64, strings("a", "b", "d", "c", "g"),
     {"keys_strings": ["a", "b", "c"], "values_int64s": [0, 1, 2]}),
    ("int64->string", T("x", TP.INT64, [2, 3]), TP.STRING, np.array([[1, 2, 3], [7, -1, 2]], np.int64),
     {"keys_int64s": [1, 2, 3, -1], "values_strings": ["一", "two", "drei", "neg"], "default_string": "?"}),
    ("int64->string default", T("x", TP.INT64, [3]), TP.STRING, np.array([5, 1, 9], np.int64),
     {"keys_int64s": [1], "values_strings": ["one"]}),
    ("float->float", T("x", TP.FLOAT, [4]), TP.FLOAT, np.array([0.5, 1.5, 0.0, 2.5], np.float32),
     {"keys_floats": [0.5, 1.5, 0.0], "values_floats": [10.0, 20.0, 30.0], "default_float": 7.0}),
    ("string->string", S("x", [4]), TP.STRING, strings("café", "", "x", "tea"),
     {"keys_strings": ["café", "", "tea"], "values_strings": ["coffee", "empty", "thé"]}),
    ("duplicate keys", S("x", [2]), TP.INT64, strings("a", "b"),
     {"keys_strings": ["a", "b", "a"], "values_int64s": [1, 2, 3]}),
    ("tensor mapping", S("x", [5]), TP.INT16, strings("a", "b", "d", "c", "g"),
     {"keys_tensor": helper.make_tensor("keys_tensor", TP.STRING, (3,), ["a", "b", "c"]),
      "values_tensor": helper.make_tensor("values_tensor", TP.INT16, (3,), [0, 1, 2]),
      "default_tensor": helper.make_tensor("default_tensor", TP.INT16, (1,), [42])}),
]


@pytest.mark.parametrize(("name", "x_info", "y_type", "x", "attrs"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_label_encoder_matches_reference(name, x_info, y_type, x, attrs, tmp_path):
    model = label_encoder(x_info, T("y", y_type), **attrs)
    got = check_reference(model, {"x": x}, tmp_path)[0]
    if name == "duplicate keys":  # the reference's dict keeps the last value of a repeated key
        np.testing.assert_array_equal(got, [3, 2])


def test_label_encoder_float_keys_compare_bits(tmp_path):
    """The spec compares float keys bit for bit, so a NaN key matches a NaN input."""
    model = label_encoder(T("x", TP.FLOAT, [3]), S("y"), keys_floats=[float("nan"), 1.0], values_strings=["nan", "one"])
    got = run(model, {"x": np.array([np.nan, 1.0, 2.0], np.float32)}, tmp_path)[0]
    assert_strings(got, strings("nan", "one", "_Unused"))


def test_label_encoder_key_type_must_match_the_input(tmp_path):
    model = label_encoder(T("x", TP.INT64, [2]), T("y", TP.INT64), keys_strings=["a"], values_int64s=[1])
    with pytest.raises(walle.Error, match="the input is int64 but the keys are string"):
        load(model, tmp_path)


# --- Cast ------------------------------------------------------------------------------------

NUMBERS = {
    np.float32: [0.1, 1 / 3, 100000.0, 1e6, 123456.7, 16777216.0, 1e-4, 1.5e-4, 1e-5, -0.0, 3.0, 3.4e38, 1e-45,
                 np.nan, np.inf, -np.inf],
    np.float64: [0.1, 1 / 3, 1e15, 1e16, 9.999e15, 1e-4, 9e-5, 5e-324, 1e300, -2.5, np.nan, -np.inf],
    np.float16: [0.1, 1 / 3, 65504.0, 999.0, 1000.0, 1e-4, 6e-8, -0.0, 2.0],
    np.int64: [0, -5, 2**63 - 1, -(2**63)],
    np.int8: [-128, 127, 0],
    np.uint32: [0, 2**32 - 1],
    np.bool_: [True, False],
}


@pytest.mark.parametrize("dtype", list(NUMBERS), ids=[np.dtype(t).name for t in NUMBERS])
def test_cast_to_string_matches_numpy(dtype, tmp_path):
    x = np.array(NUMBERS[dtype], dtype=dtype)
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    model = make([helper.make_node("Cast", ["x"], ["y"], to=TP.STRING)], [T("x", elem, [len(x)])], [S("y")])
    assert_strings(run(model, {"x": x}, tmp_path)[0], x.astype(np.str_))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_cast_float_to_string_and_back_round_trips(dtype, tmp_path):
    with np.errstate(over="ignore", under="ignore"):
        x = (np.random.default_rng(5).standard_normal(200) * 10.0 ** np.arange(-20, 20, 0.2)).astype(dtype)
    x = x[np.isfinite(x)]
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    model = make([helper.make_node("Cast", ["x"], ["s"], to=TP.STRING), helper.make_node("Cast", ["s"], ["y"], to=elem)],
                 [T("x", elem, [len(x)])], [S("s"), T("y", elem)])
    s, y = run(model, {"x": x}, tmp_path)
    assert_strings(s, x.astype(np.str_))
    np.testing.assert_array_equal(y, x)


def test_cast_from_string_reads_numbers(tmp_path):
    text = strings("1.5", " -2e3 ", "+7", "INF", "-Infinity", "nan", "1e400", "12", ".5")
    model = make([helper.make_node("Cast", ["x"], ["f"], to=TP.FLOAT), helper.make_node("Cast", ["x"], ["d"], to=TP.DOUBLE)],
                 [S("x", [len(text)])], [T("f", TP.FLOAT), T("d", TP.DOUBLE)])
    f, d = run(model, {"x": text}, tmp_path)
    np.testing.assert_array_equal(f, text.astype(np.float32))
    np.testing.assert_array_equal(d, text.astype(np.float64))


def test_cast_from_string_to_integers_and_bool(tmp_path):
    text = strings("12", "-7", " 300 ", "100.5", "9223372036854775807", "1e3")
    model = make([helper.make_node("Cast", ["x"], ["i"], to=TP.INT64), helper.make_node("Cast", ["x"], ["b"], to=TP.INT8)],
                 [S("x", [len(text)])], [T("i", TP.INT64), T("b", TP.INT8)])
    i, b = run(model, {"x": text}, tmp_path)
    np.testing.assert_array_equal(i, [12, -7, 300, 100, 2**63 - 1, 1000])  # "100.5" -> 100 as the ONNX spec says
    np.testing.assert_array_equal(b, [12, -7, 127, 100, 127, 127])  # saturating, like float -> int8
    model = make([helper.make_node("Cast", ["x"], ["y"], to=TP.BOOL)], [S("x", [4])], [T("y", TP.BOOL)])
    np.testing.assert_array_equal(run(model, {"x": strings("True", "false", "0", "2.5")}, tmp_path)[0],
                                  [True, False, False, True])


def test_cast_from_text_that_is_no_number_is_an_input_error(tmp_path):
    model = make([helper.make_node("Cast", ["x"], ["y"], to=TP.FLOAT, name="c")], [S("x", [2])], [T("y", TP.FLOAT)])
    session = load(model, tmp_path)
    with pytest.raises(walle.InputError, match=r"Cast 'c': cannot read the string 'hello' as float32"):
        session.run({"x": strings("1", "hello")})


def test_string_ops_agree_with_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    nodes = [helper.make_node("StringConcat", ["x", "x"], ["cat"]),
             helper.make_node("StringSplit", ["x"], ["parts", "n"], delimiter=" "),
             helper.make_node("Equal", ["x", "cat"], ["eq"]),
             helper.make_node("RegexFullMatch", ["x"], ["rx"], pattern=r"[a-z]+( [a-z]+)*")]
    model = make(nodes, [S("x", [4])], [S("cat"), S("parts"), T("n", TP.INT64), T("eq", TP.BOOL), T("rx", TP.BOOL)])
    # no empty string: onnxruntime splits "" into no parts, the reference (str.split) into [""]
    x = strings("ab cd", "q", "zé f", "x  y")
    try:
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    except Exception as e:  # noqa: BLE001 - an onnxruntime build without these kernels
        pytest.skip(f"onnxruntime cannot run the string ops: {e}")
    got = run(model, {"x": x}, tmp_path)
    for g, w in zip(got, want, strict=True):
        assert g.tolist() == w.tolist()


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
def test_tfidf_vectorizer_with_a_string_pool(mode, tmp_path):
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode=mode, min_gram_length=1, max_gram_length=2,
                            max_skip_count=1, ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3, 4],
                            pool_strings=["a", "中", "c", "a", "中", "c", "a"], weights=[1.0, 2.0, 3.0, 4.0, 5.0])
    model = make([node], [S("x", [2, 5])], [T("y", TP.FLOAT)])
    x = np.array([["a", "中", "c", "a", "z"], ["c", "a", "中", "c", "a"]], dtype=object)
    check_reference(model, {"x": x}, tmp_path)


def test_string_normalizer_on_a_constant_is_left_to_the_engine(tmp_path):
    """The converter does not fold StringNormalizer with the reference evaluator (whose
    semantics differ from the spec's): a constant input gives the engine's answer."""
    words = numpy_helper.from_array(strings("Café", "the", "Tea"), "words")
    model = make([helper.make_node("StringNormalizer", ["words"], ["n"], case_change_action="UPPER", stopwords=["THE"]),
                  helper.make_node("StringConcat", ["n", "x"], ["y"])], [S("x", [])], [S("y")], [words])
    assert_strings(run(model, {"x": np.array("!", dtype=object)}, tmp_path)[0], strings("CAFÉ!", "TEA!"))


def test_cli_run_and_bench_feed_random_strings(tmp_path):
    import subprocess
    import sys

    onnx.save(make([helper.make_node("StringConcat", ["x", "x"], ["y"])], [S("x", [3])], [S("y", [3])]),
              tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    r = subprocess.run([sys.executable, "-m", "walle", "run", str(tmp_path / "m.walle")], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0 and "y: shape (3,) dtype object" in r.stdout, r.stderr


@pytest.mark.parametrize("elem", [TP.STRING, TP.FLOAT])
def test_gather_elements_index_out_of_range_is_an_error(elem, tmp_path):
    """GatherElements is one flat Gather: an index past the axis must not read a neighbour row."""
    model = make([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1, name="ge")],
                 [T("x", elem, [2, 2]), T("i", TP.INT64, [2, 1])], [T("y", elem)])
    x = np.array([["a", "b"], ["c", "d"]], dtype=object) if elem == TP.STRING else np.ones((2, 2), np.float32)
    session = load(model, tmp_path)
    got = session.run({"x": x, "i": np.array([[-1], [0]])})["y"]
    assert got.tolist() == ([["b"], ["c"]] if elem == TP.STRING else [[1.0], [1.0]])
    with pytest.raises(walle.InputError, match=r"GatherElements 'ge' \(an index outside \[-2, 2\) along axis 1\)"):
        session.run({"x": x, "i": np.array([[2], [0]])})
