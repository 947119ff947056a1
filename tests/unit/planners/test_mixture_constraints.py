"""MixtureMap on rich spaces: max_components, extra parameters, linear constraints."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.models import SearchSpace
from electroloop.planners import projection
from electroloop.planners.mixture import Coordinate, MixtureMap
from tests.floats import SAME_COMPUTATION, assert_close

FEASIBILITY = 1e-9
"""The models' tolerance on fraction sums and linear constraints (SUM_TOLERANCE): a projected
or round-tripped value is pinned down only to it."""


def _with(space: SearchSpace, **update: object) -> SearchSpace:
    return SearchSpace.model_validate({**space.model_dump(), **update})


def _cube_points(dimension: int, n: int, seed: int) -> np.ndarray:
    """Random points with a third of the coordinates forced to 0 or 1, plus every corner."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, dimension))
    edge = rng.random((n, dimension)) < 1 / 3
    points[edge] = rng.integers(0, 2, size=int(edge.sum()))
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=dimension)))
    return np.vstack([points, corners])


def test_every_cube_point_is_valid(rich_space_name: str, rich_spaces: dict[str, SearchSpace]):
    space = rich_spaces[rich_space_name]
    mixture = MixtureMap(space)
    for u in _cube_points(mixture.dimension, 1000, seed=len(rich_space_name)):
        f = mixture.to_formulation(u.tolist())
        space.check(f)
        assert abs(math.fsum(f.fractions.values()) - 1.0) <= 1e-9
        assert list(f.extras) == [p.name for p in space.parameters]


def test_feasible_formulations_survive_to_unit_and_back(
    rich_space_name: str, rich_spaces: dict[str, SearchSpace]
) -> None:
    mixture = MixtureMap(rich_spaces[rich_space_name])
    for u in np.random.default_rng(5).random((300, mixture.dimension)):
        f = mixture.to_formulation(u.tolist())
        again = mixture.to_formulation(mixture.to_unit(f))
        assert again.fractions == pytest.approx(f.fractions, abs=FEASIBILITY)
        assert again.molality == pytest.approx(f.molality, abs=FEASIBILITY)
        assert again.extras == pytest.approx(f.extras, abs=FEASIBILITY)


def test_plain_space_keeps_its_layout(space: SearchSpace) -> None:
    mixture = MixtureMap(space)
    assert mixture.coordinates == (
        Coordinate("u0", "fraction"),
        Coordinate("u1", "fraction"),
        Coordinate("molality", "molality"),
    )
    assert mixture.subsets == (("EC", "EMC", "DMC"),)
    assert [mixture.levels(i) for i in range(3)] == [None, None, None]


def test_coordinates_describe_every_dimension(rich_spaces: dict[str, SearchSpace]) -> None:
    mixture = MixtureMap(rich_spaces["everything"])
    assert [tuple(c) for c in mixture.coordinates] == [
        ("u0", "fraction"),
        ("u1", "fraction"),
        ("molality", "molality"),
        ("solvent_subset", "subset"),
        ("rest_hours", "integer"),
        ("stir_rpm", "range"),
        ("additive", "choice"),
    ]
    # EC (min 0.1) and DMC (>= 0.2) must be in every 3-subset that meets the constraints.
    assert mixture.subsets == (("EC", "EMC", "DMC"), ("EC", "DMC", "PC"))
    assert [mixture.levels(i) for i in range(7)] == [None, None, None, 2, 5, None, 3]


def test_coordinate_names_avoid_parameter_names(spaces: dict[str, SearchSpace]) -> None:
    space = _with(
        spaces["loose-4"],
        max_components=2,
        parameters=[
            {"kind": "range", "name": "u0", "low": 0, "high": 1},
            {"kind": "range", "name": "solvent_subset", "low": 0, "high": 1},
        ],
    )
    names = [c.name for c in MixtureMap(space).coordinates]
    assert names == ["_u0", "molality", "_solvent_subset", "u0", "solvent_subset"]


def test_max_components_chooses_the_subset_in_equal_bins(
    rich_spaces: dict[str, SearchSpace],
) -> None:
    space = rich_spaces["max2-of-4"]
    mixture = MixtureMap(space)
    assert mixture.subsets == tuple(itertools.combinations(space.solvent_names, 2))
    for i, subset in enumerate(mixture.subsets):
        f = mixture.to_formulation([0.3, 0.5, (i + 0.5) / 6])
        assert {n for n, x in f.fractions.items() if x > 0} == set(subset)
        # Inactive solvents are set to 0.0, not computed.
        assert all(f.fractions[n] == 0.0 for n in space.solvent_names if n not in subset)
    grid = [(j + 0.5) / 600 for j in range(600)]
    counts = Counter(
        tuple(n for n, x in mixture.to_formulation([0.5, 0.5, u]).fractions.items() if x > 0)
        for u in grid
    )
    assert sorted(counts.values()) == [100] * 6


def test_required_solvents_and_reachable_sums_decide_the_subsets(
    rich_spaces: dict[str, SearchSpace],
) -> None:
    """EC has min 0.1 so it is in every pair; EC (<= 0.6) + PC (<= 0.3) cannot reach 1."""
    assert MixtureMap(rich_spaces["max2-required"]).subsets == (("EC", "EMC"), ("EC", "DMC"))


def test_max_components_at_least_the_solvent_count_changes_nothing(space: SearchSpace) -> None:
    wide = MixtureMap(_with(space, max_components=3))
    plain = MixtureMap(space)
    assert wide.coordinates == plain.coordinates
    for u in np.random.default_rng(0).random((50, 3)):
        # One subset of all three solvents: the same computation as the plain map's.
        assert_close(
            wide.to_formulation(u.tolist()), plain.to_formulation(u.tolist()), **SAME_COMPUTATION
        )


def test_integer_and_choice_bins_have_equal_mass(rich_spaces: dict[str, SearchSpace]) -> None:
    mixture = MixtureMap(rich_spaces["params"])
    grid = [(j + 0.5) / 150 for j in range(150)]
    minutes = Counter(
        mixture.to_formulation([0.5] * 4 + [u, 0.5]).extras["mix_minutes"] for u in grid
    )
    additive = Counter(mixture.to_formulation([0.5] * 5 + [u]).extras["additive"] for u in grid)
    assert minutes == {1: 30, 2: 30, 3: 30, 4: 30, 5: 30}
    assert additive == {"none": 50, "FEC": 50, "VC": 50}
    top = mixture.to_formulation([0.5] * 4 + [1.0, 1.0])
    assert top.extras == {"mix_minutes": 5, "additive": "VC"}
    assert isinstance(top.extras["mix_minutes"], int)


def _distance(space: SearchSpace, a: dict[str, float], b: dict[str, float]) -> float:
    return math.dist([a[n] for n in space.solvent_names], [b[n] for n in space.solvent_names])


def test_violating_points_go_to_the_nearest_feasible_mixture(
    rich_spaces: dict[str, SearchSpace],
) -> None:
    """No feasible mixture (sampled densely through the map) is nearer than the projection."""
    space = rich_spaces["linear"]
    mixture = MixtureMap(space)
    unconstrained = MixtureMap(_with(space, linear_constraints=[]))
    rng = np.random.default_rng(2)
    feasible = [mixture.to_formulation(u.tolist()).fractions for u in rng.random((3000, 4))]
    projected = 0
    for u in rng.random((60, 4)).tolist():
        raw = unconstrained.to_formulation(u).fractions
        got = mixture.to_formulation(u).fractions
        if got == pytest.approx(raw, **SAME_COMPUTATION):  # not projected: the same stick-breaking
            continue
        projected += 1
        nearest = min(_distance(space, raw, f) for f in feasible)
        assert _distance(space, raw, got) <= nearest + 1e-9
        on_boundary = abs(got["EC"] + got["PC"] - 0.5) < 1e-9 or abs(got["DMC"] - 0.2) < 1e-9
        assert on_boundary  # the price: violating points collapse onto the boundary
    assert projected >= 20


def test_without_the_qp_the_inward_pull_alone_is_still_valid(
    rich_spaces: dict[str, SearchSpace], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If SLSQP fails, the stick-broken point is pulled towards the interior instead."""
    monkeypatch.setattr(projection._Polytope, "_nearest", lambda self, y0: y0)
    space = rich_spaces["everything"]
    mixture = MixtureMap(space)
    for u in _cube_points(mixture.dimension, 300, seed=4):
        space.check(mixture.to_formulation(u.tolist()))


def test_a_constraint_pinning_a_fraction_is_honoured(space: SearchSpace) -> None:
    pinned = _with(space, linear_constraints=["EC <= 0.3", "EC >= 0.3", "EMC - DMC >= 0"])
    mixture = MixtureMap(pinned)
    for u in _cube_points(3, 300, seed=8):
        f = mixture.to_formulation(u.tolist())
        pinned.check(f)
        assert f.fractions["EC"] == pytest.approx(0.3, abs=FEASIBILITY)


def test_an_integer_in_a_constraint_moves_to_the_nearest_feasible_value(
    space: SearchSpace,
) -> None:
    tight = _with(
        space,
        parameters=[{"kind": "range", "name": "rest_hours", "low": 0, "high": 4, "integer": True}],
        linear_constraints=["molality + 0.25 * rest_hours <= 1.0"],
    )
    mixture = MixtureMap(tight)
    f = mixture.to_formulation([0.5, 0.5, 0.0, 1.0])  # molality 0.5, rest_hours 4
    # Projected (rest_hours 4 -> 2): the molality is pinned down to the constraint tolerance.
    assert f.extras["rest_hours"] == 2 and f.molality == pytest.approx(0.5, abs=FEASIBILITY)
    f = mixture.to_formulation([0.5, 0.5, 1.0, 1.0])  # molality 2.0: projected down
    assert f.extras["rest_hours"] == 2 and f.molality == pytest.approx(0.5, abs=FEASIBILITY)
    f = mixture.to_formulation([0.5, 0.5, 0.2, 0.1])  # molality 0.8, rest_hours 0: fine
    # Not projected: 0.5 + 0.2 × 1.5 mol/kg, a closed form up to rounding.
    assert f.extras["rest_hours"] == 0 and f.molality == pytest.approx(0.8, rel=1e-12)


def test_constraints_filter_the_subsets(spaces: dict[str, SearchSpace]) -> None:
    space = _with(spaces["loose-4"], max_components=2, linear_constraints=["DMC >= 0.2"])
    assert MixtureMap(space).subsets == (("EC", "DMC"), ("EMC", "DMC"), ("DMC", "PC"))


@pytest.mark.parametrize(
    ("update", "culprit", "context"),
    [
        ({"linear_constraints": ["EC + PC <= 0.5", "EC >= 0.55"]}, "1 * EC >= 0.55", "EC + 1"),
        ({"linear_constraints": ["molality >= 2.5"]}, "1 * molality >= 2.5", "molality range"),
        (
            {"max_components": 2, "linear_constraints": ["EMC >= 0.1", "DMC >= 0.1"]},
            "1 * DMC >= 0.1",
            "max_components=2",
        ),
    ],
)
def test_infeasible_constraints_are_named_at_construction(
    spaces: dict[str, SearchSpace], update: dict[str, object], culprit: str, context: str
) -> None:
    """EC is required (min 0.1): with at most 2 solvents EMC and DMC cannot both be present."""
    space = _with(spaces["standard-4"], **update)
    with pytest.raises(ConfigError, match="cannot be met") as info:
        MixtureMap(space)
    assert f"'{culprit}'" in str(info.value)
    assert context in str(info.value)
