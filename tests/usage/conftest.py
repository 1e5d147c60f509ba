from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pg import PostgresCluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of a test: SQLite in its folder, or a fresh database of the session's PostgreSQL 15."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'usage.sqlite'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    import psycopg

    name = f"t{abs(hash(request.node.nodeid)) % 10**9}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + f"/{name}"
