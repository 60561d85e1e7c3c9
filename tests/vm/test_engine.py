"""VM + real walle engine.  Skipped until the C++ extension is built."""

from __future__ import annotations

import pytest
from vm_testlib import MakeBundle
from walle.vm import Runner, TaskError

try:
    import walle._walle  # noqa: F401
except ImportError:
    pytest.skip("walle C++ extension not built", allow_module_level=True)

WAIT = 60


def test_extension_imports_in_task(mode: str, make_bundle: MakeBundle) -> None:
    """In interpreter mode this imports walle._walle inside a sub-interpreter (PEP 684)."""
    with Runner(workers=1, mode=mode) as runner:
        runner.load(
            make_bundle(
                "imp",
                {
                    "main.py": """
            import walle._walle
            def run(ctx, inputs):
                return sorted(walle.backends()) if hasattr(walle, "backends") else True
        """.replace("import walle._walle", "import walle, walle._walle")
                },
            )
        )
        assert runner.run("imp", {}, timeout=WAIT)


def test_bad_engine_arguments_do_not_crash(mode: str, make_bundle: MakeBundle) -> None:
    with Runner(workers=1, mode=mode) as runner:
        runner.load(
            make_bundle(
                "bad",
                {
                    "main.py": """
            import walle
            def run(ctx, inputs):
                return walle.load(inputs["path"], threads=inputs.get("threads", 1))
        """
                },
            )
        )
        runner.load(make_bundle("echo", {"main.py": "def run(ctx, inputs):\n    return 'alive'\n"}))
        for inputs in (
            {"path": "/nonexistent.walle"},
            {"path": "/etc/hostname"},
            {"path": "", "threads": -5},
        ):
            with pytest.raises(TaskError):
                runner.run("bad", inputs, timeout=WAIT)
        assert runner.run("echo", {}, timeout=WAIT) == "alive"


def _matmul_model(directory) -> object:
    """A .walle model y = relu(x @ w) in `directory`; returns w."""
    import numpy as np
    import onnx
    import walle
    from onnx import helper, numpy_helper

    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])], [numpy_helper.from_array(w, "w")])
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), directory / "m.onnx")
    walle.convert(directory / "m.onnx", directory / "m.walle")
    (directory / "m.onnx").unlink()
    return w


def test_task_runs_a_model(mode: str, make_bundle: MakeBundle) -> None:
    """A task's model is loaded through walle.load and run on a buffer (no numpy needed in
    the task: in interpreter mode it gets a memoryview and returns a walle.Tensor)."""
    import numpy as np

    bundle = make_bundle(
        "mm",
        {"main.py": """
            def run(ctx, inputs):
                return ctx.models["m"].run({"x": inputs["x"]})["y"]
        """},
        extra='[models.m]\npath = "models/m.walle"\n',
    )
    w = _matmul_model(bundle / "models")
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    with Runner(workers=2, mode=mode) as runner:
        runner.load(bundle)
        futures = [runner.submit("mm", {"x": x * k}) for k in range(1, 6)]
        for k, future in enumerate(futures, start=1):
            y = np.asarray(future.result(timeout=WAIT))
            np.testing.assert_allclose(y, np.maximum((x * k) @ w, 0), rtol=1e-5, atol=1e-6)
