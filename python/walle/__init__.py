"""Walle: a tensor compute engine with a task VM, an on-device data pipeline and a
deployment platform.

The engine API is imported lazily (PEP 562) so that ``import walle.pipeline`` or
``import walle.deploy`` does not load the C++ extension or numpy; that keeps task start-up
cheap and lets sub-interpreters import only what they use.

    >>> import walle
    >>> walle.convert("model.onnx", "model.walle")
    >>> session = walle.load("model.walle", threads=2)
    >>> outputs = session.run({"input": x})
"""

from __future__ import annotations

from ._lazy import lazy_attributes
from .errors import (
    BackendError,
    ConversionError,
    Error,
    InputError,
    ModelError,
    UnsupportedOpError,
)

__version__ = "0.2.0"

# public name -> module that defines it
_LAZY = {
    "load": "walle.session",
    "Session": "walle.session",
    "TensorInfo": "walle.session",
    "Tensor": "walle.session",
    "backends": "walle.session",
    "convert": "walle.convert",
}

__all__ = [
    "BackendError",
    "ConversionError",
    "Error",
    "InputError",
    "ModelError",
    "Session",
    "Tensor",
    "TensorInfo",
    "UnsupportedOpError",
    "__version__",
    "backends",
    "convert",
    "load",
]


__getattr__, __dir__ = lazy_attributes("walle", globals(), _LAZY)
