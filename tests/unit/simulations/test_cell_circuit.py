"""The equivalent-circuit cell against PyBaMM's Chen2020 (LG M50) data and its own physics."""

from __future__ import annotations

import copy
import math

import numpy as np
import pybamm
import pytest
from pybamm.input.parameters.lithium_ion import Chen2020

from electroloop.errors import SimulationError
from electroloop.simulations.cell_circuit import (
    AREA_PER_AH,
    CellSpec,
    EquivalentCircuitCell,
    electrolyte_path_length,
    ocv_table,
    stoichiometry_window,
)
from tests.floats import SAME_COMPUTATION, assert_close


def _discharge(cell: EquivalentCircuitCell, current: float, cutoff: float = 2.5) -> float:
    """Ah delivered at `current` (A, magnitude) until the terminal voltage reaches `cutoff`."""
    delivered, dt = 0.0, 10.0
    while cell.terminal_voltage(-current) > cutoff:
        cell.step(-current, dt)
        delivered += current * dt / 3600.0
    return delivered


def test_ocv_is_chen2020_full_cell_between_the_cut_offs() -> None:
    values = pybamm.ParameterValues("Chen2020")
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    # the same PyBaMM solve, run again by the module
    assert_close(stoichiometry_window(), (x_0, x_100, y_100, y_0), **SAME_COMPUTATION)
    cell = EquivalentCircuitCell(CellSpec())
    for soc in np.linspace(0.0, 1.0, 11):
        x = x_0 + soc * (x_100 - x_0)
        y = y_0 + soc * (y_100 - y_0)
        direct = float(Chen2020.nmc_LGM50_ocp_Chen2020(y)) - float(
            Chen2020.graphite_LGM50_ocp_Chen2020(x)
        )
        assert cell.ocv(soc) == pytest.approx(direct, abs=2e-3)  # table interpolation
    assert cell.ocv(0.0) == pytest.approx(values["Lower voltage cut-off [V]"], abs=1e-3)
    assert cell.ocv(1.0) == pytest.approx(values["Upper voltage cut-off [V]"], abs=1e-3)
    soc, ocv = ocv_table()
    inside = (soc >= 0.0) & (soc <= 1.0)
    assert np.all(np.diff(ocv[inside]) > 0)  # monotonic: one SOC per voltage
    assert cell.ocv(0.5) == pytest.approx(3.75, abs=0.05)  # LG M50 mid-SOC plateau


def test_electrolyte_resistance_follows_geometry_and_conductivity() -> None:
    # Chen2020: separator 12 µm, ε 0.47; electrodes 85.2/75.6 µm, ε 0.25/0.335; Bruggeman 1.5.
    expected = 12e-4 / 0.47**1.5 + 85.2e-4 / (3 * 0.25**1.5) + 75.6e-4 / (3 * 0.335**1.5)
    assert electrolyte_path_length() == pytest.approx(expected, rel=1e-12)  # the closed form again
    good = EquivalentCircuitCell(CellSpec(electrolyte_conductivity=10.0))
    poor = EquivalentCircuitCell(CellSpec(electrolyte_conductivity=2.0))
    # the cell's geometry is the same closed form: rounding only
    assert good.area == pytest.approx(0.005 * AREA_PER_AH, rel=1e-12)
    assert good.area == pytest.approx(1.027, abs=1e-3)
    assert poor.electrolyte_resistance == pytest.approx(5 * good.electrolyte_resistance, rel=1e-12)
    assert 2.0 < good.electrolyte_resistance < 6.0  # Ω for a 1 cm² coin cell at 10 mS/cm
    assert 5.0 < good.resistance + good.r1 < 25.0  # a coin cell's total DC resistance


def test_lower_conductivity_lowers_the_voltage_and_capacity_at_1c() -> None:
    cells = {
        sigma: EquivalentCircuitCell(CellSpec(electrolyte_conductivity=sigma, initial_soc=1.0))
        for sigma in (10.0, 2.0)
    }
    for cell in cells.values():
        cell.step(-0.005, 600.0)  # 10 min at 1C
    assert cells[2.0].terminal_voltage(-0.005) < cells[10.0].terminal_voltage(-0.005) - 0.05
    delivered = {
        sigma: _discharge(
            EquivalentCircuitCell(CellSpec(electrolyte_conductivity=sigma, initial_soc=1.0)), 0.005
        )
        for sigma in cells
    }
    assert delivered[2.0] < delivered[10.0]


def test_c5_discharge_delivers_the_capacity_within_the_voltage_window() -> None:
    cell = EquivalentCircuitCell(CellSpec(initial_soc=1.0))
    assert 4.1 < cell.terminal_voltage(0.0) <= 4.2 + 1e-9
    capacity = cell.capacity
    delivered = _discharge(cell, 0.001)  # C/5 of 5 mAh
    assert delivered == pytest.approx(capacity, rel=0.04)
    assert cell.terminal_voltage(0.0) > 2.5  # relaxes back above the cut-off


def test_current_for_voltage_holds_the_terminal_voltage() -> None:
    cell = EquivalentCircuitCell(CellSpec(initial_soc=0.8))
    for dt in (0.0, 5.0, 60.0):
        trial = copy.copy(cell)
        current = trial.current_for_voltage(4.1, dt)
        trial.step(current, dt)
        assert current > 0
        assert trial.terminal_voltage(current) == pytest.approx(4.1, abs=3e-3)


def test_fade_grows_with_root_time_and_throughput_not_with_conductivity() -> None:
    resting = EquivalentCircuitCell(CellSpec(initial_soc=0.5))
    resting.step(0.0, 86400.0 * 25)
    loss_25 = resting.fade
    resting.step(0.0, 86400.0 * 75)
    assert resting.fade == pytest.approx(2 * loss_25, rel=1e-6)  # √(100/25) = 2
    assert 0.005 < loss_25 < 0.02  # k_cal 1.5e-3 per √day: 0.75 % after 25 days
    fades = []
    for sigma in (10.0, 2.0):
        cell = EquivalentCircuitCell(CellSpec(electrolyte_conductivity=sigma, initial_soc=0.5))
        for _ in range(50):  # 50 equivalent full cycles at C/2, soc kept near 0.5
            cell.step(0.0025, 3600.0)
            cell.step(-0.0025, 3600.0)
        fades.append(cell.fade)
    # the fade laws have no conductivity term: the same arithmetic, rounding only
    assert fades[0] == pytest.approx(fades[1], rel=1e-12)
    assert fades[0] > EquivalentCircuitCell(CellSpec()).fade + 50 * 1e-4 * 0.99
    # sums of 100 steps: rounding only
    assert cell.throughput == pytest.approx(50 * 2 * 0.0025, rel=1e-12)
    assert cell.elapsed == pytest.approx(50 * 7200.0, rel=1e-12)


def test_coulombic_efficiency_below_one() -> None:
    cell = EquivalentCircuitCell(CellSpec(initial_soc=0.5))
    cell.step(0.0025, 3600.0)
    cell.step(-0.0025, 3600.0)
    assert 0.5 - 0.002 < cell.soc < 0.5  # 0.05 % of the charge is lost to side reactions


def test_seed_spreads_cells_like_a_batch_and_repeats() -> None:
    spec = CellSpec()
    capacities = [EquivalentCircuitCell(spec, seed=seed).capacity for seed in range(20)]
    assert len(set(capacities)) == 20
    assert all(abs(c / 0.005 - 1) < 0.05 for c in capacities)
    assert_close(EquivalentCircuitCell(spec, seed=3).capacity, capacities[3], **SAME_COMPUTATION)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity": 0.0},
        {"electrolyte_conductivity": 0.0},
        {"temperature": 200.0},
        {"initial_soc": 1.5},
    ],
)
def test_spec_outside_the_validity_domain_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(SimulationError):
        CellSpec(**kwargs)


def test_step_refuses_nonsense() -> None:
    cell = EquivalentCircuitCell(CellSpec())
    with pytest.raises(SimulationError):
        cell.step(math.nan, 1.0)
    with pytest.raises(SimulationError):
        cell.step(0.001, -1.0)


def test_temperature_speeds_up_kinetics_and_fade() -> None:
    cold = EquivalentCircuitCell(CellSpec(temperature=0.0))
    warm = EquivalentCircuitCell(CellSpec(temperature=45.0))
    assert cold.r1 > EquivalentCircuitCell(CellSpec()).r1 > warm.r1
    for cell in (cold, warm):
        cell.step(0.0, 86400.0)
    assert warm.fade > cold.fade
