"""Fixtures shared by every test: where the real reference data lives, and the campaigns
database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresCluster

REPO_ROOT = Path(__file__).resolve().parents[1]

# tblite's OpenMP threads spin on a busy 2-core machine (a 300x slowdown, docs/oracle.md);
# one thread per calculation, and the parallelism comes from running calculations side by side.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout (CI clones with shared/ beside it)."""
    path = Path(os.environ.get("ELECTROLOOP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"reference data not found at {path}; set ELECTROLOOP_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on loopback for the session (started only if a test
    asks for it; about 1 s)."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """A new empty database of the session's cluster, one per test."""
    return postgres.create_database(f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """The campaigns database, once as the embedded SQLite file and once on PostgreSQL: the
    store, lease and record code must behave the same on both."""
    if request.param == "sqlite":
        return tmp_path / "campaigns.sqlite"
    return str(request.getfixturevalue("postgres_url"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lab",
        default=None,
        help="lab file whose instruments the hardware tests check (pytest -m hardware --lab "
        "lab.toml tests/hardware); without it they are skipped",
    )
