"""On-device install: version checks, atomic unpack-and-switch, keep one previous version.

Layout under the device's state directory::

    tasks/<task>/state.json            {"current": {...}, "previous": {...}}
    tasks/<task>/v/<version>-<sha8>/   unpacked bundles (current and previous only)
    downloads/<sha256>.part|.bundle    downloads in flight / verified archives

The switch is a single ``os.replace`` of ``state.json``, so a crash leaves either the
old or the new version installed, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from . import bundle
from .errors import BundleError, VersionRefused
from .signing import Verifier

NOOP, INSTALL, SWITCH = "noop", "install", "switch"


def _v(value: str, task: str) -> Version:
    try:
        return Version(value)
    except InvalidVersion as exc:
        raise VersionRefused(f"{task}: version {value!r} is not a PEP 440 version") from exc


class Installer:
    """Decides whether a signed statement may be installed, and installs it."""

    def __init__(
        self, root: str | Path, verifier: Verifier, limits: bundle.Limits = bundle.DEFAULT_LIMITS
    ) -> None:
        self.root = Path(root)
        self.downloads = self.root / "downloads"
        self.verifier = verifier
        self.limits = limits

    def _task_dir(self, task: str) -> Path:
        if not task or "/" in task or task.startswith("."):
            raise BundleError(f"task name {task!r} is not a safe directory name")
        return self.root / "tasks" / task

    def state(self, task: str) -> dict[str, Any]:
        """The task's install state (``current`` and ``previous``, each may be absent)."""
        path = self._task_dir(task) / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def current(self, task: str) -> dict[str, Any] | None:
        """The installed version's record: version, sha256, dir; None if none."""
        return self.state(task).get("current")

    def plan(self, statement: dict[str, Any], signature: str) -> str:
        """Verify the statement and decide: NOOP, INSTALL (download) or SWITCH (to previous).

        Raises :class:`SignatureError` for a bad signature and :class:`VersionRefused`
        for an expired statement, a replayed rollback (serial not newer than one already
        seen), or a downgrade that is not an explicit signed rollback from the installed one.
        """
        self.verifier.verify(statement, signature)
        task, ver, sha = statement["task"], statement["version"], statement["bundle_sha256"]
        what = f"{statement['kind']} {task} {ver}"
        if statement["expires"] < time.time():
            when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(statement["expires"]))
            raise VersionRefused(f"{what}: statement expired at {when}: refused")
        st = self.state(task)
        seen = int(st.get("max_serial", 0))
        if statement["kind"] == "rollback" and statement["serial"] <= seen:
            raise VersionRefused(
                f"{what}: rollback statement serial {statement['serial']} is not newer than "
                f"{seen} already seen: replay refused")
        cur = st.get("current")
        if cur is None:
            return INSTALL
        if cur["version"] == ver:
            if cur["sha256"] == sha:
                return NOOP
            raise VersionRefused(f"{task} {ver}: a different bundle of the installed version")
        if _v(ver, task) > _v(cur["version"], task):
            return INSTALL
        if statement["kind"] != "rollback":
            raise VersionRefused(
                f"{task} {ver} is older than installed {cur['version']}: refused "
                "(downgrades need a signed rollback)"
            )
        if statement["from_version"] != cur["version"]:
            raise VersionRefused(
                f"{task}: rollback from {statement['from_version']} to {ver} does not apply "
                f"to installed {cur['version']}"
            )
        prev = st.get("previous")
        if prev and prev["sha256"] == sha and Path(prev["dir"]).is_dir():
            return SWITCH
        return INSTALL

    def install(self, statement: dict[str, Any], archive: Path) -> Path:
        """Unpack a verified archive and make it current; returns the install directory."""
        task, ver, sha = statement["task"], statement["version"], statement["bundle_sha256"]
        tdir = self._task_dir(task)
        (tdir / "v").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=tdir))
        try:
            man = bundle.unpack(archive, staging / "x", self.limits)
            for field, got, want in (("name", man.name, task), ("version", man.version, ver),
                                     ("manifest sha256", man.sha256, statement["manifest_sha256"])):
                if got != want:
                    raise BundleError(f"bundle {field} is {got!r}, signed statement says {want!r}")
            target = tdir / "v" / f"{ver}-{sha[:8]}"
            if target.exists():
                shutil.rmtree(target)
            os.rename(staging / "x", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._switch(task, {"version": ver, "sha256": sha, "dir": str(target)},
                     statement["serial"])
        archive.unlink(missing_ok=True)  # the unpacked copy is what we keep
        return target

    def switch_to_previous(self, task: str, serial: int = 0) -> Path:
        """Make the kept previous version current again (local or signed rollback)."""
        st = self.state(task)
        prev = st.get("previous")
        if not prev or not Path(prev["dir"]).is_dir():
            raise VersionRefused(f"{task}: no previous version is kept to roll back to")
        self._switch(task, prev, serial)
        return Path(prev["dir"])

    def note_seen(self, statement: dict[str, Any]) -> None:
        """Remember a statement's serial although nothing changed (it was a no-op here)."""
        st = self.state(statement["task"])
        if st.get("current") and statement["serial"] > int(st.get("max_serial", 0)):
            self._switch(statement["task"], st["current"], statement["serial"])

    def _switch(self, task: str, new: dict[str, Any], serial: int = 0) -> None:
        tdir = self._task_dir(task)
        st = self.state(task)
        cur = st.get("current")
        st = {"current": new, "previous": cur if cur and cur["dir"] != new["dir"] else st.get("previous"),
              "max_serial": max(int(st.get("max_serial", 0)), serial)}
        tmp = tdir / "state.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(st, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, tdir / "state.json")
        bundle.fsync_dir(tdir)
        keep = {Path(x["dir"]).name for x in (st["current"], st["previous"]) if x}
        for old in (tdir / "v").iterdir():
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
