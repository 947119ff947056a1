"""Calibration of the PyBaMM twin with PyBOP: known offsets are recovered within their errors.

"Measured" curves come from PyBaMM's SPMe on Chen2020 with two parameters moved (positive particle
diffusivity ×0.5, negative active-material fraction 0.75 → 0.72), sampled every 30 s as a cycler
logs, plus 1 mV Gaussian noise from a seeded generator. Real solves, no mocks.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pybamm
import pytest

from electroloop.errors import ConfigError, SimulationError
from electroloop.simulations import calibration
from electroloop.simulations.calibration import (
    BoundsError,
    Calibration,
    CalibrationInputError,
    CurveError,
    DischargeCurve,
    Uncertain,
    UnknownParameterError,
    calibrate,
)

D_P = "Positive particle diffusivity [m2.s-1]"
AM_N = "Negative electrode active material volume fraction"
TRUTH = {D_P: 2.0e-15, AM_N: 0.72}  # Chen2020: 4e-15 and 0.75
NOISE_V = 1e-3
UNCERTAIN = (Uncertain(D_P, (4e-16, 4e-14), log_scale=True), Uncertain(AM_N, (0.6, 0.85)))


def measured(values: pybamm.ParameterValues, seed: int) -> list[DischargeCurve]:
    """1C to 3.3 V and 2C to 3.2 V, logged every 30 s, with seeded 1 mV noise."""
    rng = np.random.default_rng(seed)
    curves = []
    for step in ("Discharge at 1C until 3.3 V", "Discharge at 2C until 3.2 V"):
        experiment = pybamm.Experiment([step], period="30 seconds")
        solution = pybamm.Simulation(
            pybamm.lithium_ion.SPMe(), parameter_values=values.copy(), experiment=experiment
        ).solve()
        time = solution["Time [s]"].entries
        voltage = solution["Voltage [V]"].entries + rng.normal(0.0, NOISE_V, time.size)
        curves.append(DischargeCurve(time, solution["Current [A]"].entries, voltage))
    return curves


@pytest.fixture(scope="module")
def nominal() -> pybamm.ParameterValues:
    return pybamm.ParameterValues("Chen2020")


@pytest.fixture(scope="module")
def offset_fit(nominal: pybamm.ParameterValues) -> Calibration:
    truth = nominal.copy()
    truth.update(TRUTH)
    return calibrate(nominal, measured(truth, seed=1), UNCERTAIN, seed=0)


def test_recovers_known_offsets_within_three_standard_errors(offset_fit: Calibration) -> None:
    for name, true in TRUTH.items():
        estimate, error = offset_fit.estimates[name], offset_fit.standard_errors[name]
        assert 0 < error < 0.3 * true, name  # meaningful: under 30 % of the value
        assert abs(estimate - true) < 3 * error, (name, estimate, true, error)


def test_residual_drops_to_the_noise(offset_fit: Calibration) -> None:
    assert offset_fit.rmse_before_v > 10 * offset_fit.rmse_after_v
    assert offset_fit.rmse_after_v == pytest.approx(NOISE_V, rel=0.3)
    assert offset_fit.sigma_v == pytest.approx(NOISE_V, rel=0.3)


def test_fitted_set_holds_the_estimates_and_input_is_untouched(
    offset_fit: Calibration, nominal: pybamm.ParameterValues
) -> None:
    for name, estimate in offset_fit.estimates.items():
        assert offset_fit.parameter_values[name] == pytest.approx(estimate, rel=1e-12)
    assert nominal[D_P] == pytest.approx(4e-15, rel=1e-12)
    assert offset_fit.covariance.shape == (2, 2)
    assert "pybop" in offset_fit.method and "Gauss-Newton" in offset_fit.method


def test_nominal_curves_recover_the_nominal_set(nominal: pybamm.ParameterValues) -> None:
    fit = calibrate(nominal, measured(nominal, seed=2), UNCERTAIN, seed=0)
    for u in UNCERTAIN:
        start = float(nominal[u.name])
        assert abs(fit.estimates[u.name] - start) < 3 * fit.standard_errors[u.name], u.name
        assert fit.estimates[u.name] == pytest.approx(start, rel=0.05)
    assert fit.rmse_before_v == pytest.approx(NOISE_V, rel=0.3)


def test_same_inputs_give_the_same_fit(nominal: pybamm.ParameterValues) -> None:
    truth = nominal.copy()
    truth.update(TRUTH)
    curves = measured(truth, seed=4)[1:]
    first, second = (calibrate(nominal, curves, UNCERTAIN[:1], seed=7) for _ in range(2))
    assert first.estimates[D_P] == pytest.approx(second.estimates[D_P], rel=1e-12)
    assert first.standard_errors[D_P] == pytest.approx(second.standard_errors[D_P], rel=1e-9)


def test_contact_resistance_turns_on_its_option_and_is_recovered(
    nominal: pybamm.ParameterValues,
) -> None:
    truth = nominal.copy()
    truth.update({"Contact resistance [Ohm]": 0.01})
    experiment = pybamm.Experiment(["Discharge at 1C until 3.4 V"], period="60 seconds")
    solution = pybamm.Simulation(
        pybamm.lithium_ion.SPMe({"contact resistance": "true"}),
        parameter_values=truth,
        experiment=experiment,
    ).solve()
    time = solution["Time [s]"].entries
    noise = np.random.default_rng(3).normal(0.0, NOISE_V, time.size)
    curve = DischargeCurve(
        time, solution["Current [A]"].entries, solution["Voltage [V]"].entries + noise
    )
    fit = calibrate(nominal, [curve], [Uncertain("Contact resistance [Ohm]", (0.0, 0.05))])
    estimate = fit.estimates["Contact resistance [Ohm]"]
    error = fit.standard_errors["Contact resistance [Ohm]"]
    assert abs(estimate - 0.01) < 3 * error
    assert error < 0.003


# --- bad input: a named error before any solve -------------------------------------------------


@pytest.fixture
def no_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if calibrate gets as far as the fit."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fit started despite bad input")

    monkeypatch.setattr(calibration, "_fit", forbidden)


def _curve(n: int = 20) -> DischargeCurve:
    t = np.linspace(0.0, 600.0, n)
    return DischargeCurve(t, np.full(n, 5.0), np.linspace(4.0, 3.8, n))


@pytest.mark.usefixtures("no_solve")
def test_unknown_name_is_named_with_near_names(nominal: pybamm.ParameterValues) -> None:
    with pytest.raises(UnknownParameterError, match="Positive particle diffusivity") as info:
        calibrate(nominal, [_curve()], [Uncertain("Positive particle diffusivty", (1e-16, 1e-13))])
    assert "Positive particle diffusivty" in str(info.value)
    assert isinstance(info.value, ConfigError)


@pytest.mark.usefixtures("no_solve")
@pytest.mark.parametrize(
    ("uncertain", "error", "match"),
    [
        (Uncertain("Negative electrode OCP [V]", (0.0, 1.0)), UnknownParameterError, "finite"),
        (Uncertain(AM_N, (0.85, 0.6)), BoundsError, "low < high"),
        (Uncertain(AM_N, (0.6, float("inf"))), BoundsError, "finite"),
        (Uncertain(AM_N, (0.8, 0.9)), BoundsError, "starting value 0.75"),
        (Uncertain(D_P, (0.0, 1e-13), log_scale=True), BoundsError, "low > 0"),
    ],
)
def test_bad_parameter_or_bounds(
    nominal: pybamm.ParameterValues,
    uncertain: Uncertain,
    error: type[CalibrationInputError],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        calibrate(nominal, [_curve()], [uncertain])


@pytest.mark.usefixtures("no_solve")
@pytest.mark.parametrize(
    ("curve", "match"),
    [
        (replace(_curve(), voltage_v=np.linspace(4.0, 3.8, 19)), "lengths differ"),
        (replace(_curve(), voltage_v=np.r_[np.linspace(4.0, 3.8, 19), np.nan]), "non-finite"),
        (_curve(5), "5 points"),
        (replace(_curve(), time_s=np.r_[np.linspace(0, 600, 19), 100.0]), "increasing"),
        (replace(_curve(), current_a=np.full(20, -5.0)), "discharge is positive"),
        (replace(_curve(), temperature_c=90.0), "temperature_c"),
        (replace(_curve(), initial_soc=1.5), "initial_soc"),
    ],
)
def test_bad_curve(nominal: pybamm.ParameterValues, curve: DischargeCurve, match: str) -> None:
    with pytest.raises(CurveError, match=match):
        calibrate(nominal, [curve], [Uncertain(AM_N, (0.6, 0.85))])


@pytest.mark.usefixtures("no_solve")
def test_bad_model_and_empty_inputs(nominal: pybamm.ParameterValues) -> None:
    with pytest.raises(CalibrationInputError, match="SPMe"):
        calibrate(nominal, [_curve()], [Uncertain(AM_N, (0.6, 0.85))], model="ECM")
    with pytest.raises(CurveError, match="empty"):
        calibrate(nominal, [], [Uncertain(AM_N, (0.6, 0.85))])
    with pytest.raises(CalibrationInputError, match="empty"):
        calibrate(nominal, [_curve()], [])


def test_errors_sit_in_the_project_hierarchy() -> None:
    assert issubclass(CalibrationInputError, ConfigError)
    assert issubclass(calibration.CalibrationError, SimulationError)


def test_curve_beyond_the_twins_capacity_is_a_calibration_error(
    nominal: pybamm.ParameterValues,
) -> None:
    t = np.linspace(0.0, 3 * 3600.0, 50)  # 30 Ah from a 5 Ah cell
    curve = DischargeCurve(t, np.full(50, 10.0), np.linspace(4.0, 2.5, 50))
    with pytest.raises(calibration.CalibrationError, match="curve 0"):
        calibrate(nominal, [curve], [Uncertain(AM_N, (0.6, 0.85))])
