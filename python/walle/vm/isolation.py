"""Thread-mode isolation: each loaded task gets a private module namespace.

A task's files are imported as submodules of a fresh package ``_walle_task_<n>`` whose
``__path__`` is the bundle root, so two tasks that both ship ``utils.py`` get two modules.
So that the task's own ``import utils`` finds *its* utils, every module of the task gets a
private ``__builtins__`` whose ``__import__`` rewrites absolute imports of names that exist
in the bundle to the private package.  Other imports (numpy, walle, stdlib) are untouched.

This is namespace isolation, not a sandbox: tasks still share ``sys.modules`` for third
party packages and the process itself.  ``importlib.import_module("utils")`` bypasses the
rewrite; tasks should use the import statement (or relative imports).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import itertools
import sys
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .capture import task_print
from .entry import resolve_entry

_PREFIX = "_walle_task_"
_counter = itertools.count(1)
_finder_lock = threading.Lock()
_namespaces: dict[str, TaskNamespace] = {}


class _IsolatingLoader(importlib.abc.Loader):
    """Wraps the normal source loader to install the task's builtins before execution."""

    def __init__(self, inner: importlib.abc.Loader, task_builtins: dict[str, Any]) -> None:
        self._inner = inner
        self._builtins = task_builtins

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self._builtins
        self._inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_data, get_filename, resource readers
        return getattr(self._inner, name)


class _TaskFinder(importlib.abc.MetaPathFinder):
    """Finds ``_walle_task_<n>.x`` modules inside the owning task's bundle."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX) or "." not in fullname:
            return None
        ns = _namespaces.get(fullname.partition(".")[0])
        if ns is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _IsolatingLoader(spec.loader, ns.builtins)  # type: ignore[arg-type]
        return spec


_finder = _TaskFinder()


class TaskNamespace:
    """The private package of one loaded task (thread mode)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = f"{_PREFIX}{next(_counter)}"
        self._local: dict[str, bool] = {}
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        self.builtins["print"] = task_print  # per-run capture (see walle.vm.capture)
        pkg = types.ModuleType(self.package)
        pkg.__path__ = [str(root)]
        pkg.__package__ = self.package
        pkg.__spec__ = importlib.machinery.ModuleSpec(self.package, None, is_package=True)
        pkg.__spec__.submodule_search_locations = [str(root)]
        with _finder_lock:
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            _namespaces[self.package] = self
            sys.modules[self.package] = pkg

    def _is_local(self, top: str) -> bool:
        # cached: import statements inside functions run on every call
        found = self._local.get(top)
        if found is None:
            found = (self.root / f"{top}.py").is_file() or (self.root / top).is_dir()
            self._local[top] = found
        return found

    def _import(
        self,
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        top = name.partition(".")[0]
        if level != 0 or not self._is_local(top):
            return builtins.__import__(name, globals, locals, fromlist, level)
        module = builtins.__import__(f"{self.package}.{name}", globals, locals, fromlist, 0)
        # "import a.b" binds "a": return the task's a, not the private package
        return module if fromlist else sys.modules[f"{self.package}.{top}"]

    def import_entry(self, entry: str) -> Callable[..., Any]:
        """Import ``module:function`` from the bundle and return the function."""
        module_name = entry.partition(":")[0]
        return resolve_entry(importlib.import_module(f"{self.package}.{module_name}"), entry)

    def close(self) -> None:
        """Forget every module of this task so it can be garbage-collected."""
        with _finder_lock:
            _namespaces.pop(self.package, None)
            for key in [k for k in sys.modules if k == self.package or k.startswith(self.package + ".")]:
                del sys.modules[key]
