"""``walle.convert``: ONNX in, a ``.walle`` model out (the converter lives in
``walle.converters.onnx``)."""

from __future__ import annotations

import os

from .converters.onnx import ConversionReport
from .converters.onnx import convert as _convert_onnx


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> ConversionReport:
    """Converts the ONNX model ``src`` to the Walle model ``dst`` and returns a report.

    Raises :class:`walle.UnsupportedOpError` (listing every unsupported operator and the
    nodes using it, before writing anything) or :class:`walle.ConversionError`.
    """
    return _convert_onnx(src, dst)
