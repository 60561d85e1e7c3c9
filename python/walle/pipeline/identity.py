"""The device id: given by the app, or generated once and kept next to the store.

Two pipelines must never share an id at the collector (their results would overwrite each
other), so there is no fixed default: without ``device_id`` the first start on a store makes
a random id and writes it to ``<store>.device``; later starts read it back.  The file is
separate from the store on purpose: a store that is deleted and recreated is a new *stream*
of the same device (see :mod:`walle.pipeline.store`).
"""

from __future__ import annotations

import os
import re
import uuid

from .errors import PipelineError

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}")


def check_device_id(device_id: str, where: str = "device_id") -> str:
    """Return ``device_id`` if it is a usable id, else raise PipelineError naming it."""
    if not isinstance(device_id, str) or not _ID_RE.fullmatch(device_id):
        raise PipelineError(f"{where} must be 1-128 characters of letters, digits and "
                            f"_.:@- (starting with a letter or digit), got {device_id!r}")
    return device_id


def resolve_device_id(device_id: str | None, store_path: str) -> str:
    """The given id, else the one persisted for ``store_path`` (created on first use).
    An in-memory store persists nothing: it gets a fresh id per pipeline."""
    if device_id is not None:
        return check_device_id(device_id)
    if store_path == ":memory:":
        return f"mem-{uuid.uuid4().hex}"
    path = store_path + ".device"
    try:
        with open(path, encoding="utf-8") as f:
            return check_device_id(f.read().strip(), f"device id file {path!r}")
    except FileNotFoundError:
        pass
    new = uuid.uuid4().hex
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(new + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)     # atomic: a kill leaves no half-written id
    except OSError as exc:
        raise PipelineError(f"cannot write the device id file {path!r}: {exc}") from exc
    return new
