"""Safe extraction of ``.zip`` and ``.tar.gz`` bundles.

Every member is checked before anything is written (no absolute paths, no ``..``, no
links or device files, bounded count and uncompressed size), and the size bound is
enforced again while writing because archive headers can lie (zip bombs).
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .paths import check_relative

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
_CHUNK = 1 << 16


def is_archive(path: Path) -> bool:
    """True when ``path`` names a bundle archive by its suffix."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _members(path: Path) -> Iterator[tuple[str, str, int, object]]:
    """Yield (name, kind, declared size, handle) with kind in file/dir/other."""
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                mode = (info.external_attr >> 16) & 0o170000
                kind = "dir" if info.is_dir() else ("other" if mode == 0o120000 else "file")
                yield info.filename, kind, info.file_size, info
    else:
        with tarfile.open(path, "r:gz") as tf:
            for info in tf.getmembers():
                kind = "dir" if info.isdir() else ("file" if info.isfile() else "other")
                yield info.name, kind, info.size, info


def _open_member(archive: zipfile.ZipFile | tarfile.TarFile, handle: object) -> IO[bytes]:
    if isinstance(archive, zipfile.ZipFile):
        return archive.open(handle)  # type: ignore[arg-type]
    stream = archive.extractfile(handle)  # type: ignore[arg-type]
    assert stream is not None
    return stream


def extract(path: Path, dest: Path, *, max_bytes: int, max_files: int) -> list[str]:
    """Extract ``path`` into the empty directory ``dest``; return problems (empty = ok)."""
    src = path.name
    problems: list[str] = []
    try:
        members = list(_members(path))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        return [f"{src}: archive: cannot read ({exc})"]
    files = [m for m in members if m[1] == "file"]
    for name, kind, _, _ in members:
        why = check_relative(name.rstrip("/")) if name.strip("/") else "empty member name"
        if why:
            problems.append(f"{src}: {name}: {why}")
        if kind == "other":
            problems.append(f"{src}: {name}: links and special files are not allowed")
    if len(files) > max_files:
        problems.append(f"{src}: archive: {len(files)} files, more than the limit {max_files}")
    declared = sum(m[2] for m in files)
    if declared > max_bytes:
        problems.append(f"{src}: archive: {declared} bytes unpacked, more than the limit {max_bytes}")
    if problems:
        return problems
    opener = zipfile.ZipFile if src.lower().endswith(".zip") else tarfile.open
    written = 0
    with opener(path) as archive:  # type: ignore[operator]
        for name, kind, _, handle in members:
            target = dest / name
            if kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with _open_member(archive, handle) as stream, open(target, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        return [f"{src}: {name}: unpacked size exceeds the limit {max_bytes}"]
                    out.write(chunk)
    return []


def find_root(dest: Path, manifest_name: str) -> Path:
    """The bundle root inside an extracted archive: ``dest`` or its single top folder."""
    if (dest / manifest_name).is_file():
        return dest
    entries = [p for p in dest.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def remove_tree(path: Path) -> None:
    """Delete an extraction directory, ignoring errors (used from finalizers)."""
    shutil.rmtree(path, ignore_errors=True)
