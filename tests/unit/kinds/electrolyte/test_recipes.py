"""Recipes: stock masses reproduce the formulation, and weighed masses give it back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.recipes import as_dosed, stocks_for, target_masses
from electroloop.models import Formulation, Salt, SearchSpace, Solvent

SPACE = SearchSpace(
    solvents=(
        Solvent(name="EC", smiles="C1COC(=O)O1", min_fraction=0.1, max_fraction=0.6),
        Solvent(name="EMC", smiles="CCOC(=O)OC", max_fraction=0.9),
        Solvent(name="DMC", smiles="COC(=O)OC", max_fraction=0.9),
    ),
    salt=Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2.0),
    temperature=25.0,
)
DENSITY = {"EC": (1.32, 1.55), "EMC": (1.01, 1.30), "DMC": (1.06, 1.33)}
STOCKS = stocks_for(SPACE, 2.5, DENSITY, 500.0)


def test_two_stocks_per_solvent() -> None:
    assert [s.name for s in STOCKS] == ["EC", "LiPF6-EC", "EMC", "LiPF6-EMC", "DMC", "LiPF6-DMC"]


def test_round_trip_over_random_formulations() -> None:
    rng = np.random.default_rng(3)
    mw = SPACE.salt.molar_mass
    for _ in range(200):
        x = rng.dirichlet([1, 1, 1])
        f = Formulation(
            fractions={"EC": x[0], "EMC": x[1], "DMC": 1 - x[0] - x[1]},
            salt="LiPF6",
            molality=rng.uniform(0.5, 2.0),
            temperature=25.0,
        )
        masses = target_masses(f, STOCKS, mw, 4.0)
        assert all(m >= 0 for m in masses.values())
        assert math.fsum(masses.values()) == pytest.approx(4.0, rel=1e-12)
        back = as_dosed(masses, STOCKS, "LiPF6", mw, 25.0)
        assert back.molality == pytest.approx(f.molality, rel=1e-12)
        for name, value in f.fractions.items():
            assert back.fractions[name] == pytest.approx(value, abs=1e-12)


def test_weighing_error_shows_in_as_dosed() -> None:
    f = Formulation(
        fractions={"EC": 0.3, "EMC": 0.0, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
    )
    masses = target_masses(f, STOCKS, SPACE.salt.molar_mass, 4.0)
    masses["LiPF6-DMC"] *= 1.05  # five percent too much salt stock
    assert as_dosed(masses, STOCKS, "LiPF6", SPACE.salt.molar_mass, 25.0).molality > 1.01


def test_stock_must_be_saltier_than_the_campaign() -> None:
    with pytest.raises(ConfigError, match="stock_molality 1.5 mol/kg is below"):
        stocks_for(SPACE, 1.5, DENSITY, 500.0)
