"""Containment and size checks for the files a bundle names.

A bundle is untrusted input (it may come from the deployment platform), so a path in the
manifest must be relative, must not climb out with ``..``, and must still be inside the
bundle after symlinks are resolved.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def check_relative(rel: str) -> str | None:
    """Return why ``rel`` is not an acceptable bundle-relative path, or None if it is."""
    if "\\" in rel or "\x00" in rel:
        return f"path {rel!r} must use '/' separators and no NUL"
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        return f"path {rel!r} is absolute; it must be relative to the bundle"
    if ".." in pure.parts:
        return f"path {rel!r} contains '..'; paths may not leave the bundle"
    return None


def resolve_inside(root: Path, rel: str) -> tuple[Path | None, str | None]:
    """Resolve ``rel`` under ``root`` (already resolved); return (path, None) or (None, why)."""
    why = check_relative(rel)
    if why:
        return None, why
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        return None, f"path {rel!r} resolves outside the bundle (symlink?)"
    if not target.exists():
        return None, f"{rel!r} does not exist in the bundle"
    return target, None


def tree_size(root: Path, max_files: int) -> tuple[int, int, list[str]]:
    """Total bytes and file count under ``root``, plus symlinks that point outside it."""
    total, count, escapes = 0, 0, []
    for path in root.rglob("*"):
        if path.is_symlink():
            real = path.resolve()
            if real != root and root not in real.parents:
                escapes.append(str(path.relative_to(root)))
                continue
        if path.is_file():
            count += 1
            total += path.stat().st_size
            if count > max_files:
                break
    return total, count, escapes
