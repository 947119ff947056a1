"""true_optimum: feasible, plausible, unbeaten by random feasible points, fast and deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.models import Salt, SearchSpace, Solvent
from electroloop.simulations.optimum import true_optimum
from electroloop.simulations.physics import conductivity
from tests.floats import SAME_COMPUTATION, assert_close

LIPF6 = Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2.0)


def make_space(ec_min: float = 0.1, salt: Salt = LIPF6, second: str = "CCOC(=O)OC") -> SearchSpace:
    return SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="O=C1OCCO1", min_fraction=ec_min, max_fraction=0.6),
            Solvent(name="EMC", smiles=second, min_fraction=0.0, max_fraction=0.9),
            Solvent(name="DMC", smiles="COC(=O)OC", min_fraction=0.0, max_fraction=0.9),
        ),
        salt=salt,
        temperature=25.0,
    )


def sigma(space: SearchSpace, fractions: dict[str, float], molality: float) -> float:
    by_smiles = {s.canonical_smiles: fractions[s.name] for s in space.solvents}
    return conductivity(by_smiles, space.salt.canonical_smiles, molality, space.temperature)


def random_feasible(space: SearchSpace, n: int, seed: int) -> list[tuple[dict[str, float], float]]:
    """Rejection sampling: uniform on the simplex, kept when inside every bound."""
    rng = np.random.default_rng(seed)
    out: list[tuple[dict[str, float], float]] = []
    while len(out) < n:
        w = rng.dirichlet(np.ones(len(space.solvents)))
        if all(
            s.min_fraction <= x <= s.max_fraction for s, x in zip(space.solvents, w, strict=True)
        ):
            m = rng.uniform(space.salt.min_molality, space.salt.max_molality)
            out.append(({s.name: float(x) for s, x in zip(space.solvents, w, strict=True)}, m))
    return out


def test_optimum_is_feasible_plausible_and_unbeaten() -> None:
    space = make_space()
    formulation, value = true_optimum(space)
    space.check(formulation)
    assert 10.0 < value < 13.5
    assert value == pytest.approx(
        sigma(space, formulation.fractions, formulation.molality), rel=1e-12
    )
    assert 0.6 < formulation.molality < 1.9  # interior in salt content
    assert 0.2 < formulation.fractions["EC"] < 0.5  # plausible EC content, not a bound
    best_random = max(sigma(space, f, m) for f, m in random_feasible(space, 2000, seed=7))
    assert best_random <= value + 1e-9


def test_optimum_is_deterministic() -> None:
    assert_close(true_optimum(make_space()), true_optimum(make_space()), **SAME_COMPUTATION)


def test_optimum_of_a_two_solvent_space() -> None:
    space = SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="O=C1OCCO1", min_fraction=0.2, max_fraction=0.5),
            Solvent(name="EMC", smiles="CCOC(=O)OC", min_fraction=0.5, max_fraction=0.8),
        ),
        salt=LIPF6,
        temperature=25.0,
    )
    formulation, value = true_optimum(space)
    space.check(formulation)
    grid = [
        sigma(space, {"EC": e, "EMC": 1.0 - e}, m)
        for e in np.linspace(0.2, 0.5, 31)
        for m in np.linspace(0.5, 2.0, 61)
    ]
    assert max(grid) <= value + 1e-9
    assert 9.3 < value < 10.5


def _salt(min_molality: float) -> Salt:
    return Salt(
        name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=min_molality, max_molality=2.0
    )


def _ec_up_to(ec_max: float) -> SearchSpace:
    return SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="O=C1OCCO1", min_fraction=0.1, max_fraction=ec_max),
            Solvent(name="DMC", smiles="COC(=O)OC", min_fraction=0.1, max_fraction=0.9),
        ),
        salt=LIPF6,
        temperature=25.0,
    )


@pytest.mark.parametrize(
    ("space", "named"),
    [
        (_ec_up_to(0.9), "EC mass fraction reaches 0.1..0.9"),
        (make_space(salt=_salt(0.03)), "molality range is 0.03..2"),  # the box starts at 0.0444
        (make_space(second="CCO"), "'CCO'"),
    ],
)
def test_space_outside_the_model_domain_raises(space: SearchSpace, named: str) -> None:
    with pytest.raises(SimulationError) as info:
        true_optimum(space)
    assert named in str(info.value)


def test_spaces_past_the_old_landesfeind_domain_are_computed() -> None:
    # EC down to 0 and molality down to 0.1: refused before the tiers, inside the CALiSol model
    for space in (make_space(ec_min=0.0), make_space(salt=_salt(0.1))):
        formulation, value = true_optimum(space)
        space.check(formulation)
        assert 10.0 < value < 13.5
