"""CALiSol-23 points as mixture records: every name the cleaned data uses has a SMILES."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from electroloop.simulations.calisol import (
    SALT_MOLAR_MASS,
    SOLVENT_MOLAR_MASS,
    CalisolData,
    load_calisol,
)
from electroloop.workflows.calisol_records import SALT_SMILES, SOLVENT_SMILES, to_records


@pytest.fixture(scope="module")
def data(shared_data: Path) -> CalisolData:
    return load_calisol(shared_data / "calisol23")


def test_every_solvent_and_salt_of_the_cleaned_data_has_a_smiles(data: CalisolData) -> None:
    solvents = {name for p in data.points for name in p.solvents}
    salts = {p.salt for p in data.points}
    assert solvents <= set(SOLVENT_SMILES) and salts <= set(SALT_SMILES)
    conversion = to_records(data.points)
    assert conversion.skipped == {}
    assert len(conversion.records) == len(data.points) == 12459


def test_records_keep_fractions_conditions_and_source(data: CalisolData) -> None:
    records = to_records(data.points).records
    for point, rec in zip(data.points, records, strict=True):
        assert math.isclose(math.fsum(w for _, w in rec.components), 1.0, abs_tol=1e-9)
        # copied from the point, not computed: compared exactly
        assert rec.group == point.doi and rec.target == point.conductivity
        assert (rec.molality, rec.temperature) == (point.molality, point.temperature)


def test_unknown_names_are_skipped_and_counted(data: CalisolData) -> None:
    point = data.points[0]
    renamed = type(point)(**{**point.__dict__, "salt": "LiXYZ"})
    conversion = to_records([point, renamed])
    assert len(conversion.records) == 1 and conversion.skipped == {"LiXYZ": 1}


@pytest.mark.parametrize(("name", "smiles"), sorted({**SOLVENT_SMILES, **SALT_SMILES}.items()))
def test_each_smiles_has_the_molar_mass_calisol_uses(name: str, smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None
    expected = {**SOLVENT_MOLAR_MASS, **SALT_MOLAR_MASS}.get(name, 344.07)  # TFP: C6H6F9O4P
    assert Descriptors.MolWt(mol) == pytest.approx(expected, abs=0.05)  # type: ignore[attr-defined]
