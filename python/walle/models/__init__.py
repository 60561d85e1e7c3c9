"""Reference models the tests, benchmarks and quick-start build themselves (nothing is
downloaded): torch definitions of ResNet-18/50, MobileNetV2, SqueezeNet 1.1, a BERT encoder
and a DIN-style CTR model, exported to ONNX with random (seeded) weights.

Needs torch (``pip install torch==2.13.0``); import is lazy so ``walle`` does not need it.
"""

from .export import MODEL_NAMES, export_model, make_model

__all__ = ["MODEL_NAMES", "export_model", "make_model"]
