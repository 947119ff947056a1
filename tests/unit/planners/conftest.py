"""Search spaces and a validity check shared by the planner tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from electroloop.models import (
    Candidate,
    ChoiceParameter,
    Goal,
    RangeParameter,
    Salt,
    SearchSpace,
    Solvent,
)

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


STANDARD_4 = SPACES["standard-4"]


def _with(space: SearchSpace, **update: object) -> SearchSpace:
    """`space` with fields replaced, validated again (model_copy would not validate)."""
    return SearchSpace.model_validate({**space.model_dump(), **update})


RICH_SPACES: dict[str, SearchSpace] = {
    # (a) at most 2 of 4 solvents non-zero (6 pairs to choose from).
    "max2-of-4": _with(SPACES["loose-4"], max_components=2),
    # EC is required (min 0.1), PC at most 0.3: only pairs with EC, and not EC+PC (max sum 0.9).
    "max2-required": _with(STANDARD_4, max_components=2),
    # (b) linear constraints on fractions.
    "linear": _with(STANDARD_4, linear_constraints=["EC + PC <= 0.5", "DMC >= 0.2"]),
    # (c) an integer range and a choice parameter.
    "params": _with(
        STANDARD_4,
        parameters=[
            RangeParameter(name="mix_minutes", low=1, high=5, integer=True),
            ChoiceParameter(name="additive", choices=("none", "FEC", "VC")),
        ],
    ),
    # All at once, with constraints on molality, an integer and a continuous parameter.
    "everything": _with(
        STANDARD_4,
        max_components=3,
        parameters=[
            {"kind": "range", "name": "rest_hours", "low": 0, "high": 4, "integer": True},
            {"kind": "range", "name": "stir_rpm", "low": 100, "high": 600},
            {"kind": "choice", "name": "additive", "choices": ["none", "FEC", "VC"]},
        ],
        linear_constraints=[
            "EC + PC <= 0.5",
            "DMC >= 0.2",
            "molality + 0.25 * rest_hours <= 1.75",
            "EMC + 0.001 * stir_rpm <= 0.7",
        ],
    ),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `space_name` runs once per space in SPACES, one taking `rich_space_name`
    once per space in RICH_SPACES (test modules cannot import this conftest under
    --import-mode=importlib)."""
    if "space_name" in metafunc.fixturenames:
        metafunc.parametrize("space_name", sorted(SPACES))
    if "rich_space_name" in metafunc.fixturenames:
        metafunc.parametrize("rich_space_name", sorted(RICH_SPACES))


@pytest.fixture
def rich_spaces() -> dict[str, SearchSpace]:
    """Spaces with max_components, extra parameters and linear constraints."""
    return RICH_SPACES


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
