"""Task bundles as archives: pack a directory, read its manifest, unpack it safely.

A bundle is a directory with a ``task.toml`` manifest (shared with :mod:`walle.vm`).  On
the wire it is one archive (``.tar.gz`` or ``.zip``) addressed by its sha256.  Unpacking
is the step an attacker aims at, so every member is checked *before* anything is written:
no absolute paths, no ``..``, no links or device files, and bounded sizes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BundleError

MANIFEST = "task.toml"
# what a corrupt or truncated archive raises from the standard library's readers
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile)


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn the archive readers' errors into a :class:`BundleError` naming the archive."""
    try:
        yield
    except _CORRUPT as exc:
        raise BundleError(f"{path.name}: archive is corrupt or truncated: "
                          f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Limits:
    """Bounds on what an unpacked bundle may occupy."""

    max_files: int = 10_000
    max_file_bytes: int = 1 << 30
    max_total_bytes: int = 2 << 30


@dataclass(frozen=True)
class Manifest:
    """The parts of ``task.toml`` the deployment platform relies on."""

    name: str
    version: str
    sha256: str  # of the task.toml bytes, carried in signed statements


def parse_manifest(data: bytes, where: str = MANIFEST) -> Manifest:
    """Parse and validate ``task.toml`` bytes with the task VM's own manifest rules, so the
    platform never ships a bundle the device's runner would refuse."""
    from walle.vm.manifest import parse_manifest as parse_task_manifest

    try:
        doc = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"{where}: not valid TOML: {exc}") from exc
    manifest, problems = parse_task_manifest(doc, where)
    if manifest is None or problems:
        raise BundleError(f"{where}: invalid task manifest: " + "; ".join(problems))
    return Manifest(manifest.name, manifest.version, hashlib.sha256(data).hexdigest())


def archive_format(data_head: bytes) -> str:
    """``"zip"`` or ``"tar.gz"`` from an archive's first bytes."""
    if data_head.startswith(b"PK\x03\x04"):
        return "zip"
    if data_head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    raise BundleError("bundle is neither a .zip nor a .tar.gz archive")


def pack_dir(src: str | Path) -> bytes:
    """A deterministic .tar.gz of directory ``src`` (sorted, zeroed times and owners).

    Determinism means re-publishing the same directory gives the same sha256.
    """
    root = Path(src)
    if not (root / MANIFEST).is_file():
        raise BundleError(f"{root}: no {MANIFEST} in bundle directory")
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                raise BundleError(f"{path}: symlinks are not allowed in bundles")
            rel = path.relative_to(root).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def _check_name(name: str) -> str:
    """Normalise a member name; refuse anything that could escape the target dir."""
    if "\\" in name or "\x00" in name:
        raise BundleError(f"unsafe path {name!r} in bundle: backslash or NUL")
    p = PurePosixPath(name)
    if p.is_absolute():
        raise BundleError(f"unsafe path {name!r} in bundle: absolute path")
    if ".." in p.parts:
        raise BundleError(f"unsafe path {name!r} in bundle: '..' component escapes the target")
    parts = [x for x in p.parts if x not in ("", ".")]
    return "/".join(parts)


def _members(path: Path, limits: Limits) -> list[tuple[str, bool, int]]:
    """(name, is_dir, size) of every member, after the safety checks."""
    with _readable(path):
        out = _list_members(path)
    _check_layout(out)
    total = 0
    for name, _, size in out:
        if size > limits.max_file_bytes:
            raise BundleError(f"bundle member {name!r} is {size} bytes, over the limit")
        total += size
    if len(out) > limits.max_files:
        raise BundleError(f"bundle has {len(out)} members, over the limit {limits.max_files}")
    if total > limits.max_total_bytes:
        raise BundleError(f"bundle unpacks to {total} bytes, over {limits.max_total_bytes}")
    return out


def _check_layout(members: list[tuple[str, bool, int]]) -> None:
    """Refuse a name given twice, or a file that is also a directory (or a file's parent)."""
    files: set[str] = set()
    dirs: set[str] = set()
    for name, is_dir, _ in members:
        if not name:
            continue
        if name in files or (not is_dir and name in dirs):
            raise BundleError(f"bundle member {name!r} appears twice")
        if is_dir and name in files:
            raise BundleError(f"bundle member {name!r} is both a file and a directory")
        (dirs if is_dir else files).add(name)
    for name in files | dirs:
        parent = PurePosixPath(name).parent
        while str(parent) != ".":
            if str(parent) in files:
                raise BundleError(f"bundle member {str(parent)!r} is both a file and a directory")
            parent = parent.parent


def _list_members(path: Path) -> list[tuple[str, bool, int]]:
    fmt = archive_format(path.open("rb").read(4))
    out: list[tuple[str, bool, int]] = []
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            for zi in zf.infolist():
                mode = zi.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise BundleError(f"unsafe member {zi.filename!r} in bundle: symlink")
                out.append((_check_name(zi.filename), zi.is_dir(), zi.file_size))
    else:
        with tarfile.open(path, "r:gz") as tar:
            for ti in tar.getmembers():
                if not (ti.isfile() or ti.isdir()):
                    raise BundleError(
                        f"unsafe member {ti.name!r} in bundle: links and devices are refused"
                    )
                out.append((_check_name(ti.name), ti.isdir(), ti.size))
    return out


def read_manifest(path: str | Path) -> Manifest:
    """The manifest inside archive ``path`` (after the same safety checks as unpacking)."""
    p = Path(path)
    members = _members(p, Limits())
    if not any(name == MANIFEST and not is_dir for name, is_dir, _ in members):
        raise BundleError(f"{p.name}: bundle has no top-level {MANIFEST}")
    with _readable(p):
        if archive_format(p.open("rb").read(4)) == "zip":
            with zipfile.ZipFile(p) as zf:
                data = zf.read(MANIFEST)
        else:
            with tarfile.open(p, "r:gz") as tar:
                member = next(m for m in tar.getmembers() if _check_name(m.name) == MANIFEST)
                fh = tar.extractfile(member)
                assert fh is not None  # checked isfile above
                data = fh.read()
    return parse_manifest(data, f"{p.name}:{MANIFEST}")


DEFAULT_LIMITS = Limits()


def unpack(path: str | Path, dest: str | Path, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Unpack archive ``path`` into the new directory ``dest``; return its manifest.

    All members are checked first, so a refused bundle writes nothing.  Sizes are
    re-checked while writing because archive headers can lie.
    """
    src, out = Path(path), Path(dest)
    _members(src, limits)  # validate everything before writing anything
    out.mkdir(parents=True)
    with _readable(src):
        _write_members(src, out, limits)
    if not (out / MANIFEST).is_file():
        raise BundleError(f"{src.name}: bundle has no top-level {MANIFEST}")
    return parse_manifest((out / MANIFEST).read_bytes())


def _write_members(src: Path, out: Path, limits: Limits) -> None:
    written = 0
    opener = _zip_open if archive_format(src.open("rb").read(4)) == "zip" else _tar_open
    for name, is_dir, fh in opener(src):
        target = out / name if name else out
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as dst:
            while chunk := fh.read(1 << 16):
                written += len(chunk)
                if written > limits.max_total_bytes:
                    raise BundleError(f"bundle unpacks past {limits.max_total_bytes} bytes")
                dst.write(chunk)


def _zip_open(path: Path):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        for zi in zf.infolist():
            with zf.open(zi) as fh:
                yield _check_name(zi.filename), zi.is_dir(), fh


def _tar_open(path: Path):  # type: ignore[no-untyped-def]
    with tarfile.open(path, "r:gz") as tar:
        for ti in tar:
            fh = tar.extractfile(ti) if ti.isfile() else io.BytesIO()
            yield _check_name(ti.name), ti.isdir(), fh


def fsync_dir(path: str | Path) -> None:
    """Flush a directory entry so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
