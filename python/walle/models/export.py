"""Builds a reference model with seeded random weights and exports it to ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODEL_NAMES = ["resnet18", "resnet50", "mobilenetv2", "squeezenet1_1", "bert", "din"]


def make_model(name: str, seed: int = 0):
    """(torch module in eval mode, dict of example numpy inputs)."""
    import torch

    from . import ctr, vision

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    image = {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    if name == "resnet18":
        model, inputs = vision.ResNet(vision.BasicBlock, [2, 2, 2, 2]), image
    elif name == "resnet50":
        model, inputs = vision.ResNet(vision.Bottleneck, [3, 4, 6, 3]), image
    elif name == "mobilenetv2":
        model, inputs = vision.MobileNetV2(), image
    elif name == "squeezenet1_1":
        model, inputs = vision.SqueezeNet11(), image
    elif name == "bert":
        model = ctr.BertEncoder()
        mask = np.ones((1, 128), np.int64)
        mask[0, 100:] = 0
        inputs = {"input_ids": rng.integers(0, 30522, (1, 128)).astype(np.int64), "attention_mask": mask}
    elif name == "din":
        model = ctr.DIN()
        hist_mask = np.zeros((1, 50), bool)
        hist_mask[0, :37] = True
        inputs = {
            "item": rng.integers(0, 100_000, (1,)).astype(np.int64),
            "category": rng.integers(0, 1000, (1,)).astype(np.int64),
            "hist_items": rng.integers(0, 100_000, (1, 50)).astype(np.int64),
            "hist_categories": rng.integers(0, 1000, (1, 50)).astype(np.int64),
            "hist_mask": hist_mask,
            "dense": rng.standard_normal((1, 8)).astype(np.float32),
        }
    else:
        raise ValueError(f"unknown model {name!r}; known: {MODEL_NAMES}")
    _randomize_batchnorm(model, seed)
    return model.eval(), inputs


def _randomize_batchnorm(model, seed: int) -> None:
    """Non-trivial BN statistics, so that conv+bn folding is really tested."""
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def export_model(name: str, path: str | Path, seed: int = 0, opset: int = 17) -> dict[str, np.ndarray]:
    """Exports model ``name`` to ONNX at ``path``; returns its example inputs."""
    import torch

    model, inputs = make_model(name, seed)
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    with torch.no_grad():
        torch.onnx.export(model, args, str(path), input_names=list(inputs), output_names=["output"],
                          opset_version=opset, dynamo=False)
    return inputs
