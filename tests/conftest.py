"""Fixtures shared by every test: where the real reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lab",
        default=None,
        help="lab file whose instruments the hardware tests check (pytest -m hardware --lab "
        "lab.toml tests/hardware); without it they are skipped",
    )
