"""Fixtures for the deploy tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import postgres_cluster


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL cluster (skips when the binaries are missing)."""
    with postgres_cluster() as url:
        if url is None:
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: "
                        "apt-get install postgresql to run the PostgreSQL variant")
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database the service supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deploy.db'}"
    import uuid

    import psycopg

    base = str(request.getfixturevalue("pg_url"))
    name = f"t_{uuid.uuid4().hex[:12]}"  # a fresh database per test
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name
