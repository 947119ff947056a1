"""BPX export of a calibrated twin: `bpx` validates it, PyBaMM reads it back, discharges agree.

The calibrated set comes from a real (one-curve, one-parameter) PyBOP fit against a cell whose
positive particle diffusivity is half Chen2020's.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpx
import numpy as np
import pybamm
import pytest

from electroloop.errors import ConfigError, SimulationError
from electroloop.simulations.bpx_export import (
    BpxError,
    BpxInputError,
    evaluate_parameter,
    read_bpx,
    to_bpx,
    write_bpx,
)
from electroloop.simulations.calibration import Calibration, DischargeCurve, Uncertain, calibrate

D_P = "Positive particle diffusivity [m2.s-1]"
T_REF = 298.15


def _discharge(values: pybamm.ParameterValues, c_rate: float = 1.0) -> np.ndarray:
    """Voltage (V) of a `c_rate` discharge sampled every 30 s for 40 min."""
    values = values.copy()
    values["Current function [A]"] = 5.0 * c_rate
    t = np.linspace(0.0, 2400.0 / c_rate, 81)
    solution = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values).solve(
        t_eval=[0.0, float(t[-1])], t_interp=t
    )
    return solution["Voltage [V]"].entries


@pytest.fixture(scope="module")
def calibrated() -> Calibration:
    nominal = pybamm.ParameterValues("Chen2020")
    truth = nominal.copy()
    truth[D_P] = 2e-15
    t = np.linspace(0.0, 1200.0, 41)
    values = truth.copy()
    values["Current function [A]"] = 10.0
    solution = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values).solve(
        t_eval=[0.0, 1200.0], t_interp=t
    )
    noise = np.random.default_rng(0).normal(0.0, 1e-3, t.size)
    curve = DischargeCurve(t, np.full(t.size, 10.0), solution["Voltage [V]"].entries + noise)
    return calibrate(nominal, [curve], [Uncertain(D_P, (4e-16, 4e-14), log_scale=True)])


@pytest.fixture(scope="module")
def written(calibrated: Calibration, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bpx") / "twin.bpx.json"
    return write_bpx(calibrated.parameter_values, path, title="calibrated Chen2020")


def test_file_validates_against_bpx_schema(written: Path) -> None:
    parsed = bpx.parse_bpx_file(str(written))
    assert parsed.header.model == "SPMe"
    assert parsed.header.title == "calibrated Chen2020"
    raw = json.loads(written.read_text())
    assert raw["Header"]["BPX"].startswith("1.")
    assert raw["State"]["Initial conditions"]["Initial state-of-charge"] == pytest.approx(
        0.99, abs=0.02
    )


def test_calibrated_parameter_survives_the_round_trip(
    calibrated: Calibration, written: Path
) -> None:
    back = read_bpx(written)
    estimate = calibrated.estimates[D_P]
    assert estimate == pytest.approx(2e-15, rel=0.05)
    assert evaluate_parameter(back, D_P, 0.5, T_REF)[()] == pytest.approx(estimate, rel=1e-9)
    am = "Negative electrode active material volume fraction"
    assert back[am] == pytest.approx(calibrated.parameter_values[am], rel=1e-12)


def test_discharges_with_both_sets_agree_within_a_millivolt(
    calibrated: Calibration, written: Path
) -> None:
    back = read_bpx(written)
    for c_rate in (1.0, 2.0):
        original, exchanged = (
            _discharge(calibrated.parameter_values, c_rate),
            _discharge(back, c_rate),
        )
        rmse = float(np.sqrt(np.mean((original - exchanged) ** 2)))
        assert rmse < 1e-3, (c_rate, rmse)


def test_tabulated_functions_match_chen2020() -> None:
    nominal = pybamm.ParameterValues("Chen2020")
    obj = to_bpx(nominal, model="DFN")
    # A copy: bpx 1.1.1's validator writes the parsed sections back into the dict it is given.
    back = pybamm.ParameterValues.create_from_bpx_obj(json.loads(json.dumps(obj)))
    sto = np.linspace(0.03, 0.97, 95)
    for name in ("Negative electrode OCP [V]", "Positive electrode OCP [V]"):
        difference = evaluate_parameter(back, name, sto) - evaluate_parameter(nominal, name, sto)
        assert np.max(np.abs(difference)) < 5e-4, name
    negative = obj["Parameterisation"]["Negative electrode"]
    positive = obj["Parameterisation"]["Positive electrode"]
    # Chen2020's exchange currents are Arrhenius with 35 and 17.8 kJ/mol.
    energy = "Reaction rate constant activation energy [J.mol-1]"
    assert negative[energy] == pytest.approx(35000.0, rel=1e-6)
    assert positive[energy] == pytest.approx(17800.0, rel=1e-6)
    for side, c_s in (("Negative", 15000.0), ("Positive", 30000.0)):
        name = f"{side} electrode exchange-current density [A.m-2]"
        c_max = nominal[f"Maximum concentration in {side.lower()} electrode [mol.m-3]"]
        for temperature in (T_REF, 318.15):
            args = (1000.0, c_s, c_max, temperature)
            assert evaluate_parameter(back, name, *args)[()] == pytest.approx(
                evaluate_parameter(nominal, name, *args)[()], rel=1e-6
            )
    c_e = np.linspace(200.0, 3000.0, 15)
    for name in ("Electrolyte conductivity [S.m-1]", "Electrolyte diffusivity [m2.s-1]"):
        assert evaluate_parameter(back, name, c_e, T_REF) == pytest.approx(
            evaluate_parameter(nominal, name, c_e, T_REF), rel=2e-3
        )


def test_parameters_bpx_has_no_field_for_travel_as_user_defined() -> None:
    values = pybamm.ParameterValues("Chen2020")
    values["Contact resistance [Ohm]"] = 0.012
    obj = to_bpx(values)
    assert obj["Parameterisation"]["User-defined"]["Contact resistance [Ohm]"] == 0.012
    back = pybamm.ParameterValues.create_from_bpx_obj(json.loads(json.dumps(obj)))
    assert back["Contact resistance [Ohm]"] == pytest.approx(0.012, rel=1e-12)
    assert back["Open-circuit voltage at 100% SOC [V]"] == pytest.approx(4.2, rel=1e-12)


def test_bad_model_missing_parameter_and_bad_files(tmp_path: Path) -> None:
    nominal = pybamm.ParameterValues("Chen2020")
    with pytest.raises(BpxInputError, match="SPMe"):
        to_bpx(nominal, model="SPM")
    partial = pybamm.ParameterValues(
        {k: v for k, v in nominal.items() if k != "Separator porosity"}
    )
    with pytest.raises(BpxInputError, match="Separator porosity"):
        to_bpx(partial)
    with pytest.raises(BpxInputError, match="does not exist"):
        read_bpx(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"Header": {"BPX": "1.0.0", "Model": "DFN"}}))
    with pytest.raises(BpxError):
        read_bpx(broken)
    assert issubclass(BpxInputError, ConfigError) and issubclass(BpxError, SimulationError)
