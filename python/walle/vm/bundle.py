"""Task bundles: a directory or archive holding ``task.toml``, code, models and resources."""

from __future__ import annotations

import os
import tempfile
import tomllib
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import archive
from .errors import BundleError
from .manifest import MANIFEST_NAME, Manifest, declared_paths, parse_manifest
from .paths import resolve_inside, tree_size


@dataclass(frozen=True)
class BundleLimits:
    """Bounds applied while loading a bundle (archives are checked before extraction)."""

    max_bytes: int = 1 << 30
    max_files: int = 10_000
    max_manifest_bytes: int = 256 << 10


@dataclass(eq=False)
class Bundle:
    """A validated task bundle.

    ``root`` is the directory holding ``task.toml``; for an archive it is a private
    extraction directory that is deleted when the Bundle is garbage-collected.
    """

    manifest_info: Manifest
    root: Path
    source: Path
    _cleanup: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.manifest_info.name

    @property
    def version(self) -> str:
        return self.manifest_info.version

    @property
    def entry(self) -> str:
        """The entry point as ``"module:function"``."""
        return self.manifest_info.entry

    @property
    def manifest(self) -> dict[str, Any]:
        """The whole decoded ``task.toml``, foreign tables such as ``[pipeline]`` included."""
        return self.manifest_info.raw

    def model_path(self, name: str) -> Path:
        """Absolute path of the model declared as ``[models.NAME]``."""
        return self.root / self.manifest_info.models[name].path

    def resource_path(self, name: str) -> Path:
        """Absolute path of the resource declared in ``[resources]``."""
        return self.root / self.manifest_info.resources[name]


def _entry_problems(root: Path, module: str) -> list[str]:
    rel = Path(*module.split("."))
    if (root / rel.with_suffix(".py")).is_file() or (root / rel / "__init__.py").is_file():
        return []
    return [f"{MANIFEST_NAME}: entry: module {module!r} not found ({rel}.py or {rel}/__init__.py)"]


def _validate_dir(root: Path, limits: BundleLimits) -> Manifest:
    label = str(root)
    manifest_file = root / MANIFEST_NAME
    if not manifest_file.is_file():
        raise BundleError(
            label, [f"{MANIFEST_NAME}: -: missing (a bundle needs {MANIFEST_NAME} at its root)"]
        )
    size = manifest_file.stat().st_size
    if size > limits.max_manifest_bytes:
        raise BundleError(label, [f"{MANIFEST_NAME}: -: {size} bytes, more than {limits.max_manifest_bytes}"])
    try:
        data = tomllib.loads(manifest_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(label, [f"{MANIFEST_NAME}: -: not valid TOML ({exc})"]) from None
    manifest, problems = parse_manifest(data)
    for where, rel, kind in declared_paths(data):
        path, why = resolve_inside(root, rel)
        if why:
            problems.append(f"{MANIFEST_NAME}: {where}: {why}")
        elif kind == "file" and path is not None and not path.is_file():
            problems.append(f"{MANIFEST_NAME}: {where}: {rel!r} is not a regular file")
    entry = data.get("entry")
    if isinstance(entry, str) and entry.count(":") == 1 and entry.split(":")[0]:
        problems.extend(_entry_problems(root, entry.split(":")[0]))
    total, count, escapes = tree_size(root, limits.max_files)
    problems.extend(f"{p}: -: symlink points outside the bundle" for p in escapes)
    if count > limits.max_files:
        problems.append(f"{root.name}: -: more than {limits.max_files} files")
    if total > limits.max_bytes:
        problems.append(f"{root.name}: -: {total} bytes, more than the limit {limits.max_bytes}")
    if problems or manifest is None:
        raise BundleError(label, problems)
    return manifest


def load_bundle(path: str | os.PathLike[str], *, limits: BundleLimits | None = None) -> Bundle:
    """Load and validate a bundle directory, ``.zip`` or ``.tar.gz``.

    Raises :class:`BundleError` listing every problem found as "file: field: reason".
    """
    limits = limits or BundleLimits()
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise BundleError(str(path), [f"{source.name}: -: no such file or directory"])
    if source.is_dir():
        return Bundle(_validate_dir(source, limits), source, source)
    if not archive.is_archive(source):
        raise BundleError(str(path), [f"{source.name}: -: not a directory, .zip or .tar.gz"])
    dest = Path(tempfile.mkdtemp(prefix=f"walle-bundle-{source.stem}-"))
    try:
        problems = archive.extract(source, dest, max_bytes=limits.max_bytes, max_files=limits.max_files)
        if problems:
            raise BundleError(str(path), problems)
        root = archive.find_root(dest, MANIFEST_NAME).resolve()
        try:
            manifest = _validate_dir(root, limits)
        except BundleError as exc:  # name the archive, not the temporary directory
            raise BundleError(str(path), exc.problems) from None
    except BaseException:
        archive.remove_tree(dest)
        raise
    bundle = Bundle(manifest, root, source)
    bundle._cleanup = weakref.finalize(bundle, archive.remove_tree, dest)
    return bundle
