"""The CALiSol-fitted conductivity model against real data it was fitted to or held out from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.simulations import cost
from electroloop.simulations.calisol import CalisolData, load_calisol
from electroloop.simulations.density import SALTS, SOLVENTS
from electroloop.simulations.electrolyte import (
    CARBONATES,
    FIT_PATH,
    ElectrolyteModel,
    cost_per_kg,
    default_model,
    fit_salt,
    loso,
    refit,
)
from tests.floats import SAME_COMPUTATION, assert_close

EC_EMC_3_7 = {"EC": 0.3, "EMC": 0.7}
LANDESFEIND_2019 = "10.1149/2.0571912jes"


@pytest.fixture(scope="module")
def data(shared_data: Path) -> CalisolData:
    return load_calisol(shared_data / "calisol23")


@pytest.fixture(scope="module")
def model() -> ElectrolyteModel:
    return ElectrolyteModel.from_json(FIT_PATH)


def test_shipped_coefficients_are_reproduced_by_refit(shared_data: Path) -> None:
    shipped = json.loads(FIT_PATH.read_text(encoding="utf-8"))["salts"]
    fresh = refit(shared_data / "calisol23", out=None)
    assert sorted(shipped) == sorted(fresh.fits)
    for salt, fit in fresh.fits.items():
        assert shipped[salt]["t0"] == fit.t0  # picked from T0_GRID, not computed
        assert shipped[salt]["feature_names"] == list(fit.feature_names)
        np.testing.assert_allclose(shipped[salt]["coefficients"], fit.coefficients, atol=1e-6)


def test_leave_one_source_out_lipf6_in_carbonates(data: CalisolData) -> None:
    # measured 0.28 mS/cm, R² 0.98 on 3562 of 3949 held-out rows from 16 sources
    result = loso(data, "LiPF6", solvents=CARBONATES)
    assert result.n_sources >= 15 and result.n_covered > 3000
    assert result.mae < 0.4
    assert result.r2 > 0.95


def test_held_out_landesfeind_2019_is_reproduced(data: CalisolData) -> None:
    # Landesfeind & Gasteiger's own measurements, never seen by the fit: measured MAE 0.58 mS/cm
    fit = ElectrolyteModel(
        {"LiPF6": fit_salt([p for p in data.points if p.doi != LANDESFEIND_2019], "LiPF6")}
    )
    held = [p for p in data.points if p.doi == LANDESFEIND_2019 and p.salt == "LiPF6"]
    errors = []
    for p in held:
        try:
            value = fit.conductivity("LiPF6", dict(p.fractions), p.molality, p.temperature)
        except SimulationError:
            continue
        errors.append(abs(value - p.conductivity))
    assert len(errors) >= 60
    assert float(np.mean(errors)) < 0.8


def test_typical_values_match_the_data(model: ElectrolyteModel) -> None:
    # README of shared/data: EC:EMC peaks near 9.5–10, EC:DMC near 12 mS/cm at 25 °C, ~1 mol/kg
    assert model.conductivity("LiPF6", EC_EMC_3_7, 1.0, 25.0) == pytest.approx(9.5, abs=1.0)
    assert model.conductivity("LiPF6", {"EC": 0.5, "DMC": 0.5}, 1.0, 25.0) == pytest.approx(
        12.0, abs=1.0
    )


def test_conductivity_vanishes_without_salt(model: ElectrolyteModel) -> None:
    low = model.predict("LiPF6", EC_EMC_3_7, 1e-4, 25.0, extrapolate=True)
    assert low.conductivity < 0.02
    assert any("molality" in issue for issue in low.extrapolated)


def test_conductivity_rises_with_temperature(model: ElectrolyteModel) -> None:
    for salt, blend in [("LiPF6", EC_EMC_3_7), ("LiBF4", {"EC": 0.5, "PC": 0.5})]:
        values = [model.conductivity(salt, blend, 1.0, t) for t in range(-20, 61, 10)]
        assert all(b > a for a, b in zip(values, values[1:], strict=False))


def test_maximum_in_concentration_moves_up_with_temperature(model: ElectrolyteModel) -> None:
    grid = np.linspace(0.1, 3.2, 63)
    peaks = []
    for t in (-20.0, 25.0, 60.0):
        values = [model.conductivity("LiPF6", EC_EMC_3_7, float(m), t) for m in grid]
        peak = int(np.argmax(values))
        assert 0 < peak < len(grid) - 1  # an interior maximum
        peaks.append(grid[peak])
    assert 0.8 <= peaks[1] <= 1.6
    assert peaks[0] < peaks[1] < peaks[2]


def test_outside_domain_names_the_variable_and_range(model: ElectrolyteModel) -> None:
    with pytest.raises(SimulationError, match=r"molality is 5 mol/kg; allowed: 0\.0444\.\.3\.26"):
        model.conductivity("LiPF6", EC_EMC_3_7, 5.0, 25.0)
    with pytest.raises(SimulationError, match=r"temperature is 150 °C; allowed: -79\.\.80\.95"):
        model.conductivity("LiPF6", EC_EMC_3_7, 1.0, 150.0)
    with pytest.raises(SimulationError, match=r"solvent 'DME' is not in the domain"):
        model.conductivity("LiPF6", {"EC": 0.5, "DME": 0.5}, 1.0, 25.0)
    # FEC data reach 0.05; the box reaches DOMAIN_EXTENSION (0.1) past them
    with pytest.raises(SimulationError, match=r"mass fraction of FEC is 0.2; allowed: 0..0.15"):
        model.conductivity("LiPF6", {"EC": 0.3, "EMC": 0.5, "FEC": 0.2}, 1.0, 25.0)
    with pytest.raises(
        SimulationError, match=r"salt is 'LiFSI'; allowed: \['LiBF4', 'LiBOB', 'LiPF6'\]"
    ):
        model.conductivity("LiFSI", EC_EMC_3_7, 1.0, 25.0)
    with pytest.raises(SimulationError, match="sum 1 within"):
        model.conductivity("LiPF6", {"EC": 0.3, "EMC": 0.3}, 1.0, 25.0)


def test_extrapolate_flags_instead_of_raising(model: ElectrolyteModel) -> None:
    result = model.predict("LiPF6", EC_EMC_3_7, 4.0, 25.0, extrapolate=True)
    assert result.conductivity > 0.0
    # the data reach down to 0.0889 mol/kg; the box to half that (DOMAIN_EXTENSION)
    assert result.extrapolated == ("molality is 4 mol/kg; allowed: 0.0444..3.26 mol/kg",)
    assert model.predict("LiPF6", EC_EMC_3_7, 1.0, 25.0).extrapolated == ()


def test_default_model_is_the_shipped_fit(model: ElectrolyteModel) -> None:
    assert_close(
        default_model().conductivity("LiBOB", {"PC": 1.0}, 0.5, 25.0),
        model.conductivity("LiBOB", {"PC": 1.0}, 0.5, 25.0),
        **SAME_COMPUTATION,
    )


def test_cost_agrees_with_the_existing_table() -> None:
    smiles = {SOLVENTS["EC"]: 0.3, SOLVENTS["EMC"]: 0.7}
    expected = cost.electrolyte_cost(smiles, SALTS["LiPF6"], 1.0)
    assert cost_per_kg("LiPF6", EC_EMC_3_7, 1.0) == pytest.approx(expected, rel=1e-3)
    with pytest.raises(SimulationError, match="no price for"):
        cost_per_kg("LiPF6", {"DMSO": 1.0}, 1.0)
