"""A conformance worker process: reads one test folder per line on stdin, converts and runs
it through the public Walle API (or onnxruntime, for comparison), compares the outputs with
the expected ones and writes one JSON result line on stdout.

It runs in its own process so that a crash (a segfault in the engine) takes down only this
worker; the parent (runner.py) counts the crash as a failure and starts a new worker.
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import re
import sys
import tempfile
import traceback

import numpy as np
import onnx
from onnx import numpy_helper

RTOL, ATOL = 1e-3, 1e-5


def _to_value(v):
    """Test data as Python values: arrays (ml_dtypes for bfloat16/float8/int4), lists, None."""
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, onnx.SequenceProto):
        return numpy_helper.to_list(v)
    if isinstance(v, onnx.OptionalProto):
        return numpy_helper.to_optional(v)
    if isinstance(v, list):
        return [_to_value(x) for x in v]
    if v is None or isinstance(v, dict):
        return v
    return np.asarray(v)


def _read_pb(path: str, type_proto: onnx.TypeProto):
    with open(path, "rb") as f:
        data = f.read()
    if type_proto.HasField("sequence_type"):
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return numpy_helper.to_list(p)
    if type_proto.HasField("optional_type"):
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        return numpy_helper.to_optional(p)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def load_data(folder: str, model: onnx.ModelProto, inputs: list) -> list[tuple[list, list]]:
    pkl = os.path.join(folder, "data.pkl")
    if os.path.exists(pkl):
        with open(pkl, "rb") as f:
            sets = pickle.load(f)
        return [([_to_value(x) for x in i], [_to_value(x) for x in o]) for i, o in sets]
    sets = []
    outputs = list(model.graph.output)
    for d in sorted(glob.glob(os.path.join(folder, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        ins = [_read_pb(os.path.join(d, f"input_{j}.pb"), inputs[j].type) for j in range(n_in)]
        outs = [_read_pb(os.path.join(d, f"output_{j}.pb"), outputs[j].type) for j in range(n_out)]
        sets.append((ins, outs))
    return sets


def _is_float(dt: np.dtype) -> bool:
    if dt.kind in "fc":
        return True
    return dt.kind == "V" and ("float" in dt.name or "bfloat" in dt.name)


def compare(got, want, where: str) -> tuple[str, str] | None:
    """None if equal under the suite's rules, else (category, message)."""
    if want is None:
        return None if got is None else ("value", f"{where}: expected an empty optional")
    if isinstance(want, list):
        if not isinstance(got, list):
            return ("value", f"{where}: expected a sequence, got {type(got).__name__}")
        if len(got) != len(want):
            return ("shape", f"{where}: sequence length {len(got)} != {len(want)}")
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            bad = compare(g, w, f"{where}[{k}]")
            if bad:
                return bad
        return None
    want = np.asarray(want)
    if got is None or isinstance(got, list):
        return ("value", f"{where}: expected a tensor, got {type(got).__name__}")
    got = np.asarray(got)
    if got.shape != want.shape:
        return ("shape", f"{where}: shape {got.shape} != expected {want.shape}")
    if got.dtype != want.dtype:
        return ("dtype", f"{where}: dtype {got.dtype} != expected {want.dtype}")
    if _is_float(want.dtype):
        g = got.astype(np.float64)
        w = want.astype(np.float64)
        same_special = (np.isnan(g) & np.isnan(w)) | (g == w)
        close = np.abs(g - w) <= ATOL + RTOL * np.abs(w)
        ok = same_special | close
        if not ok.all():
            i = np.unravel_index(int(np.argmin(ok)), ok.shape) if ok.ndim else ()
            return ("value", (f"{where}: {int((~ok).sum())} of {ok.size} values differ, e.g. at {i}: "
                              f"{g[i]!r} != {w[i]!r}"))
        return None
    if want.dtype.kind == "V":  # int4/uint4 and other ml_dtypes: compare the values
        got, want = got.astype(np.int64), want.astype(np.int64)
    if not np.array_equal(got, want):
        ok = got == want
        return ("value", f"{where}: {int((~ok).sum())} of {ok.size} values differ")
    return None


class WalleEngine:
    def __init__(self, backend: str = "cpu") -> None:
        import walle

        self.walle = walle
        self.backend = backend
        self.tmp = tempfile.mkdtemp(prefix="walle-conf-")

    def run(self, model_path: str, names: list[str], inputs: list) -> list:
        dst = os.path.join(self.tmp, "m.walle")
        self.walle.convert(model_path, dst)
        session = self.walle.load(dst, backend=self.backend)
        feed = dict(zip(names, inputs, strict=False))
        feed = {n: feed[n] for n in session.input_names}
        return list(session.run(feed).values())

    def expected_errors(self) -> tuple[type, ...]:
        return (self.walle.Error,)


class OrtEngine:
    def __init__(self) -> None:
        import onnxruntime as ort

        self.ort = ort

    def run(self, model_path: str, names: list[str], inputs: list) -> list:
        so = self.ort.SessionOptions()
        so.intra_op_num_threads = 1
        s = self.ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
        feed = dict(zip(names, inputs, strict=False))
        return s.run(None, {i.name: feed[i.name] for i in s.get_inputs()})

    def expected_errors(self) -> tuple[type, ...]:
        return (Exception,)


def run_case(engine, folder: str) -> dict:
    model_path = os.path.join(folder, "model.onnx")
    model = onnx.load(model_path)
    init = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in init]
    try:
        sets = load_data(folder, model, inputs)
    except Exception as e:  # noqa: BLE001 - a suite problem, reported as such
        return {"status": "fail", "category": "harness", "message": f"cannot read test data: {e}"}
    names = [v.name for v in inputs]
    for k, (ins, outs) in enumerate(sets):
        try:
            got = engine.run(model_path, names, ins)
        except engine.expected_errors() as e:
            cat, msg = type(e).__name__, str(e).strip()
            if cat == "UnsupportedOpError":  # keep only the op list: "unsupported: A, B"
                ops = re.findall(r"^\s+(\S+): nodes", msg, re.MULTILINE)
                msg = "unsupported operator " + ", ".join(ops) if ops else msg
            return {"status": "fail", "category": cat, "message": msg}
        except Exception as e:  # noqa: BLE001 - not a walle.Error: a bug worth its own category
            tb = traceback.format_exc(limit=-2)
            return {"status": "fail", "category": "exception", "message": f"{type(e).__name__}: {e}\n{tb}"}
        if len(got) != len(outs):
            return {"status": "fail", "category": "count", "message": f"{len(got)} outputs, expected {len(outs)}"}
        for j, (g, w) in enumerate(zip(got, outs, strict=True)):
            bad = compare(g, w, f"data set {k} output {j}")
            if bad:
                return {"status": "fail", "category": bad[0], "message": bad[1]}
    return {"status": "pass", "category": "", "message": ""}


def main() -> None:
    # "onnxruntime", "walle" or "walle:<backend>" (opencl, vulkan, ...)
    name = sys.argv[1] if len(sys.argv) > 1 else "walle"
    engine = OrtEngine() if name == "onnxruntime" else WalleEngine(name.partition(":")[2] or "cpu")
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        folder = line.rstrip("\n")
        if not folder:
            continue
        try:
            result = run_case(engine, folder)
        except BaseException as e:  # noqa: BLE001 - keep the worker alive for the next test
            result = {"status": "fail", "category": "harness", "message": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
