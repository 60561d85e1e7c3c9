"""
Walle tensor engine (C++ core)
"""
import collections.abc
import typing

import typing_extensions

class Tensor:
    """
    A dense tensor; supports the buffer protocol.
    """
    @staticmethod
    def from_strings(values: collections.abc.Sequence, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], what: str = 'Tensor') -> Tensor:
        """
        A string tensor of `shape` from a flat sequence of str (or UTF-8 bytes), copied.
        """
    def __init__(self, data: typing_extensions.Buffer, dtype: str = '') -> None:
        """
        Copies any C-contiguous buffer (numpy array, memoryview, array.array) into a new tensor.
        """
    def strings(self) -> list:
        """
        The elements of a string tensor as a flat list of str.
        """
    def tolist(self) -> typing.Any:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def shape(self) -> tuple:
        ...
class Session:
    def __init__(self, path: str, backend: str = 'cpu', isa: str = 'auto', threads: typing.SupportsInt | typing.SupportsIndex = 1, mode: str = 'estimate', force: collections.abc.Mapping[str, str] = {}, memory_limit: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def plan(self) -> list:
        ...
    def run(self, inputs: list, dtypes: collections.abc.Sequence[str] = []) -> list:
        ...
    @property
    def arena_bytes(self) -> int:
        ...
    @property
    def backend(self) -> str:
        ...
    @property
    def inputs(self) -> list:
        ...
    @property
    def outputs(self) -> list:
        ...
    @property
    def threads(self) -> int:
        ...
def atomic_ops() -> list[str]:
    ...
def backend_status() -> list:
    """
    Every backend: whether this build has it, whether this machine can run it, the device or why not.
    """
def backends() -> list[str]:
    ...
def check_model(arg0: str) -> None:
    """
    Loads and verifies a model file; raises walle.ModelError on any problem.
    """
def composite_ops() -> list[str]:
    """
    The composite (ONNX) op types this build runs, sorted; each is defined by its decomposition into atomic ops.
    """
def detected_isa() -> str:
    ...
def format_version() -> int:
    ...
def model_summary(arg0: str) -> dict:
    """
    Op counts, parameter count and weight bytes of a model file.
    """
