"""SIM:CHAN<n>:FILL: the simulated technician fills a cycler channel over real TCP (pyvisa-py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from electroloop.errors import SimulationError
from electroloop.instruments.cycler import CyclingProtocol, MultichannelCycler, ProtocolStep
from electroloop.instruments.sim.cell_line import fill_over_link
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import ReplayResource, open_resource
from electroloop.simulations.cell_circuit import CellSpec
from tests.floats import SAME_COMPUTATION, assert_close

T = MultichannelCycler.TERMINATIONS
SPEC = CellSpec(capacity=0.004, electrolyte_conductivity=7.25, temperature=30.0, sei_multiplier=0.6)


@pytest.fixture
def server() -> Iterator[CyclerServer]:
    with CyclerServer(3, clock=SimClock(speedup=1000.0), seed=4) as sim:
        yield sim


@pytest.fixture
def link(server: CyclerServer) -> Iterator[Any]:
    resource = open_resource(server.resource_name, timeout=0.5, **T)
    try:
        yield resource
    finally:
        resource.close()


def errors(link: Any) -> list[str]:
    """Drain the error queue."""
    found = []
    while not (reply := link.query("SYST:ERR?")).startswith("0,"):
        found.append(reply)
    return found


def test_fill_over_link_is_the_same_cell_as_fill(server, link) -> None:
    fill_over_link(link, 2, SPEC)
    cell = server.cell(2)
    assert cell.spec == SPEC  # full precision on the wire
    with CyclerServer(3, clock=SimClock(), seed=4) as twin:  # same seed: same batch spread
        twin.fill(2, SPEC)
        assert_close(cell.nominal_capacity, twin.cell(2).nominal_capacity, **SAME_COMPUTATION)
        assert cell.resistance == pytest.approx(twin.cell(2).resistance, rel=1e-4)  # fade
    assert server.cell(1).spec == CellSpec()  # the other channels keep their cells


def test_fill_query_answers_the_spec_in_nr3(server, link) -> None:
    assert link.query("SIM:CHAN1:FILL?") == ("5.000000E-03,1.000000E+01,2.500000E+01,1.000000E+00")
    link.write("sim:channel3:fill 0.004,7.25,30,0.6")  # any case, long form of CHANnel
    assert link.query(":SIM:CHAN3:FILL?;SYST:CHAN?") == (
        "4.000000E-03,7.250000E+00,3.000000E+01,6.000000E-01;3"
    )
    assert errors(link) == []


def test_fill_is_refused_while_the_channel_runs(server, link) -> None:
    cycler = MultichannelCycler(link)
    cycler.load(1, CyclingProtocol((ProtocolStep.rest(3600.0),)))
    cycler.start(1)
    with pytest.raises(SimulationError, match=r'-221,"Settings conflict;channel running"'):
        fill_over_link(link, 1, SPEC)
    assert server.cell(1).spec == CellSpec()
    cycler.stop(1)
    fill_over_link(link, 1, SPEC)
    assert server.cell(1).spec == SPEC


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("SIM:CHAN1:FILL", '-109,"Missing parameter"'),
        ("SIM:CHAN1:FILL 0.005,10,25", '-109,"Missing parameter"'),
        ("SIM:CHAN1:FILL 0.005,,25,1", '-109,"Missing parameter"'),
        ("SIM:CHAN1:FILL 0.005,10,25,1,0", '-108,"Parameter not allowed"'),
        ("SIM:CHAN1:FILL 0.005,ten,25,1", '-104,"Data type error"'),
        ("SIM:CHAN1:FILL 0.005,10,25,25", '-222,"Data out of range"'),  # sei_multiplier > 20
        ("SIM:CHAN1:FILL 500,10,25,1", '-222,"Data out of range"'),  # capacity > 100 Ah
        ("SIM:CHAN1:FILL 0.005,10,nan,1", '-222,"Data out of range"'),
        ("SIM:CHAN4:FILL 0.005,10,25,1", '-114,"Header suffix out of range"'),
        ("SIM:CHAN0:FILL?", '-114,"Header suffix out of range"'),
    ],
)
def test_bad_fill_is_refused_with_its_scpi_error(server, link, command, code) -> None:
    link.write(command)
    assert errors(link) == [code]
    assert server.cell(1).spec == CellSpec()


def test_fill_over_link_names_the_refusal(link) -> None:
    with pytest.raises(SimulationError, match=r"SIM:CHAN7:FILL.*-114"):
        fill_over_link(link, 7, SPEC)
    with pytest.raises(SimulationError, match=r"sei_multiplier.*allowed"):
        fill_over_link(link, 1, CellSpec(sei_multiplier=30.0))  # CellSpec refuses it first


def test_fill_over_link_checks_its_arguments_before_sending() -> None:
    silent = ReplayResource("")  # any traffic would fail the test
    with pytest.raises(SimulationError, match=r"initial SOC is 0.5; allowed: 0"):
        fill_over_link(silent, 1, CellSpec(initial_soc=0.5))
    with pytest.raises(SimulationError, match=r"channel is 0; allowed: an integer >= 1"):
        fill_over_link(silent, 0, SPEC)


def test_fill_over_link_raises_when_the_readback_differs() -> None:
    transcript = "\n".join(
        [
            "t > SIM:CHAN1:FILL 0.004,7.25,30.0,0.6",
            "t > SYST:ERR?",
            't < 0,"No error"',
            "t > SIM:CHAN1:FILL?",
            "t < 5.000000E-03,1.000000E+01,2.500000E+01,1.000000E+00",
        ]
    )
    with pytest.raises(SimulationError, match=r"channel 1 holds a cell of '5.000000E-03"):
        fill_over_link(ReplayResource(transcript), 1, SPEC)


def test_filled_cell_reaches_the_records(server, link) -> None:
    """A cell filled over the link is the one the channel cycles: a poorer electrolyte, a
    higher voltage at the same charging current."""
    fill_over_link(link, 1, CellSpec(electrolyte_conductivity=10.0))
    fill_over_link(link, 2, CellSpec(electrolyte_conductivity=0.5))
    cycler = MultichannelCycler(link)
    charge = CyclingProtocol((ProtocolStep.cc(0.005, 4.2, 60.0),), record_interval=60.0)
    for channel in (1, 2):
        cycler.load(channel, charge)
        cycler.start(channel)
    first = {channel: cycler.fetch(channel, 0, 1)[0][0].voltage for channel in (1, 2)}
    assert first[2] > first[1] + 0.05  # σ 0.5 mS/cm adds about 40 Ω at 5 mA
