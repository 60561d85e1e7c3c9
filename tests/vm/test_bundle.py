"""Bundle loading and manifest validation."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from vm_testlib import MakeBundle
from walle.vm import BundleError, load_bundle

GOOD = {
    "main.py": "def run(ctx, inputs):\n    return inputs\n",
    "models/net.walle": "x",
    "res/labels.txt": "a\nb\n",
}
GOOD_EXTRA = """
description = "demo"
[models.net]
path = "models/net.walle"
threads = 2
[resources]
labels = "res/labels.txt"
[trigger]
type = "event"
events = ["camera.frame"]
[limits]
run_timeout = 2.5
queue_length = 8
[pipeline]
window = 10
anything = ["goes"]
"""


def test_valid_bundle_exposes_fields_and_passes_foreign_tables(make_bundle: MakeBundle) -> None:
    bundle = load_bundle(make_bundle("good", GOOD, extra=GOOD_EXTRA))
    assert (bundle.name, bundle.version, bundle.entry) == ("good", "1.0", "main:run")
    assert bundle.root.is_dir() and (bundle.root / "task.toml").is_file()
    assert bundle.manifest["pipeline"] == {"window": 10, "anything": ["goes"]}
    assert bundle.manifest_info.limits.run_timeout == 2.5
    assert bundle.manifest_info.models["net"].options == {"threads": 2}
    assert bundle.resource_path("labels").read_text() == "a\nb\n"


def test_every_problem_is_reported_with_file_and_field(make_bundle: MakeBundle, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    manifest = """
name = "bad name!"
entry = "main.run"
typo_key = 1
[models.net]
path = "../outside.txt"
shape = [1, 2]
[models.other]
path = "/etc/passwd"
[resources]
labels = "missing.txt"
link = "escape"
[trigger]
type = "cron"
[limits]
run_timeout = -1
queue_length = 1.5
memory = 10
[pipeline]
ok = true
"""
    root = make_bundle("bad", {"main.py": "def run(ctx, inputs): pass\n"}, manifest=manifest)
    os.symlink(tmp_path / "outside.txt", root / "escape")
    with pytest.raises(BundleError) as info:
        load_bundle(root)
    problems = info.value.problems
    text = "\n".join(problems)
    for expected in [
        "task.toml: name:",
        "task.toml: version: required",
        "task.toml: entry: must be 'module:function'",
        "task.toml: typo_key: unknown top-level key",
        "task.toml: models.net.shape: unknown key",
        "task.toml: models.net.path: path '../outside.txt' contains '..'",
        "task.toml: models.other.path: path '/etc/passwd' is absolute",
        "task.toml: resources.labels: 'missing.txt' does not exist",
        "task.toml: resources.link: path 'escape' resolves outside the bundle",
        "task.toml: trigger.type: must be one of",
        "task.toml: limits.run_timeout: must be >= 0.001",
        "task.toml: limits.queue_length: must be an integer",
        "task.toml: limits.memory: unknown key",
        "escape: -: symlink points outside the bundle",
    ]:
        assert expected in text, f"missing {expected!r} in:\n{text}"
    assert "pipeline" not in text
    assert str(root) in str(info.value)


def test_missing_manifest_and_bad_toml(make_bundle: MakeBundle, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match="task.toml: -: missing"):
        load_bundle(empty)
    bad = make_bundle("badtoml", {}, manifest="name = \n")
    with pytest.raises(BundleError, match="not valid TOML"):
        load_bundle(bad)


def test_missing_entry_module(make_bundle: MakeBundle) -> None:
    with pytest.raises(BundleError, match="task.toml: entry: module 'nope' not found"):
        load_bundle(make_bundle("noentry", {"main.py": ""}, entry="nope:run"))


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_and_targz_bundles(make_bundle: MakeBundle, tmp_path: Path) -> None:
    src = make_bundle("arch", GOOD, extra=GOOD_EXTRA)
    members = {str(p.relative_to(src.parent)): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    bundle = load_bundle(_zip(tmp_path / "arch.zip", members))  # single top-level folder
    assert bundle.name == "arch" and (bundle.root / "res/labels.txt").is_file()
    extracted = bundle.root
    del bundle  # the private extraction directory goes with the Bundle
    import gc

    gc.collect()
    assert not extracted.exists()
    tgz = tmp_path / "arch.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        for p in src.rglob("*"):
            tf.add(p, arcname=str(p.relative_to(src)))
    assert load_bundle(tgz).manifest_info.trigger == {"type": "event", "events": ["camera.frame"]}


def test_hostile_archives_are_rejected(tmp_path: Path) -> None:
    evil = _zip(tmp_path / "evil.zip", {"task.toml": b"", "../escape.py": b"x", "/abs.py": b"y"})
    with pytest.raises(BundleError) as info:
        load_bundle(evil)
    text = "\n".join(info.value.problems)
    assert "evil.zip: ../escape.py: path '../escape.py' contains '..'" in text
    assert "evil.zip: /abs.py: path '/abs.py' is absolute" in text
    assert not (tmp_path / "escape.py").exists()

    tgz = tmp_path / "link.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info_ = tarfile.TarInfo("task.toml")
        info_.size = 0
        tf.addfile(info_, io.BytesIO(b""))
        link = tarfile.TarInfo("passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(BundleError, match="links and special files are not allowed"):
        load_bundle(tgz)


def test_size_limits(make_bundle: MakeBundle, tmp_path: Path) -> None:
    from walle.vm import BundleLimits

    src = make_bundle("big", {"main.py": "x = 1\n" * 1000}, entry="main:x")
    with pytest.raises(BundleError, match="more than the limit 1000"):
        load_bundle(src, limits=BundleLimits(max_bytes=1000))
    bomb = _zip(tmp_path / "bomb.zip", {"task.toml": b"", "zeros": bytes(10_000)})
    with pytest.raises(BundleError, match="bytes unpacked, more than the limit"):
        load_bundle(bomb, limits=BundleLimits(max_bytes=5000))
