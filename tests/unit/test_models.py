"""Value objects refuse invalid chemistry and arithmetic before anything moves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from electroloop.models import Formulation, Salt, SearchSpace, Solvent

LIPF6 = "[Li+].F[P-](F)(F)(F)(F)F"


def space(ec: tuple[float, float] = (0.1, 0.6)) -> SearchSpace:
    return SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="C1COC(=O)O1", min_fraction=ec[0], max_fraction=ec[1]),
            Solvent(name="DMC", smiles="COC(=O)OC"),
        ),
        salt=Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0),
        temperature=25.0,
    )


def test_salt_molar_mass_comes_from_smiles() -> None:
    salt = Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0)
    assert salt.molar_mass == pytest.approx(151.905, abs=0.01)


def test_invalid_smiles_is_named() -> None:
    with pytest.raises(ValidationError, match="'C1CC' is not a valid SMILES"):
        Solvent(name="X", smiles="C1CC")


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match="sum to 0.9"):
        Formulation(fractions={"EC": 0.4, "DMC": 0.5}, salt="LiPF6", molality=1.0, temperature=25.0)


def test_negative_fraction_rejected() -> None:
    with pytest.raises(ValidationError, match="fraction of EC is -0.1"):
        Formulation(
            fractions={"EC": -0.1, "DMC": 1.1}, salt="LiPF6", molality=1.0, temperature=25.0
        )


def test_infeasible_bounds_rejected() -> None:
    with pytest.raises(ValidationError, match="cannot sum to 1"):
        SearchSpace(
            solvents=(
                Solvent(name="EC", smiles="C1COC(=O)O1", max_fraction=0.3),
                Solvent(name="DMC", smiles="COC(=O)OC", max_fraction=0.3),
            ),
            salt=Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0),
            temperature=25.0,
        )


def test_check_names_field_and_allowed_range() -> None:
    inside = Formulation(
        fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
    )
    space().check(inside)
    outside = inside.model_copy(update={"fractions": {"EC": 0.7, "DMC": 0.3}})
    with pytest.raises(ValueError, match=r"fraction of EC is 0.7; allowed: 0.1..0.6"):
        space().check(outside)
    too_salty = inside.model_copy(update={"molality": 2.5})
    with pytest.raises(ValueError, match=r"molality is 2.5; allowed: 0.5..2.0 mol/kg"):
        space().check(too_salty)


def test_models_are_frozen() -> None:
    f = Formulation(fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0)
    with pytest.raises(ValidationError):
        f.molality = 2.0  # type: ignore[misc]
