"""The ONNX backend conformance suite as files on disk.

Node tests are generated from the generators the onnx wheel ships
(``onnx.backend.test.case.node``, expected outputs from the reference evaluator); the
``simple``, ``pytorch-converted`` and ``pytorch-operator`` model tests are read from the data
the wheel ships. Nothing generated is committed: the suite is written into a temporary folder
at test time, one folder per test holding ``model.onnx`` and ``data.pkl`` (the input and
output lists of each data set), so that worker processes load one test without regenerating
the whole suite.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

MODEL_KINDS = ("simple", "pytorch-converted", "pytorch-operator")


@dataclass
class CaseRef:
    """One suite test: where it lives and which operator type it exercises."""

    kind: str  # "node" or one of MODEL_KINDS
    name: str
    op_type: str
    path: str  # folder with model.onnx and data.pkl or test_data_set_*/


def _node_op_types() -> dict[str, str]:
    from onnx.backend.test.case import node

    return {name: proto.op_type for name, proto in node._existing_names.items()}


def _op_of(name: str, known: dict[str, str], model) -> str:
    if name in known:
        return known[name]
    base = re.sub(r"_expanded(_ver\d+)?$", "", name)
    if base in known:
        return known[base]
    return model.graph.node[0].op_type if model.graph.node else "?"


def _spec_data_sets(model, data_sets: list) -> list:
    """The data sets with the expected outputs of casts to 4- and 2-bit integers recomputed from the
    ONNX spec (spec_casts.py): onnx's generators compute them with ml_dtypes, whose out-of-range
    results change between its releases."""
    import ml_dtypes
    import numpy as np
    from onnx import TensorProto, numpy_helper
    from spec_casts import SMALL_INTS, cast_to_small_int

    graph = model.graph
    if not graph.node or graph.node[0].op_type not in ("Cast", "CastLike") or len(graph.output) != 1:
        return data_sets
    to = TensorProto.DataType.Name(graph.output[0].type.tensor_type.elem_type)
    src = graph.input[0].type.tensor_type.elem_type
    if to not in SMALL_INTS or src not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
        return data_sets
    bits, signed = SMALL_INTS[to]
    dtype = getattr(ml_dtypes, to.lower())  # holds the in-range values exactly in every release

    def values(x):
        return numpy_helper.to_array(x) if isinstance(x, TensorProto) else np.asarray(x)

    return [(list(ins), [cast_to_small_int(values(ins[0]), bits, signed).astype(dtype)])
            for ins, _ in data_sets]


def generate_node_tests(out: Path) -> list[CaseRef]:
    """Writes every node test under ``out/node/<name>``; about 15 s for 1,900 tests."""
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases()
    known = _node_op_types()
    refs = []
    for case in cases:
        folder = out / "node" / case.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(case.model.SerializeToString())
        with open(folder / "data.pkl", "wb") as f:
            pickle.dump(_spec_data_sets(case.model, [(list(i), list(o)) for i, o in case.data_sets]), f)
        refs.append(CaseRef("node", case.name, _op_of(case.name, known, case.model), str(folder)))
    return refs


def shipped_model_tests() -> list[CaseRef]:
    """The model tests whose data the onnx wheel ships (read in place)."""
    import onnx

    root = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data"
    refs = []
    for kind in MODEL_KINDS:
        for folder in sorted((root / kind).glob("*/")):
            if (folder / "model.onnx").exists():
                refs.append(CaseRef(kind, folder.name, kind, str(folder)))
    return refs


def write_suite(out: Path, kinds: tuple[str, ...] = ("node", *MODEL_KINDS)) -> list[CaseRef]:
    refs: list[CaseRef] = []
    if "node" in kinds:
        refs += generate_node_tests(out)
    refs += [r for r in shipped_model_tests() if r.kind in kinds]
    return refs
