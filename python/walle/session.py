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
# The most threads one session may have (the engine's kMaxThreads, csrc/runtime/session.h).
MAX_THREADS = 1024


def _in_main_interpreter() -> bool:
    try:
        import _interpreters as interpreters  # CPython 3.13
    except ImportError:
        try:
            import _xxsubinterpreters as interpreters  # CPython 3.12
        except ImportError:
            return True
    return interpreters.get_current() == interpreters.get_main()


_np: Any = None
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
_ml: Any = None
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

    ``kind`` says what the value is: ``"tensor"`` (an array), ``"sequence"`` (a list of
    arrays, each of ``dtype`` and ``shape``), ``"optional"`` (an array, or ``None`` for no
    value) or ``"optional(sequence)"`` (a list of arrays, or ``None``). ``shape`` is ``None``
    where the model gives no shape for a sequence's elements or an optional's value (any
    shape is accepted).
    """

    __slots__ = ("dtype", "kind", "name", "shape")

    def __init__(self, name: str, dtype: str, shape: tuple[int | str | None, ...] | None, kind: str = "tensor"):
        self.name, self.dtype, self.kind = name, dtype, kind
        self.shape = None if shape is None else tuple(shape)

    @property
    def is_sequence(self) -> bool:
        """The value is a list of arrays (``kind`` is ``"sequence"`` or ``"optional(sequence)"``)."""
        return self.kind in ("sequence", "optional(sequence)")

    @property
    def is_optional(self) -> bool:
        """``None`` stands for no value (``kind`` is ``"optional"`` or ``"optional(sequence)"``)."""
        return self.kind.startswith("optional")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorInfo) and (self.name, self.dtype, self.shape, self.kind) == (
            other.name, other.dtype, other.shape, other.kind)

    def __hash__(self) -> int:
        return hash((self.name, self.dtype, self.shape, self.kind))

    def __repr__(self) -> str:
        kind = "" if self.kind == "tensor" else f", kind={self.kind!r}"
        return f"TensorInfo(name={self.name!r}{kind}, dtype={self.dtype!r}, shape={self.shape!r})"

    @classmethod
    def _from_engine(cls, info: Mapping[str, Any]) -> TensorInfo:
        dims = None if info["unknown_rank"] else tuple(
            d if d >= 0 else (n or None) for d, n in zip(info["dims"], info["dim_names"], strict=True)
        )
        return cls(info["name"], info["dtype"], dims, info["kind"])


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

    def __getnewargs__(self) -> tuple[str, bool, bool, str, str]:  # type: ignore[override]
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
                 mode: str = "estimate", force: Mapping[str, str] | None = None, memory_limit: int = 0):
        if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
            raise InputError(f"threads must be an integer from 1 to {MAX_THREADS}, got {threads!r}")
        if mode not in ("estimate", "tune"):
            raise InputError(f"mode must be 'estimate' or 'tune', got {mode!r}")
        force = dict(force or {})
        bad = [k for k, v in force.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise InputError(f"force: keys and values must be strings, got {bad[0]!r}: {force[bad[0]]!r}")
        if not isinstance(memory_limit, int) or isinstance(memory_limit, bool) or memory_limit < 0:
            raise InputError(f"memory_limit must be a number of bytes >= 0 (0: the machine's memory), "
                             f"got {memory_limit!r}")
        self.path = os.fspath(path)
        self._engine = _walle.Session(self.path, backend, isa, threads, mode, force, memory_limit)
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

        ``feed`` is ``{input_name: value}``, a list of values in input order, or a single value
        for a one-input model. A value is an array for a tensor input, a list (or tuple) of
        arrays for a sequence input, and ``None`` for an optional input without a value (an
        optional input may also be left out of a dict). A list ``feed`` is always the inputs
        in order, so a one-input sequence model takes ``{name: [a, b]}`` or ``[[a, b]]``.

        Returns ``{output_name: value}`` in output order: an array, a list of arrays for a
        sequence output, ``None`` for an empty optional. A sequence's length and its
        elements' shapes are plan-time facts like input shapes: a change re-plans.
        String inputs take numpy arrays of dtype object (of ``str``), ``str`` or UTF-8 ``bytes``
        (or nested lists of ``str``); string outputs are object arrays of ``str``.
        """
        values = self._order(feed)
        buffers = [self._as_value(info, v) for info, v in zip(self.inputs, values, strict=True)]
        dtypes = [info.dtype if info.dtype in _RAW else "" for info in self.inputs]
        results = self._engine.run(buffers, dtypes)
        if _np is not None:
            results = [_outputs_from_engine(r) for r in results]
        return dict(zip(self.output_names, results, strict=True))

    def __call__(self, *arrays: Any) -> Any:
        """``session(x)`` -> the output array (a tuple when the model has several)."""
        out = list(self.run(list(arrays)).values())
        return out[0] if len(out) == 1 else tuple(out)

    def plan(self) -> list[dict[str, Any]]:
        """The atomic ops of the current plan: source node, op, kernel chosen, output shape, MACs,
        and how and why each runs as it does: ``backend``, ``algorithm`` (the variant the search
        chose, e.g. ``"winograd-f43"``; ``variants`` lists all its backend offered), ``layout`` (Conv/Pool: ``"nchw"``, ``"blocked"``, or a
        conversion such as ``"nchw->blocked"``), ``estimate_us`` (cost model), ``measured_us``
        (tune mode) and ``candidates`` (every backend's cost and variants, or why it cannot run
        the op); ``us`` is the mean kernel time per run when profiling (``WALLE_PROFILE=1`` at
        load), else 0. Copies between backends' memories appear as rows with op ``"Copy"``."""
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
            optional = {i.name for i in self.inputs if i.is_optional}
            missing = [n for n in names if n not in feed and n not in optional]
            if missing:
                raise InputError(f"missing input(s) {missing}; the model's inputs are {names}")
            return [feed.get(n) for n in names]  # a left-out optional input has no value
        if isinstance(feed, (list, tuple)):
            if len(feed) != len(names):
                raise InputError(f"expected {len(names)} inputs {names}, got {len(feed)}")
            return list(feed)
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} inputs {names}: pass a dict or a list")
        return [feed]

    @classmethod
    def _as_value(cls, info: TensorInfo, value: Any) -> Any:
        """What the engine takes: None, a list of buffers or a buffer. Whether the kind fits
        the input is checked here for the messages; the engine checks again (and shapes)."""
        if value is None:
            if not info.is_optional:
                raise InputError(f"input '{info.name}': got None, but the input is not optional (expected "
                                 f"{'a list of arrays' if info.is_sequence else 'an array'})")
            return None
        if isinstance(value, (list, tuple)) and (info.is_sequence or info.dtype != "string"):
            if not info.is_sequence:
                raise InputError(f"input '{info.name}': expected an array, got a {type(value).__name__} "
                                 f"(lists are for sequence inputs)")
            return [cls._as_buffer(info, v, f"input '{info.name}' item {k}") for k, v in enumerate(value)]
        if info.is_sequence:
            raise InputError(f"input '{info.name}': expected a list of arrays (a sequence), got "
                             f"{type(value).__name__}")
        return cls._as_buffer(info, value, f"input '{info.name}'")

    @staticmethod
    def _as_buffer(info: TensorInfo, value: Any, label: str) -> Any:
        if info.dtype == "string":
            return _string_tensor(info, value, label)
        if _np is None or isinstance(value, Tensor):
            return value
        if not isinstance(value, _np.ndarray):
            if isinstance(value, memoryview):
                return value
            try:
                value = _np.asarray(value, dtype=None if info.dtype in _RAW else info.dtype)
            except (TypeError, ValueError) as e:
                raise InputError(f"{label}: expected an array of {info.dtype}, got {type(value).__name__} ({e})") from e
        raw = _RAW.get(info.dtype)
        if raw is not None and value.dtype.name == info.dtype:
            value = value.view(raw)
        expected = raw or info.dtype
        if value.dtype != _np.dtype(expected):
            raise InputError(f"{label}: expected dtype {info.dtype}, got {value.dtype}")
        # not ascontiguousarray: it turns a 0-d array into shape (1,)
        return value if value.flags.c_contiguous else _np.ascontiguousarray(value)


def _outputs_from_engine(value: Any) -> Any:
    """An engine output as numpy: an array, a list of arrays (a sequence), or None."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_from_engine(t) for t in value]
    return _from_engine(value)


def _string_tensor(info: TensorInfo, value: Any, what: str) -> Any:
    """A string input as an engine tensor: from a numpy array of dtype object (holding str), str
    ('U') or UTF-8 bytes ('S'), or nested lists of str; the engine checks every element."""
    if isinstance(value, Tensor):
        return value  # the engine checks its dtype
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
    mode: str = "estimate", force: Mapping[str, str] | None = None, memory_limit: int = 0,
) -> Session:
    """Loads a ``.walle`` model (see :func:`walle.convert`) for inference.

    ``backend`` is ``"cpu"`` (kernels for this processor's best instruction set) or
    ``"cpu-reference"`` (portable reference kernels); ``isa`` may force ``"avx2"``,
    ``"avx512"`` (x86), ``"neon"`` (aarch64) or ``"reference"`` on the CPU backend. ``threads`` is this session's own
    thread-pool size. Raises :class:`walle.ModelError` for a missing, corrupt or hostile file.

    Device backends: ``"opencl"``, ``"vulkan"``, ``"cuda"`` run every op they support and
    leave the rest to the CPU; ``"auto"`` lets the search choose a backend per op from a
    calibrated cost model, counting copies between memories (``mode="tune"`` measures the
    candidates instead, caching the results on disk). :func:`walle.backends` tells which are
    usable here; an unusable one raises :class:`walle.BackendError` with the reason.

    ``force`` overrides the search for tests and experiments: an atomic op kind -> the variant
    every op of that kind runs where it is offered (``{"Conv": "winograd-f43"}``; ``plan()``'s
    ``candidates`` list each op's variants), and ``{"layout": "nchw"}`` keeps every tensor NCHW.
    A variant that no op of that kind offers raises :class:`walle.BackendError` naming those
    that are offered.

    ``memory_limit`` bounds, in bytes, what a plan takes besides the model's weights (constants
    folded while planning, intermediate tensors, kernel scratch); 0 means this machine's physical
    memory. A model that needs more raises :class:`walle.ModelError` at load (or
    :class:`walle.InputError` at a run whose input shapes make it so), naming the sizes.
    """
    return Session(path, backend=backend, threads=threads, isa=isa, mode=mode, force=force,
                   memory_limit=memory_limit)
