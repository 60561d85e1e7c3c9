"""Running models: :func:`load` returns a :class:`Session`.

numpy is used when it is importable; without it (for example in a sub-interpreter, where
numpy does not load) inputs may be any C-contiguous buffer such as :class:`Tensor` or a
``memoryview``, and outputs come back as :class:`Tensor` objects (buffer protocol).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from . import _walle
from .errors import InputError

TYPE_CHECKING = False  # keep typing/dataclasses out of sub-interpreters: they cost memory per task
if TYPE_CHECKING:
    from typing import Any, Self

Tensor = _walle.Tensor


def _in_main_interpreter() -> bool:
    try:
        import _interpreters as interpreters  # CPython 3.13
    except ImportError:
        try:
            import _xxsubinterpreters as interpreters  # CPython 3.12
        except ImportError:
            return True
    return interpreters.get_current() == interpreters.get_main()


_np = None
if _in_main_interpreter():  # numpy does not load in sub-interpreters; don't half-import it there
    try:
        import numpy as _np
    except ImportError:  # pragma: no cover
        _np = None

# Types numpy lacks travel through the buffer protocol as raw unsigned integers of their size;
# with ml_dtypes (an onnx dependency) installed, arrays of these types go in and come out.
_RAW = {"bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e4m3fnuz": "uint8", "float8_e5m2": "uint8",
        "float8_e5m2fnuz": "uint8", "float8_e8m0fnu": "uint8", "float4_e2m1fn": "uint8", "int4": "uint8",
        "uint4": "uint8", "int2": "uint8", "uint2": "uint8"}
_ml = None
if _np is not None:
    try:
        import ml_dtypes as _ml
    except ImportError:  # pragma: no cover
        _ml = None


def _from_engine(t: Any) -> Any:
    if t.dtype == "string":  # numpy object array of str, as onnxruntime returns strings
        flat = t.strings()
        a = _np.empty(len(flat), dtype=object)
        a[:] = flat
        return a.reshape(t.shape)
    a = _np.asarray(t)
    name = t.dtype
    if name in _RAW and _ml is not None and hasattr(_ml, name):
        a = a.view(getattr(_ml, name))
    return a


class TensorInfo:
    """Name, element type and shape of a model input or output.

    ``shape`` holds an int per fixed dimension and the dimension's symbolic name (or
    ``None``) for a dimension that may vary between runs.
    """

    __slots__ = ("dtype", "name", "shape")

    def __init__(self, name: str, dtype: str, shape: tuple[int | str | None, ...]):
        self.name, self.dtype, self.shape = name, dtype, tuple(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorInfo) and (self.name, self.dtype, self.shape) == (
            other.name, other.dtype, other.shape)

    def __hash__(self) -> int:
        return hash((self.name, self.dtype, self.shape))

    def __repr__(self) -> str:
        return f"TensorInfo(name={self.name!r}, dtype={self.dtype!r}, shape={self.shape!r})"

    @classmethod
    def _from_engine(cls, info: Mapping[str, Any]) -> TensorInfo:
        dims = tuple(
            d if d >= 0 else (n or None) for d, n in zip(info["dims"], info["dim_names"], strict=True)
        )
        return cls(info["name"], info["dtype"], dims)


class BackendInfo(str):
    """A backend's name (a ``str``, so ``"cpu" in walle.backends()`` works) with what is known
    about it here: ``built`` (this build has it), ``available`` (this machine can run it),
    ``device`` (the device it would use) and ``reason`` (why it is unavailable)."""

    built: bool
    available: bool
    device: str
    reason: str

    def __new__(cls, name: str, built: bool, available: bool, device: str = "", reason: str = "") -> Self:
        self = super().__new__(cls, name)
        self.built, self.available, self.device, self.reason = built, available, device, reason
        return self

    def __getnewargs__(self) -> tuple[str, bool, bool, str, str]:
        # pickling (e.g. a task result crossing sub-interpreters) must rebuild the attributes
        return str(self), self.built, self.available, self.device, self.reason

    def __repr__(self) -> str:
        state = f"device={self.device!r}" if self.available else f"unavailable: {self.reason}"
        return f"BackendInfo({str(self)!r}, {state})"


def backends(include_missing: bool = False) -> list[BackendInfo]:
    """Backends this build has, each telling whether this machine can run it (``available``)
    and if not, why (``reason``). ``include_missing=True`` also lists the backends this build
    was compiled without. Pass a name, or ``"auto"``, as ``backend=`` to :func:`load`."""
    out = [BackendInfo(d["name"], d["built"], d["available"], d["device"], d["reason"])
           for d in _walle.backend_status()]
    return [b for b in out if b.built or include_missing]


class Session:
    """A model loaded for inference. Create with :func:`walle.load`.

    Runs are thread-safe: one session serves one run at a time, and separate sessions run in
    parallel (the GIL is released while the engine computes).
    """

    def __init__(self, path: str | os.PathLike[str], backend: str = "cpu", threads: int = 1, isa: str = "auto",
                 mode: str = "estimate"):
        if not isinstance(threads, int) or threads < 1:
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        if mode not in ("estimate", "tune"):
            raise InputError(f"mode must be 'estimate' or 'tune', got {mode!r}")
        self.path = os.fspath(path)
        self._engine = _walle.Session(self.path, backend, isa, threads, mode)
        self.inputs = [TensorInfo._from_engine(i) for i in self._engine.inputs]
        self.outputs = [TensorInfo._from_engine(o) for o in self._engine.outputs]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def threads(self) -> int:
        return int(self._engine.threads)

    def run(self, feed: Mapping[str, Any] | Sequence[Any] | Any) -> dict[str, Any]:
        """Runs the model.

        ``feed`` is ``{input_name: array}``, a list of arrays in input order, or a single array
        for a one-input model. Returns ``{output_name: array}`` in output order. String inputs
        take numpy arrays of dtype object (of ``str``), ``str`` or UTF-8 ``bytes``; string
        outputs are object arrays of ``str``.
        """
        arrays = self._order(feed)
        buffers = [self._as_buffer(info, a) for info, a in zip(self.inputs, arrays, strict=True)]
        dtypes = [info.dtype if info.dtype in _RAW else "" for info in self.inputs]
        results = self._engine.run(buffers, dtypes)
        if _np is not None:
            results = [_from_engine(r) for r in results]
        return dict(zip(self.output_names, results, strict=True))

    def __call__(self, *arrays: Any) -> Any:
        """``session(x)`` -> the output array (a tuple when the model has several)."""
        out = list(self.run(list(arrays)).values())
        return out[0] if len(out) == 1 else tuple(out)

    def plan(self) -> list[dict[str, Any]]:
        """The atomic ops of the current plan: source node, op, kernel chosen, output shape, MACs,
        and where each runs: ``backend``, ``algorithm``, ``estimate_us`` (cost model),
        ``measured_us`` (tune mode) and ``candidates`` (every backend's cost or why it cannot
        run the op); ``us`` is the mean kernel time per run when profiling (``WALLE_PROFILE=1``
        at load), else 0. Copies between backends' memories appear as rows with op ``"Copy"``."""
        return list(self._engine.plan())

    @property
    def arena_bytes(self) -> int:
        """Bytes of the intermediate-tensor arena of the current plan."""
        return int(self._engine.arena_bytes)

    def _order(self, feed: Any) -> list[Any]:
        names = self.input_names
        if isinstance(feed, Mapping):
            unknown = [k for k in feed if k not in names]
            if unknown:
                raise InputError(f"unknown input name(s) {unknown}; the model's inputs are {names}")
            missing = [n for n in names if n not in feed]
            if missing:
                raise InputError(f"missing input(s) {missing}; the model's inputs are {names}")
            return [feed[n] for n in names]
        if isinstance(feed, (list, tuple)):
            if len(feed) != len(names):
                raise InputError(f"expected {len(names)} inputs {names}, got {len(feed)}")
            return list(feed)
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} inputs {names}: pass a dict or a list")
        return [feed]

    @staticmethod
    def _as_buffer(info: TensorInfo, value: Any) -> Any:
        if info.dtype == "string":
            return _string_tensor(info, value)
        if _np is None or isinstance(value, Tensor):
            return value
        if not isinstance(value, _np.ndarray):
            if isinstance(value, memoryview):
                return value
            value = _np.asarray(value, dtype=None if info.dtype in _RAW else info.dtype)
        raw = _RAW.get(info.dtype)
        if raw is not None and value.dtype.name == info.dtype:
            value = value.view(raw)
        expected = raw or info.dtype
        if value.dtype != _np.dtype(expected):
            raise InputError(f"input '{info.name}': expected dtype {info.dtype}, got {value.dtype}")
        # not ascontiguousarray: it turns a 0-d array into shape (1,)
        return value if value.flags.c_contiguous else _np.ascontiguousarray(value)


def _string_tensor(info: TensorInfo, value: Any) -> Any:
    """A string input as an engine tensor: from a numpy array of dtype object (holding str), str
    ('U') or UTF-8 bytes ('S'), or nested lists of str; the engine checks every element."""
    if isinstance(value, Tensor):
        return value  # the engine checks its dtype
    what = f"input '{info.name}'"
    if _np is not None:
        a = value if isinstance(value, _np.ndarray) else _np.asarray(value, dtype=object)
        if a.dtype.kind not in "OUS":
            raise InputError(f"{what}: expected dtype string (an array of str), got {a.dtype}")
        return Tensor.from_strings(a.reshape(-1).tolist(), list(a.shape), what)
    flat: list[Any] = []
    shape: list[int] = []
    leaf_depth: list[int] = []

    def walk(v: Any, depth: int) -> None:  # nested lists without numpy (sub-interpreters)
        if isinstance(v, (list, tuple)):
            if leaf_depth and depth >= leaf_depth[0]:
                raise InputError(f"{what}: nested lists of unequal depth")
            if depth == len(shape):
                shape.append(len(v))
            elif shape[depth] != len(v):
                raise InputError(f"{what}: nested lists of unequal lengths")
            for x in v:
                walk(x, depth + 1)
            return
        if not leaf_depth:
            leaf_depth.append(depth)
        if depth != leaf_depth[0]:
            raise InputError(f"{what}: nested lists of unequal depth")
        flat.append(v)

    walk(value, 0)
    return Tensor.from_strings(flat, shape, what)


def load(
    path: str | os.PathLike[str], backend: str = "cpu", threads: int = 1, isa: str = "auto",
    mode: str = "estimate",
) -> Session:
    """Loads a ``.walle`` model (see :func:`walle.convert`) for inference.

    ``backend`` is ``"cpu"`` (kernels for this processor's best instruction set) or
    ``"cpu-reference"`` (portable reference kernels); ``isa`` may force ``"avx2"``,
    ``"avx512"`` or ``"reference"`` on the CPU backend. ``threads`` is this session's own
    thread-pool size. Raises :class:`walle.ModelError` for a missing, corrupt or hostile file.

    Device backends: ``"opencl"``, ``"vulkan"``, ``"cuda"`` run every op they support and
    leave the rest to the CPU; ``"auto"`` lets the search choose a backend per op from a
    calibrated cost model, counting copies between memories (``mode="tune"`` measures the
    candidates instead, caching the results on disk). :func:`walle.backends` tells which are
    usable here; an unusable one raises :class:`walle.BackendError` with the reason.
    """
    return Session(path, backend=backend, threads=threads, isa=isa, mode=mode)
