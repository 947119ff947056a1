"""MixtureMap: every cube point is a valid formulation, and the map inverts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from electroloop.models import Formulation, SearchSpace
from electroloop.planners.mixture import MixtureMap
from tests.floats import SAME_COMPUTATION, assert_close

ROUND_TRIP = 1e-9
"""How closely f -> u -> f and u -> f -> u come back: the models' tolerance on fractions
(SUM_TOLERANCE); rounding in the stick-breaking windows (over a window's width) is far below it."""

CLOSED_FORM = 1e-12
"""Relative tolerance of a value the map computes against its closed form: rounding only."""


def _cube_points(dimension: int, n: int, seed: int) -> np.ndarray:
    """Random points with a third of the coordinates forced to 0 or 1, plus every corner."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, dimension))
    edge = rng.random((n, dimension)) < 1 / 3
    points[edge] = rng.integers(0, 2, size=int(edge.sum()))
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=dimension)))
    return np.vstack([points, corners])


def _assert_formulation_valid(space: SearchSpace, f: Formulation) -> None:
    space.check(f)
    assert all(v >= 0.0 for v in f.fractions.values())
    assert abs(math.fsum(f.fractions.values()) - 1.0) <= 1e-9
    assert list(f.fractions) == list(space.solvent_names)
    assert f.salt == space.salt.name
    assert f.temperature == space.temperature


def test_every_cube_point_maps_to_a_valid_formulation(
    space_name: str, spaces: dict[str, SearchSpace]
) -> None:
    space = spaces[space_name]
    mixture = MixtureMap(space)
    assert mixture.dimension == len(space.solvents)
    for u in _cube_points(mixture.dimension, 2000, seed=len(space_name)):
        _assert_formulation_valid(space, mixture.to_formulation(u.tolist()))


def test_formulation_round_trip(space_name: str, spaces: dict[str, SearchSpace]) -> None:
    mixture = MixtureMap(spaces[space_name])
    for u in _cube_points(mixture.dimension, 500, seed=7):
        f = mixture.to_formulation(u.tolist())
        again = mixture.to_formulation(mixture.to_unit(f))
        for solvent, value in f.fractions.items():
            assert again.fractions[solvent] == pytest.approx(value, abs=ROUND_TRIP)
        assert again.molality == pytest.approx(f.molality, abs=ROUND_TRIP)


@pytest.mark.parametrize("name", ["standard-3", "loose-3", "tight-3", "standard-4", "tight-4"])
def test_unit_round_trip_inside_the_cube(name: str, spaces: dict[str, SearchSpace]) -> None:
    """Where every window is open (interior points of these spaces) u -> f -> u is exact."""
    mixture = MixtureMap(spaces[name])
    rng = np.random.default_rng(3)
    for u in rng.uniform(0.01, 0.99, size=(1000, mixture.dimension)):
        back = mixture.to_unit(mixture.to_formulation(u.tolist()))
        assert back == pytest.approx(u.tolist(), abs=ROUND_TRIP)


def test_only_one_mixture_when_minimums_sum_to_one(spaces: dict[str, SearchSpace]) -> None:
    mixture = MixtureMap(spaces["min-sum-exactly-1-3"])
    f = mixture.to_formulation([0.9, 0.1, 0.25])
    # The minimums, up to the rounding of the windows' sums.
    assert f.fractions == pytest.approx({"EC": 0.2, "EMC": 0.3, "DMC": 0.5}, abs=1e-12)
    assert f.molality == pytest.approx(0.875, rel=CLOSED_FORM)  # 0.5 + 0.25 × 1.5
    # Empty windows map to their centre: a 0.5 set by the map, not computed.
    assert mixture.to_unit(f)[:2] == [0.5, 0.5]


def test_stick_breaking_formula(space: SearchSpace) -> None:
    """EC in [0.1, 0.6]; EMC then takes u1 of what EC left (DMC may be 0..0.9)."""
    f = MixtureMap(space).to_formulation([0.5, 0.25, 1.0])
    assert f.fractions["EC"] == pytest.approx(0.35, rel=CLOSED_FORM)
    assert f.fractions["EMC"] == pytest.approx(0.25 * 0.65, rel=CLOSED_FORM)
    assert f.fractions["DMC"] == pytest.approx(0.75 * 0.65, rel=CLOSED_FORM)
    assert f.molality == pytest.approx(2.0, rel=CLOSED_FORM)  # 0.5 + 1.0 × 1.5 mol/kg


def test_out_of_cube_coordinates_are_clipped(space: SearchSpace) -> None:
    mixture = MixtureMap(space)
    clipped = mixture.to_formulation([-0.5, 1.5, 2.0])
    # Clipped first, then the same computation as at the cube's edge.
    assert_close(clipped, mixture.to_formulation([0.0, 1.0, 1.0]), **SAME_COMPUTATION)


@pytest.mark.parametrize("u", [[0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, math.nan, 0.5]])
def test_bad_cube_points_are_rejected(u: list[float], space: SearchSpace) -> None:
    with pytest.raises(ValueError, match="cube point"):
        MixtureMap(space).to_formulation(u)


def test_to_unit_rejects_other_solvents(space: SearchSpace) -> None:
    f = Formulation(fractions={"EC": 0.5, "PC": 0.5}, salt="LiPF6", molality=1.0, temperature=25)
    with pytest.raises(ValueError, match="differ from the search space"):
        MixtureMap(space).to_unit(f)


@pytest.mark.parametrize("name", ["standard-3", "tight-3", "standard-4", "tight-4"])
def test_every_feasible_formulation_is_reached(name: str, spaces: dict[str, SearchSpace]) -> None:
    """Onto: feasible mixtures (Dirichlet draws kept if inside the bounds) survive f -> u -> f."""
    space = spaces[name]
    mixture = MixtureMap(space)
    lo = np.array([s.min_fraction for s in space.solvents])
    hi = np.array([s.max_fraction for s in space.solvents])
    rng = np.random.default_rng(11)
    # Sample the free part above the minimums so that tight spaces keep enough draws.
    free = 1.0 - lo.sum()
    draws = lo + free * rng.dirichlet(np.ones(len(lo)), size=20000)
    feasible = draws[(draws <= hi).all(axis=1)][:300]
    assert len(feasible) >= 100
    for x in feasible:
        x[-1] = 1.0 - math.fsum(x[:-1])
        f = Formulation(
            fractions=dict(zip(space.solvent_names, x.tolist(), strict=True)),
            salt="LiPF6",
            molality=1.3,
            temperature=25.0,
        )
        again = mixture.to_formulation(mixture.to_unit(f))
        assert list(again.fractions.values()) == pytest.approx(x.tolist(), abs=ROUND_TRIP)
        assert again.molality == pytest.approx(1.3, abs=1e-12)  # linear in u: rounding only
