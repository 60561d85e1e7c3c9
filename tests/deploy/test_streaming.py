"""Downloads stream from disk: the service's memory does not grow with bundle size or
with the number of devices downloading at once (Range and ETag are tested in
test_security.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from helpers import run

BENCH = Path(__file__).resolve().parents[2] / "bench" / "deploy" / "download_rss.py"


def test_parallel_downloads_keep_service_memory_flat(tmp_path: Path) -> None:
    """Defect 5: downloads read the whole bundle into memory (6 x 300 MB: 1.9 GB)."""
    spec = importlib.util.spec_from_file_location("download_rss", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    got = run(bench.measure(64, 8, tmp_path), timeout=240)
    assert got["rss_growth_mb"] < 50, got  # whole-body reads would need 8 x 64 MB
