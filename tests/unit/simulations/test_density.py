"""Density model: cited calibration points, unit round trips and typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from electroloop.errors import SimulationError
from electroloop.simulations import calisol
from electroloop.simulations.density import (
    SALT_MOLAR_MASS,
    SALT_SMILES,
    SALTS,
    SOLVENT_SMILES,
    SOLVENTS,
    density,
    molality_from_molarity,
    molarity,
    solvent_blend_density,
    solvent_density,
)

EC, EMC, DMC = SOLVENTS["EC"], SOLVENTS["EMC"], SOLVENTS["DMC"]
LIPF6 = SALTS["LiPF6"]
EC_EMC_3_7 = {EC: 0.3, EMC: 0.7}


def test_one_molar_lipf6_in_ec_emc_3_7_is_1_20_g_per_ml() -> None:
    """Kremer et al. 2020 (doi:10.1002/batt.202000098) use 1.20 g/mL for this electrolyte."""
    m = molality_from_molarity(EC_EMC_3_7, LIPF6, 1.0, 25.0)
    assert density(EC_EMC_3_7, LIPF6, m, 25.0) == pytest.approx(1.20, rel=0.01)
    assert 0.9 < m < 1.0  # 1 mol/L is a little under 1 mol/kg in this blend


@pytest.mark.parametrize(("smiles", "expected"), [(EC, 1.321), (EMC, 1.006), (DMC, 1.063)])
def test_pure_solvents_at_25c_match_xu_2004(smiles: str, expected: float) -> None:
    """Xu, Chem. Rev. 104 (2004) 4303, Table 1."""
    assert solvent_density(smiles, 25.0) == pytest.approx(expected, rel=0.02)
    # no salt: the same closed form by another path, rounding only
    assert solvent_density(smiles, 25.0) == pytest.approx(
        density({smiles: 1.0}, LIPF6, 0.0, 25.0), rel=1e-12
    )


def test_thermal_expansion_is_about_one_percent_per_ten_kelvin() -> None:
    for smiles in (EC, EMC, DMC):
        drop = 1.0 - solvent_density(smiles, 35.0) / solvent_density(smiles, 25.0)
        assert 0.005 < drop < 0.015


def test_ideal_mixing_lies_between_the_pure_solvents() -> None:
    blend = solvent_blend_density(EC_EMC_3_7, 25.0)
    assert solvent_density(EMC, 25.0) < blend < solvent_density(EC, 25.0)
    assert 1.0 / blend == pytest.approx(0.3 / 1.321 + 0.7 / 1.006, rel=1e-12)  # the closed form


def test_salt_molar_mass_is_rdkit_molwt() -> None:
    assert SALT_MOLAR_MASS[LIPF6] == pytest.approx(
        Descriptors.MolWt(Chem.MolFromSmiles(LIPF6)), abs=1e-3
    )


def test_salt_makes_it_denser_and_round_trips() -> None:
    fractions = {EC: 0.4, EMC: 0.35, DMC: 0.25}
    values = [density(fractions, LIPF6, m, 25.0) for m in np.linspace(0.0, 2.5, 11)]
    assert np.all(np.diff(values) > 0)
    for m in (0.2, 1.0, 2.5):
        for t in (-10.0, 25.0, 50.0):
            c = molarity(fractions, LIPF6, m, t)
            assert molality_from_molarity(fractions, LIPF6, c, t) == pytest.approx(m, rel=1e-12)
    assert molarity(fractions, LIPF6, 1.0, 50.0) < molarity(fractions, LIPF6, 1.0, 0.0)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: solvent_density("CCO", 25.0), "'CCO'"),
        (lambda: density(EC_EMC_3_7, "[Li+].F[B-](F)(F)F", 1.0, 25.0), "'[Li+].F[B-](F)(F)F'"),
        (lambda: density(EC_EMC_3_7, LIPF6, -0.1, 25.0), "molality is -0.1 mol/kg"),
        (lambda: density(EC_EMC_3_7, LIPF6, 1.0, 90.0), "temperature is 90.0 °C"),
        (lambda: density({EC: 0.3, EMC: 0.6}, LIPF6, 1.0, 25.0), "sum to 0.9;"),
        (lambda: molality_from_molarity(EC_EMC_3_7, LIPF6, 40.0, 25.0), "molarity is 40.0 mol/L"),
    ],
)
def test_errors_name_the_field(call, named: str) -> None:
    with pytest.raises(SimulationError) as info:
        call()
    assert named in str(info.value)


@pytest.mark.parametrize("name", ["PC", "DEC", "FEC", "DME"])
def test_solvents_of_the_calisol_model_have_the_densities_it_was_fitted_with(name: str) -> None:
    smiles = SOLVENT_SMILES[name]
    # at 25 °C the expansivity term is zero: the tabulated value, up to rounding
    assert solvent_density(smiles, 25.0) == pytest.approx(calisol.SOLVENT_DENSITY[name], rel=1e-12)


@pytest.mark.parametrize("name", ["LiBF4", "LiBOB"])
def test_other_salts_take_the_calisol_apparent_volume_and_round_trip(name: str) -> None:
    salt = SALT_SMILES[name]
    assert SALT_MOLAR_MASS[salt] == pytest.approx(
        Descriptors.MolWt(Chem.MolFromSmiles(salt)), abs=1e-3
    )
    blend = {SOLVENT_SMILES["EC"]: 0.5, SOLVENT_SMILES["PC"]: 0.5}
    c = molarity(blend, salt, 1.0, 25.0)
    assert molality_from_molarity(blend, salt, c, 25.0) == pytest.approx(1.0, rel=1e-12)
    mixed = {"EC": 0.5, "PC": 0.5}
    assert calisol.molality_from_molarity(mixed, name, c) == pytest.approx(1.0, rel=2e-3)
    assert density(blend, salt, 1.0, 25.0) > density(blend, salt, 0.0, 25.0)
