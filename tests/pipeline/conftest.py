"""Shared fixtures: a collector on a loopback port."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from walle.pipeline.collector import CollectorServer

# pytest runs with --import-mode=importlib: make pipeline_testlib importable by the tests
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def collector(tmp_path) -> Iterator[CollectorServer]:
    server = CollectorServer("127.0.0.1", 0, str(tmp_path / "collector.db"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)
