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


def _sequence_model(directory) -> None:
    """A .walle model: ys = SplitToSequence(ConcatFromSequence(xs)) into rows; has =
    OptionalHasElement(o); o_out = Identity(o) (None when o is)."""
    import onnx
    import walle
    from onnx import helper

    f = onnx.TensorProto.FLOAT
    seq = helper.make_sequence_type_proto(helper.make_tensor_type_proto(f, ["N", 2]))
    opt = helper.make_optional_type_proto(helper.make_tensor_type_proto(f, [2]))
    nodes = [helper.make_node("ConcatFromSequence", ["xs"], ["cat"], axis=0),
             helper.make_node("SplitToSequence", ["cat"], ["ys"], axis=0, keepdims=0),
             helper.make_node("OptionalHasElement", ["o"], ["has"]), helper.make_node("Identity", ["o"], ["o_out"])]
    graph = helper.make_graph(nodes, "g", [helper.make_value_info("xs", seq), helper.make_value_info("o", opt)],
                              [helper.make_value_info("ys", helper.make_sequence_type_proto(helper.make_tensor_type_proto(f, [2]))),
                               helper.make_tensor_value_info("has", onnx.TensorProto.BOOL, []),
                               helper.make_value_info("o_out", opt)])
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), directory / "m.onnx")
    walle.convert(directory / "m.onnx", directory / "m.walle")
    (directory / "m.onnx").unlink()


def test_task_runs_a_sequence_model(mode: str, make_bundle: MakeBundle) -> None:
    """Lists of buffers in, lists of tensors and None out, across interpreters."""
    import numpy as np

    bundle = make_bundle(
        "seq",
        {"main.py": """
            def run(ctx, inputs):
                return ctx.models["m"].run({"xs": inputs["xs"], "o": inputs.get("o")})
        """},
        extra='[models.m]\npath = "models/m.walle"\n',
    )
    _sequence_model(bundle / "models")
    a, b = np.arange(4, dtype=np.float32).reshape(2, 2), np.full((1, 2), 7, np.float32)
    with Runner(workers=1, mode=mode) as runner:
        runner.load(bundle)
        out = runner.run("seq", {"xs": [a, b]}, timeout=WAIT)
        assert [np.asarray(y).tolist() for y in out["ys"]] == [[0, 1], [2, 3], [7, 7]]
        assert not np.asarray(out["has"]) and out["o_out"] is None
        out = runner.run("seq", {"xs": [b], "o": np.ones(2, np.float32)}, timeout=WAIT)
        assert len(out["ys"]) == 1 and np.asarray(out["has"]) and np.asarray(out["o_out"]).tolist() == [1, 1]


def test_unbounded_thread_count_is_a_named_error_in_the_process_tier(make_bundle: MakeBundle) -> None:
    """walle.load(threads=10**9) in a task used to allocate without bound; the engine now refuses
    it with an InputError naming the bound, that run fails with it and the task keeps serving
    (memory_mb containment of a runaway allocation: tests/vm/test_process.py)."""

    bundle = make_bundle(
        "threads",
        {"main.py": """
            import walle
            def run(ctx, inputs):
                session = walle.load(str(ctx.root / "models" / "m.walle"), threads=inputs["threads"])
                return session.run({"x": inputs["x"]})["y"]
        """},
        extra="[limits]\nmemory_mb = 300\n",
    )
    _matmul_model(bundle / "models")
    import numpy as np

    x = np.ones((2, 4), np.float32)
    with Runner(workers=1, mode="process") as runner:
        runner.load(bundle)
        with pytest.raises(TaskError, match="threads must be an integer from 1 to 1024"):
            runner.run("threads", {"threads": 10**9, "x": x}, timeout=WAIT)
        assert np.asarray(runner.run("threads", {"threads": 1, "x": x}, timeout=WAIT)).shape == (2, 3)
