"""ONNX shape inference, guarded: onnx's C++ inference crashes (SIGSEGV, SIGABRT) on some
malformed models (a LabelEncoder reading an undefined value), and no try/except catches
that. So it runs in a worker process: a crash there becomes a ConversionError naming the
model, and the converter's own process lives on.

One worker per converting process is started on first use and kept (starting Python with
onnx costs ~0.3 s; a conversion pays only for piping the model's bytes), and replaced after
a crash or a hang. Calls from several threads take turns on it.

Protocol on the worker's stdin/stdout: a request is an 8-byte little-endian length and the
serialized ModelProto; a reply is a status byte (0: the inferred model follows, 1: inference
raised, its message follows), an 8-byte length and the payload.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import warnings

import onnx

# Inference of the largest models we convert takes seconds; a worker silent this long hangs.
TIMEOUT_S = 600.0

_HEADER = struct.Struct("<Q")


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _serve() -> None:
    """The worker's loop (``python -I inference.py``)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            (n,) = _HEADER.unpack(_read_exact(stdin, _HEADER.size))
            data = _read_exact(stdin, n)
        except EOFError:
            return
        try:
            model = onnx.ModelProto.FromString(data)
            status, payload = 0, onnx.shape_inference.infer_shapes(model, data_prop=True).SerializeToString()
        except Exception as e:  # noqa: BLE001 - reported to the parent, which goes on without inference
            status, payload = 1, f"{type(e).__name__}: {e}".encode("utf-8", "replace")
        stdout.write(bytes([status]) + _HEADER.pack(len(payload)) + payload)
        stdout.flush()


class _Worker:
    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked parent's worker is not this process's
        # -I: this file as a script, without its folder (fold.py, normalize.py...) on sys.path;
        # it needs only onnx, from this interpreter's site-packages.
        self.proc = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, data: bytes, timeout: float) -> tuple[int, bytes]:
        result: list = []

        def exchange() -> None:
            try:
                self.proc.stdin.write(_HEADER.pack(len(data)) + data)
                self.proc.stdin.flush()
                status = _read_exact(self.proc.stdout, 1)[0]
                (n,) = _HEADER.unpack(_read_exact(self.proc.stdout, _HEADER.size))
                result.append((status, _read_exact(self.proc.stdout, n)))
            except (EOFError, OSError) as e:
                result.append(e)

        t = threading.Thread(target=exchange, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self.close()
            t.join()
            raise TimeoutError
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]

    def close(self) -> int | None:
        self.proc.kill()
        return self.proc.wait()


_lock = threading.Lock()
_worker: _Worker | None = None


def infer_shapes(model: onnx.ModelProto, source: str, timeout: float = TIMEOUT_S) -> onnx.ModelProto:
    """``onnx.shape_inference.infer_shapes(model, data_prop=True)`` in the guarded worker.

    Returns the inferred model, or ``model`` itself when inference raises (inference only
    helps folding). Raises ConversionError naming ``source`` when inference crashes or hangs.
    """
    from walle.errors import ConversionError  # not at the top: the worker runs without walle

    global _worker
    data = model.SerializeToString()
    with _lock:
        if _worker is None or _worker.pid != os.getpid() or _worker.proc.poll() is not None:
            try:
                _worker = _Worker()
            except OSError as e:
                # This interpreter cannot start itself as a child (qemu-user without binfmt, a
                # sandbox without exec): infer in this process, unguarded, and say so.
                warnings.warn(f"{source}: ONNX shape inference runs unguarded in this process: "
                              f"cannot start {sys.executable} ({e})", RuntimeWarning, stacklevel=2)
                try:
                    return onnx.shape_inference.infer_shapes(model, data_prop=True)
                except Exception:  # noqa: BLE001 - inference only helps folding, as in the worker
                    return model
        try:
            status, payload = _worker.ask(data, timeout)
        except TimeoutError:
            _worker = None
            raise ConversionError(f"{source}: ONNX shape inference did not finish in {timeout:.0f} s") from None
        except (EOFError, OSError):
            code = _worker.close()
            _worker = None
            how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            raise ConversionError(f"{source}: ONNX shape inference crashed on this model ({how}); "
                                  f"the model is malformed") from None
    if status != 0:
        return model
    return onnx.ModelProto.FromString(payload)


if __name__ == "__main__":
    _serve()
