"""Built cells on the loopback cycler recalibrate the electrode twin: offsets, RMSE, BPX."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import ChannelLimits, MultichannelCycler
from electroloop.instruments.sim.built_cell import BuiltCell, HiddenOffsets, true_parameter_values
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.kinds.electrode.recalibration import (
    AM_N,
    CONTACT,
    D_P,
    UNCERTAIN,
    RecalibrationInputError,
    bpx_path,
    measure_built_cells,
    recalibrate,
    twin_overrides,
)
from electroloop.simulations import electrode_cell
from electroloop.simulations.bpx_export import evaluate_parameter, read_bpx
from electroloop.simulations.calibration import (
    Calibration,
    DischargeCurve,
    Uncertain,
    UnknownParameterError,
)
from electroloop.simulations.electrode_cell import REFERENCE

HIDDEN = HiddenOffsets(
    positive_diffusivity_factor=0.5, negative_am_factor=0.95, contact_resistance=1.5e-3
)
"""Known to this test only: recalibrate never sees it."""
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=150.0)
RATES = (0.5, 2.0)


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[CyclerServer, MultichannelCycler]]:
    """Three channels, each with a charged built cell from one batch (the same offsets)."""
    clock = SimClock(speedup=1e5)
    with CyclerServer(3, clock=clock, max_current=200.0, seed=11) as server:
        for channel in (1, 2, 3):
            server.connect(channel, BuiltCell(REFERENCE, HIDDEN))
        resource = open_resource(
            server.resource_name, timeout=5.0, **MultichannelCycler.TERMINATIONS
        )
        driver = MultichannelCycler(resource, limits=LIMITS, clock=clock)
        try:
            yield server, driver
        finally:
            driver.close()


@pytest.fixture(scope="module")
def curves(lab) -> list[DischargeCurve]:
    return measure_built_cells(lab[1], REFERENCE, RATES, channels=(1, 2), temperature_c=25.0)


@pytest.fixture(scope="module")
def fitted(curves, tmp_path_factory: pytest.TempPathFactory) -> tuple[Calibration, Path]:
    folder = tmp_path_factory.mktemp("recalibrated")
    return recalibrate(REFERENCE, curves, folder=folder), folder


def test_measured_curves_are_discharges_from_the_top(curves) -> None:
    nominal = electrode_cell.parameter_values(REFERENCE)["Nominal cell capacity [A.h]"]
    for curve, rate in zip(curves, RATES, strict=True):
        assert curve.time_s[0] == pytest.approx(0.0, abs=1e-9)
        assert curve.current_a == pytest.approx([rate * nominal] * curve.current_a.size, rel=2e-3)
        assert 3.8 < curve.voltage_v[0] < 4.2  # charged, loaded
        assert curve.voltage_v[-1] == pytest.approx(2.5, abs=3e-3)  # to the cut-off
        # less than the twin's nominal: the hidden offsets cost capacity
        assert curve.time_s[-1] < 0.97 * 3600.0 / rate


def test_fit_recovers_each_hidden_offset_within_three_standard_errors(fitted) -> None:
    calibration, _ = fitted
    truth = true_parameter_values(REFERENCE, HIDDEN)
    for name in (D_P, AM_N, CONTACT):
        estimate, error = calibration.estimates[name], calibration.standard_errors[name]
        assert 0 < error < 0.3 * abs(truth[name]), name  # the error is meaningful
        assert abs(estimate - truth[name]) <= 3.0 * error, (name, estimate, truth[name], error)
    twin = electrode_cell.parameter_values(REFERENCE)
    # and the fit moved: each true value is many errors away from the twin's own
    for name in (D_P, AM_N, CONTACT):
        assert abs(twin[name] - truth[name]) > 50 * calibration.standard_errors[name], name


def test_rmse_against_the_built_cells_drops_a_hundredfold(fitted) -> None:
    calibration, _ = fitted
    assert calibration.rmse_before_v > 0.05  # the twin misses the built cells by > 50 mV
    assert calibration.rmse_after_v < calibration.rmse_before_v / 100
    assert calibration.rmse_after_v < 3e-4  # about the cycler's 100 µV noise


def test_bpx_file_reads_back_with_the_calibrated_values(fitted) -> None:
    calibration, folder = fitted
    values = read_bpx(bpx_path(folder))
    for name, args in ((D_P, (0.5, 298.15)), (AM_N, ()), (CONTACT, ())):
        read = float(np.ravel(evaluate_parameter(values, name, *args))[0])
        assert read == pytest.approx(calibration.estimates[name], rel=1e-9), name


def test_twin_overrides_carry_the_fit_to_other_designs(fitted) -> None:
    calibration, _ = fitted
    same = twin_overrides(calibration.estimates, REFERENCE)
    assert same == pytest.approx(calibration.estimates, rel=1e-12)
    thick = electrode_cell.ElectrodeProperties(
        porosity=0.3,
        am_fraction=0.65,
        tortuosity=2.0,
        surface_area=3e5,
        conductivity=0.2,
        mass_loading=30.0,
    )
    other = twin_overrides(calibration.estimates, REFERENCE, thick)
    foils = (
        electrode_cell.parameter_values(thick)[CONTACT],
        electrode_cell.parameter_values(REFERENCE)[CONTACT],
    )
    assert other[CONTACT] == pytest.approx(
        calibration.estimates[CONTACT] - foils[1] + foils[0], rel=1e-9
    )
    assert other[D_P] == calibration.estimates[D_P]


def test_bad_measurement_requests_are_named_before_anything_moves(lab) -> None:
    server, driver = lab
    before = driver.record_count(3)
    for rates, channels, match in (
        ((0.5, 9.0), (3, 2), r"c_rates holds 9.0; allowed: 0.05..3.0"),
        ((0.5, 0.5), (3, 2), "at least 2 distinct rates"),
        ((0.5, 1.0), (3,), "2 distinct channels"),
        ((0.5, float("nan")), (3, 2), "c_rates holds nan"),
    ):
        with pytest.raises(RecalibrationInputError, match=match):
            measure_built_cells(driver, REFERENCE, rates, channels=channels)
    with pytest.raises(RecalibrationInputError, match="temperature_c is 99.0; allowed: -20..60"):
        measure_built_cells(driver, REFERENCE, (0.5, 1.0), channels=(3, 2), temperature_c=99.0)
    small = MultichannelCycler(driver.resource, limits=ChannelLimits(max_current=10.0))
    with pytest.raises(RecalibrationInputError, match=r"allowed: <= 0.34\d* 1/h"):
        measure_built_cells(small, REFERENCE, (0.5, 1.0), channels=(3, 2))
    assert driver.status(3).state == "IDLE" and driver.record_count(3) == before


def test_bad_fit_requests_are_named_before_any_solve(curves) -> None:
    with pytest.raises(UnknownParameterError, match="Positive particle diffusivty"):
        recalibrate(REFERENCE, curves, [Uncertain("Positive particle diffusivty", (1e-16, 1e-13))])
    with pytest.raises(RecalibrationInputError, match="fit_above_v is 4.5 V; allowed: 2.5..3.8"):
        recalibrate(REFERENCE, curves, UNCERTAIN, fit_above_v=4.5)
    # at 2C the loaded cell starts below 3.8 V: nothing of that curve is left to fit
    with pytest.raises(RecalibrationInputError, match="curve 1 has [0-9] samples above"):
        recalibrate(REFERENCE, curves, UNCERTAIN, fit_above_v=3.8)
    with pytest.raises(RecalibrationInputError, match="allowed: ElectrodeProperties"):
        recalibrate("REFERENCE", curves)  # type: ignore[arg-type]
    assert issubclass(RecalibrationInputError, ConfigError)
