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


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_concurrent_sessions_share_the_device(backend, tmp_path):
    """Sessions on one device run from several threads at once and stay correct (the device's
    queue is shared; each session's kernels and copies keep their order)."""
    import threading

    backend_or_skip(backend)
    rng = np.random.default_rng(3)
    inputs = {"a": rng.standard_normal((33, 40)).astype(np.float32)}
    model = node_model("MatMul", inputs, 1, {"b": rng.standard_normal((40, 17)).astype(np.float32)})
    onnx.save(with_output_types(model), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    want = reference(model, inputs)[0]
    errors: list[Exception] = []

    def work() -> None:
        try:
            session = walle.load(tmp_path / "m.walle", backend=backend)
            for _ in range(20):
                np.testing.assert_allclose(session.run(inputs)["y0"], want, rtol=1e-4, atol=1e-5)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
