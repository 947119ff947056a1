"""Search spaces and a validity check shared by the planner tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from electroloop.models import Candidate, Goal, Salt, SearchSpace, Solvent

EC = "C1COC(=O)O1"
EMC = "CCOC(=O)OC"
DMC = "COC(=O)OC"
PC = "CC1COC(=O)O1"
LIPF6 = Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2.0)


def make_space(*solvents: tuple[str, str, float, float]) -> SearchSpace:
    return SearchSpace(
        solvents=tuple(
            Solvent(name=n, smiles=s, min_fraction=lo, max_fraction=hi) for n, s, lo, hi in solvents
        ),
        salt=LIPF6,
        temperature=25.0,
    )


STANDARD = make_space(("EC", EC, 0.1, 0.6), ("EMC", EMC, 0.0, 0.9), ("DMC", DMC, 0.0, 0.9))

SPACES: dict[str, SearchSpace] = {
    "standard-3": STANDARD,
    "loose-3": make_space(("EC", EC, 0.0, 1.0), ("EMC", EMC, 0.0, 1.0), ("DMC", DMC, 0.0, 1.0)),
    "tight-3": make_space(("EC", EC, 0.3, 0.35), ("EMC", EMC, 0.3, 0.4), ("DMC", DMC, 0.25, 0.4)),
    "min-sum-exactly-1-3": make_space(
        ("EC", EC, 0.2, 0.5), ("EMC", EMC, 0.3, 0.6), ("DMC", DMC, 0.5, 0.9)
    ),
    "max-sum-exactly-1-3": make_space(
        ("EC", EC, 0.0, 0.1), ("EMC", EMC, 0.0, 0.7), ("DMC", DMC, 0.1, 0.2)
    ),
    "standard-4": make_space(
        ("EC", EC, 0.1, 0.6), ("EMC", EMC, 0.0, 0.9), ("DMC", DMC, 0.0, 0.9), ("PC", PC, 0.0, 0.3)
    ),
    "loose-4": make_space(
        ("EC", EC, 0.0, 1.0), ("EMC", EMC, 0.0, 1.0), ("DMC", DMC, 0.0, 1.0), ("PC", PC, 0.0, 1.0)
    ),
    "tight-4": make_space(
        ("EC", EC, 0.2, 0.25),
        ("EMC", EMC, 0.3, 0.31),
        ("DMC", DMC, 0.2, 0.3),
        ("PC", PC, 0.2, 0.22),
    ),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `space_name` runs once per space in SPACES (test modules cannot import
    this conftest under --import-mode=importlib)."""
    if "space_name" in metafunc.fixturenames:
        metafunc.parametrize("space_name", sorted(SPACES))


@pytest.fixture
def spaces() -> dict[str, SearchSpace]:
    return SPACES


@pytest.fixture
def space() -> SearchSpace:
    """EC 0.1–0.6, EMC 0–0.9, DMC 0–0.9; LiPF6 0.5–2.0 mol/kg; 25 °C."""
    return STANDARD


@pytest.fixture
def goal() -> Goal:
    return Goal()


def _assert_valid(space: SearchSpace, candidates: Sequence[Candidate]) -> None:
    for c in candidates:
        f = c.formulation
        space.check(f)
        assert all(v >= 0.0 for v in f.fractions.values()), c
        assert abs(math.fsum(f.fractions.values()) - 1.0) <= 1e-9, c
        assert f.temperature == space.temperature


@pytest.fixture
def assert_valid() -> Callable[[SearchSpace, Sequence[Candidate]], None]:
    """Every candidate lies in the space: bounds, non-negative, fractions summing to 1."""
    return _assert_valid
