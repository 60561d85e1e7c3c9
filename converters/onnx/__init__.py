"""ONNX -> Walle converter, built on the ``onnx`` package.

    from walle.converters.onnx import convert
    report = convert("model.onnx", "model.walle")
"""

from .convert import ConversionReport, convert, convert_model

__all__ = ["ConversionReport", "convert", "convert_model"]
