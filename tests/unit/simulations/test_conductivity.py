"""The conductivity model against its sources: Landesfeind 2019 (JSON + PyBaMM) and CALiSol-23."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from electroloop.errors import SimulationError
from electroloop.simulations.conductivity import (
    EC_CORRECTION,
    SALTS,
    SOLVENTS,
    VALIDITY,
    anchor_blend,
    conductivity,
    ec_offset,
)
from electroloop.simulations.density import molality_from_molarity, molarity, solvent_density

EC, EMC, DMC = SOLVENTS["EC"], SOLVENTS["EMC"], SOLVENTS["DMC"]
LIPF6 = SALTS["LiPF6"]
EC_EMC_3_7 = {EC: 0.3, EMC: 0.7}
EC_DMC_1_1 = {EC: 0.5, DMC: 0.5}
MIS_SCALED = "10.1007/s10008-002-0300-9"
COLUMNS = {"EC": EC, "EMC": EMC, "DMC": DMC}


def published(p: list[float], c: np.ndarray, t_kelvin: float) -> np.ndarray:
    """The Landesfeind & Gasteiger (2019) form as written in ../shared/data/landesfeind2019."""
    e = np.exp(1000.0 / t_kelvin)
    num = 1 + p[2] * np.sqrt(c) + p[3] * (1 + p[4] * e) * c
    return p[0] * (1 + (t_kelvin - p[1])) * c * num / (1 + c**4 * p[5] * e)


def calisol_rows(shared_data: Path) -> list[dict]:
    """CALiSol-23 LiPF6 rows in EC/EMC/DMC only, as mass fractions, mol/kg and °C."""
    rows = []
    with (shared_data / "calisol23" / "calisol23.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        solvents = reader.fieldnames[reader.fieldnames.index("EC") :]
        for row in reader:
            k = float(row["k"] or "nan")
            if row["salt"].strip() != "LiPF6" or not math.isfinite(k) or row["doi"] == MIS_SCALED:
                continue
            share = {name: float(row[name] or 0.0) for name in solvents}
            if any(v > 0 for name, v in share.items() if name not in COLUMNS):
                continue
            amount = {COLUMNS[name]: share[name] for name in COLUMNS}
            basis = row["solvent ratio type"]
            if basis == "v":
                amount = {s: v * solvent_density(s, 25.0) for s, v in amount.items()}
            elif basis == "mol":
                amount = {
                    s: v * Descriptors.MolWt(Chem.MolFromSmiles(s)) for s, v in amount.items()
                }
            total = sum(amount.values())
            fractions = {s: v / total for s, v in amount.items()}
            c = float(row["c"])
            if row["c units"] == "mol/l":
                c = molality_from_molarity(fractions, LIPF6, c, 25.0)
            rows.append(
                {
                    "doi": row["doi"],
                    "fractions": fractions,
                    "molality": c,
                    "temperature": float(row["T"]) - 273.15,
                    "k": k,
                }
            )
    return rows


def in_domain(row: dict, t_low: float = -10.0, t_high: float = 50.0) -> bool:
    inside = [
        VALIDITY["EC mass fraction"][0] - 1e-9
        <= row["fractions"][EC]
        <= VALIDITY["EC mass fraction"][1],
        VALIDITY["molality"][0] <= row["molality"] <= VALIDITY["molality"][1],
        t_low <= row["temperature"] <= t_high,
    ]
    return all(inside)


def features(row: dict) -> list[float]:
    delta, s = ec_offset(row["fractions"])
    c = molarity(row["fractions"], LIPF6, row["molality"], 25.0)
    return [delta, delta * s, delta * delta, delta * (c - 1.0)]


def scores(rows: list[dict]) -> tuple[float, float]:
    k = np.array([r["k"] for r in rows])
    pred = np.array(
        [conductivity(r["fractions"], LIPF6, r["molality"], r["temperature"]) for r in rows]
    )
    mae = float(np.mean(np.abs(pred - k)))
    r2 = 1.0 - float(np.sum((pred - k) ** 2) / np.sum((k - k.mean()) ** 2))
    return mae, r2


def test_species_table_is_rdkit_canonical() -> None:
    for smiles in [*SOLVENTS.values(), *SALTS.values()]:
        assert Chem.CanonSmiles(smiles) == smiles
    assert Chem.CanonSmiles("[Li+].F[P-](F)(F)(F)(F)F") == LIPF6


@pytest.mark.parametrize(
    ("system", "fractions"), [("EC:EMC 3:7 (w:w)", EC_EMC_3_7), ("EC:DMC 1:1 (w:w)", EC_DMC_1_1)]
)
def test_reproduces_landesfeind_anchor_fits(
    shared_data: Path, system: str, fractions: dict
) -> None:
    p = json.loads((shared_data / "landesfeind2019" / "conductivity_coefficients.json").read_text())
    c = np.linspace(0.5, 1.5, 21)
    expected = published(p["systems"][system]["p"], c, 298.15)
    got = [
        conductivity(fractions, LIPF6, molality_from_molarity(fractions, LIPF6, x, 25.0), 25.0)
        for x in c
    ]
    assert np.max(np.abs(np.array(got) / expected - 1.0)) < 0.05
    assert np.allclose(got, expected, rtol=1e-9)  # exact by construction


def test_agrees_with_pybamm_landesfeind() -> None:
    pybamm = pytest.importorskip("pybamm")
    from pybamm.input.parameters.lithium_ion import ORegan2022

    def kappa(fn, c_molar: np.ndarray) -> np.ndarray:  # mS/cm from PyBaMM's S/m
        out = fn(pybamm.Vector(c_molar * 1000.0), pybamm.Scalar(298.15))
        return 10.0 * np.ravel(out.evaluate() if isinstance(out, pybamm.Symbol) else out)

    c = np.linspace(0.5, 1.5, 11)
    dmc = np.array([7.98e-1, 2.28e2, -1.22, 5.09e-1, -4e-3, 3.79e-3])
    pairs = [
        (EC_EMC_3_7, kappa(ORegan2022.electrolyte_conductivity_EC_EMC_3_7_Landesfeind2019, c)),
        (
            EC_DMC_1_1,
            kappa(
                lambda x, t: ORegan2022.electrolyte_conductivity_base_Landesfeind2019(x, t, dmc), c
            ),
        ),
    ]
    for fractions, reference in pairs:
        got = [
            conductivity(fractions, LIPF6, molality_from_molarity(fractions, LIPF6, x, 25.0), 25.0)
            for x in c
        ]
        assert np.max(np.abs(np.array(got) / reference - 1.0)) < 0.05


def test_refit_of_ec_correction_matches_embedded_constants(shared_data: Path) -> None:
    """The documented fit: OLS of ln(k / anchor blend) on the 4 features, 15–35 °C rows."""
    rows = [r for r in calisol_rows(shared_data) if in_domain(r, 15.0, 35.0)]
    design = np.array([features(r) for r in rows])
    target = np.array(
        [
            math.log(r["k"] / anchor_blend(r["fractions"], LIPF6, r["molality"], r["temperature"]))
            for r in rows
        ]
    )
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    assert len(rows) == 175
    assert np.allclose(coef, EC_CORRECTION, atol=2e-3), coef


def test_accuracy_against_calisol(shared_data: Path) -> None:
    rows = calisol_rows(shared_data)
    domain = [r for r in rows if in_domain(r)]
    fit_window = [r for r in domain if 15.0 <= r["temperature"] <= 35.0]
    mae, r2 = scores(domain)
    assert len(domain) == 522
    assert mae < 0.50 and r2 > 0.95, (mae, r2)
    mae, r2 = scores(fit_window)
    assert mae < 0.42 and r2 > 0.93, (mae, r2)


def peak(fractions: dict, temperature: float = 25.0) -> tuple[float, float]:
    grid = np.linspace(0.2, 2.5, 231)
    values = [conductivity(fractions, LIPF6, m, temperature) for m in grid]
    i = int(np.argmax(values))
    return float(grid[i]), float(values[i])


def test_physically_plausible_maxima() -> None:
    m, k = peak(EC_EMC_3_7)
    assert 0.8 < m < 1.3 and 8.8 < k < 9.6  # Landesfeind: 9.13 mS/cm at 1.01 mol/L
    best_emc = max(peak({EC: e, EMC: 1 - e})[1] for e in np.linspace(0.1, 0.6, 11))
    assert 9.3 < best_emc < 10.5
    best_dmc = max(
        (peak({EC: e, DMC: 1 - e}) for e in np.linspace(0.1, 0.6, 11)), key=lambda p: p[1]
    )
    assert 0.8 < best_dmc[0] < 1.3 and 11.5 < best_dmc[1] < 13.0
    assert peak(EC_EMC_3_7, 40.0)[0] > peak(EC_EMC_3_7, 0.0)[0]  # optimum shifts up with T


def test_accepts_non_canonical_smiles() -> None:
    canonical = conductivity(EC_EMC_3_7, LIPF6, 1.0, 25.0)
    other = conductivity(
        {"C1COC(=O)O1": 0.3, "COC(=O)OCC": 0.7}, "[Li+].F[P-](F)(F)(F)(F)F", 1.0, 25.0
    )
    assert other == pytest.approx(canonical, rel=1e-12)


@pytest.mark.parametrize(
    ("fractions", "salt", "molality", "temperature", "named"),
    [
        ({EC: 0.05, DMC: 0.95}, LIPF6, 1.0, 25.0, "EC mass fraction is 0.05"),
        ({EC: 0.7, DMC: 0.3}, LIPF6, 1.0, 25.0, "allowed: 0.1..0.6"),
        (EC_EMC_3_7, LIPF6, 3.0, 25.0, "molality is 3.0 mol/kg; allowed: 0.2..2.5 mol/kg"),
        (EC_EMC_3_7, LIPF6, 1.0, 60.0, "temperature is 60.0 °C; allowed: -10.0..50.0 °C"),
        ({EC: 0.3, "CC1COC(=O)O1": 0.7}, LIPF6, 1.0, 25.0, "'CC1COC(=O)O1'"),
        ({EC: 0.3, "not smiles((": 0.7}, LIPF6, 1.0, 25.0, "'not smiles(('"),
        (EC_EMC_3_7, "[Li+].F[B-](F)(F)F", 1.0, 25.0, "'[Li+].F[B-](F)(F)F'"),
        ({EC: 0.3, EMC: 0.6}, LIPF6, 1.0, 25.0, "sum to 0.9"),
        ({EC: 0.3, EMC: 0.8, DMC: -0.1}, LIPF6, 1.0, 25.0, "-0.1"),
    ],
)
def test_outside_domain_raises_naming_the_field(
    fractions, salt, molality, temperature, named
) -> None:
    with pytest.raises(SimulationError, match=None) as info:
        conductivity(fractions, salt, molality, temperature)
    assert named in str(info.value)
