"""Types shared by the VM tests (a uniquely named module: `conftest` is ambiguous when
several test folders put themselves on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

MakeBundle = Callable[..., Path]
