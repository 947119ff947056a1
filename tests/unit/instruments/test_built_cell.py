"""A built electrode cell (PyBaMM DFN with hidden offsets) on the loopback cycler simulator."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.instruments.cycler import (
    ChannelLimits,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.built_cell import (
    BuiltCell,
    BuiltCellError,
    HiddenOffsets,
    true_parameter_values,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.simulations import electrode_cell
from electroloop.simulations.electrode_cell import REFERENCE

HIDDEN = HiddenOffsets(
    positive_diffusivity_factor=0.5, negative_am_factor=0.95, contact_resistance=1.5e-3
)
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=150.0)


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[float, list[CycleRecord], list[CycleRecord]]]:
    """1C to 2.5 V and a 30-min rest on a built cell (channel 1) and on the twin itself
    (channel 2, no offsets), through the driver; (capacity Ah, built records, twin records)."""
    clock = SimClock(speedup=1e5)
    with CyclerServer(2, clock=clock, max_current=200.0, seed=2) as server:
        built = BuiltCell(REFERENCE, HIDDEN)
        server.connect(1, built)
        server.connect(2, BuiltCell(REFERENCE, HiddenOffsets(1.0, 1.0, 0.0)))
        resource = open_resource(
            server.resource_name, timeout=5.0, **MultichannelCycler.TERMINATIONS
        )
        driver = MultichannelCycler(resource, limits=LIMITS, clock=clock)
        try:
            protocol = CyclingProtocol(
                (ProtocolStep.cc(-built.capacity, 2.5), ProtocolStep.rest(1800.0)),
                record_interval=60.0,
            )
            runs = []
            for channel in (1, 2):
                driver.load(channel, protocol)
                driver.start(channel)
            for channel in (1, 2):
                driver.wait(channel, timeout=3 * 3600.0, poll_interval=600.0)
                runs.append(driver.fetch_all(channel)[0])
        finally:
            driver.close()
    yield built.capacity, runs[0], runs[1]


def test_records_follow_the_true_dfn(measured) -> None:
    import pybamm

    capacity, records, _ = measured
    values = true_parameter_values(REFERENCE, HIDDEN)
    values["Current function [A]"] = capacity
    simulation = pybamm.Simulation(
        pybamm.lithium_ion.DFN(dict(electrode_cell._OPTIONS)),
        parameter_values=values,
        solver=pybamm.IDAKLUSolver(),
        var_pts=dict(electrode_cell.MESH),  # the built cell's mesh, the twin's
    )
    solution = simulation.solve([0.0, 5400.0])
    discharge = [r for r in records if r.step == 1]
    times = np.array([r.time for r in discharge])
    volts = np.array([r.voltage for r in discharge])
    inside = times < solution.t[-1] - 60.0
    truth = np.ravel(solution["Voltage [V]"](times[inside]))
    # the cycler's 100 µV noise on the same DFN: well inside 1 mV
    assert np.max(np.abs(volts[inside] - truth)) < 1e-3
    assert discharge[-1].voltage == pytest.approx(2.5, abs=2e-3)  # landed on the cut-off
    assert discharge[-1].time == pytest.approx(solution.t[-1], abs=2.0)
    assert [r.current for r in discharge] == pytest.approx([-capacity] * len(discharge), rel=1e-3)


def test_hidden_offsets_cost_capacity_and_voltage(measured) -> None:
    capacity, built, twin = measured
    ends = [next(r for r in reversed(run) if r.step == 1) for run in (built, twin)]
    assert ends[1].capacity == pytest.approx(capacity, rel=0.05)  # the twin gives its nominal
    assert ends[0].capacity < 0.97 * ends[1].capacity  # less graphite, slower NMC
    # at 1C the extra 1.5 mΩ alone drops the first loaded voltage by ~44 mV
    assert built[1].voltage < twin[1].voltage - 0.04


def test_rest_after_the_cut_off_relaxes_upwards(measured) -> None:
    _, built, _ = measured
    rest = [r for r in built if r.step == 2]
    assert rest and all(r.current == pytest.approx(0.0, abs=1e-5) for r in rest)
    assert rest[0].voltage > 2.6  # the ohmic and kinetic drop is gone at once
    assert rest[-1].voltage > rest[0].voltage + 0.05  # diffusion relaxes
    assert rest[-1].time - rest[0].time == pytest.approx(1800.0, abs=61.0)


def test_trial_copies_are_independent() -> None:
    cell = BuiltCell(REFERENCE, HIDDEN)
    trial = copy.copy(cell)
    trial.step(-cell.capacity, 600.0)
    at_rest = cell.terminal_voltage(0.0)
    assert trial.terminal_voltage(-cell.capacity) < at_rest - 0.1
    assert cell.terminal_voltage(0.0) == pytest.approx(at_rest, abs=1e-9)
    assert at_rest == pytest.approx(4.2, abs=0.02)  # charged: the twin's top of charge


def test_cv_holds_about_the_asked_voltage() -> None:
    cell = BuiltCell(REFERENCE, HIDDEN)
    cell.step(-cell.capacity, 1800.0)  # half discharged at 1C
    current = cell.current_for_voltage(3.9, 10.0)
    assert current > 0  # charging towards 3.9 V
    cell.step(current, 10.0)
    assert cell.terminal_voltage(current) == pytest.approx(3.9, abs=0.05)


@pytest.mark.parametrize(
    ("offsets", "field"),
    [
        ({"negative_am_factor": 1.05}, "negative_am_factor"),
        ({"positive_diffusivity_factor": 0.0}, "positive_diffusivity_factor"),
        ({"contact_resistance": -1e-3}, "contact_resistance"),
        ({"contact_resistance": float("nan")}, "contact_resistance"),
    ],
)
def test_offsets_out_of_range_are_named(offsets, field) -> None:
    with pytest.raises(BuiltCellError, match=f"{field} is .*; allowed: "):
        HiddenOffsets(**offsets)


def test_connect_refuses_a_running_channel_and_bad_temperature() -> None:
    with pytest.raises(BuiltCellError, match="temperature is 90.0 °C; allowed: -20..60"):
        BuiltCell(REFERENCE, HIDDEN, temperature=90.0)
    clock = SimClock(speedup=1.0)
    with CyclerServer(1, clock=clock, max_current=200.0) as server:
        cell = BuiltCell(REFERENCE, HIDDEN)
        server.connect(1, cell)
        resource = open_resource(
            server.resource_name, timeout=5.0, **MultichannelCycler.TERMINATIONS
        )
        driver = MultichannelCycler(resource, limits=LIMITS, clock=clock)
        try:
            driver.load(1, CyclingProtocol((ProtocolStep.rest(3600.0),)))
            driver.start(1)
            with pytest.raises(SimulationError, match="channel 1 is running"):
                server.connect(1, BuiltCell(REFERENCE, HIDDEN))
            assert server.cell(1) is not None
        finally:
            driver.close()
