"""Every case of tests/engine/test_ops.py on each device backend: same answers as the onnx
reference evaluator, and the device really runs the op unless it states why it cannot."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle

from ..engine.onnx_helpers import node_model, reference, with_output_types
from ..engine.test_ops import CASES, _check, _opset
from .conftest import DEVICE_BACKENDS, backend_or_skip


def run_on(model: onnx.ModelProto, inputs: dict, tmp_path, backend: str) -> tuple[list[np.ndarray], list[dict]]:
    src, dst = tmp_path / "m.onnx", tmp_path / "m.walle"
    onnx.save(with_output_types(model), src)
    walle.convert(src, dst)
    session = walle.load(dst, backend=backend)
    return list(session.run(inputs).values()), session.plan()


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_on_device(case, backend, tmp_path):
    backend_or_skip(backend)
    _, op, inputs, constants, attrs, n_out = case
    model = node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs)
    got, plan = run_on(model, inputs, tmp_path, backend)
    _check(got, reference(model, inputs))
    for row in plan:  # every op not on the device says why not
        if row["op"] != "Copy" and row["backend"] != backend:
            assert f"{backend}: cannot (" in row["candidates"], row
