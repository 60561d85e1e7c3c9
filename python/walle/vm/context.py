"""What a task's entry function receives: ``entry(ctx, inputs)``.

The same class serves thread mode and the guest side of interpreter mode, so it imports
nothing heavy (no numpy, no engine until a model is first used, not even pathlib: it
costs a sub-interpreter several milliseconds, so paths become ``Path`` on first use).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from pathlib import Path
    from typing import Any

ModelLoader = Callable[..., object]
DEFAULT_LOADER = "walle:load"


def resolve_loader(spec: str | ModelLoader) -> ModelLoader:
    """Turn ``"module:attr"`` into the callable; callables pass through."""
    if callable(spec):
        return spec
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"model loader must be 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module), attr)


class Models(Mapping[str, object]):
    """``ctx.models``: each declared model is loaded on first use, then reused by every
    later run of the task (loading is serialized so a model is never loaded twice)."""

    def __init__(self, specs: Mapping[str, tuple[str, dict[str, Any]]], loader: str | ModelLoader) -> None:
        self._specs = dict(specs)
        self._loader_spec = loader
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Any:
        try:
            return self._loaded[name]
        except KeyError:
            pass
        if name not in self._specs:
            known = ", ".join(sorted(self._specs)) or "none"
            raise KeyError(f"model {name!r} is not declared in task.toml (declared: {known})")
        with self._lock:
            if name not in self._loaded:
                path, options = self._specs[name]
                self._loaded[name] = resolve_loader(self._loader_spec)(path, **options)
            return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


class TaskContext:
    """Per-task state handed to the entry function.

    Attributes: ``name``, ``version``, ``root`` (bundle directory), ``manifest`` (the whole
    task.toml as a dict), ``models`` (lazy :class:`Models`), ``state`` (a dict the task may
    use to keep values between its runs; private to this task instance).
    """

    def __init__(
        self,
        *,
        name: str,
        version: str,
        root: str,
        manifest: dict[str, Any],
        models: Mapping[str, tuple[str, dict[str, Any]]],
        resources: Mapping[str, str],
        loader: str | ModelLoader = DEFAULT_LOADER,
    ) -> None:
        self.name = name
        self.version = version
        self._root = root
        self.manifest = manifest
        self.models = Models(models, loader)
        self._resources = dict(resources)
        self.state: dict[str, Any] = {}

    @property
    def root(self) -> Path:
        """The bundle directory."""
        from pathlib import Path

        return Path(self._root)

    def resource_path(self, name: str) -> Path:
        """Absolute path of a resource declared in ``[resources]``."""
        from pathlib import Path

        try:
            return Path(self._resources[name])
        except KeyError:
            known = ", ".join(sorted(self._resources)) or "none"
            raise KeyError(f"resource {name!r} is not declared in task.toml (declared: {known})") from None

    def __repr__(self) -> str:
        return f"TaskContext(name={self.name!r}, version={self.version!r})"


def context_config(bundle: Any, loader: str | ModelLoader) -> dict[str, Any]:
    """The keyword arguments of :class:`TaskContext` for a bundle (plain data if ``loader``
    is a string, so :mod:`walle.vm.codec` can carry it into a sub-interpreter)."""
    info = bundle.manifest_info
    return {
        "name": info.name,
        "version": info.version,
        "root": str(bundle.root),
        "manifest": info.raw,
        "models": {n: (str(bundle.root / s.path), dict(s.options)) for n, s in info.models.items()},
        "resources": {n: str(bundle.root / p) for n, p in info.resources.items()},
        "loader": loader,
    }
