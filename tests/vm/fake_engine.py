"""A stand-in for ``walle.load`` used by the VM tests (importable in sub-interpreters)."""

from __future__ import annotations

from typing import Any

LOADS: list[str] = []  # per interpreter: each sub-interpreter has its own copy


class FakeSession:
    """Doubles every element of the one input it gets; counts its runs."""

    def __init__(self, path: str, options: dict[str, Any]) -> None:
        self.path = path
        self.options = options
        self.runs = 0

    def run(self, inputs: dict[str, Any]) -> dict[str, list[float]]:
        self.runs += 1
        (value,) = inputs.values()
        values = value if isinstance(value, list) else memoryview(value).tolist()
        return {"y": [2 * v for v in values]}


def load(path: str, **options: Any) -> FakeSession:
    LOADS.append(path)
    return FakeSession(path, options)
