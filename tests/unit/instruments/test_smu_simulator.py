"""Keithley2450 against the loopback 2450 simulator with a simulated cell, and replayed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from electroloop.clocks import SteppedClock
from electroloop.errors import InstrumentTimeout
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.smu import SmuServer, normalise_header, split_message
from electroloop.instruments.smu import CellLimits, Keithley2450
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    ReplayResource,
    open_resource,
    query,
)
from electroloop.simulations.cell_circuit import CellSpec
from tests.floats import SAME_COMPUTATION, assert_close

T = Keithley2450.TERMINATIONS
C = 0.005  # A: 1C of the default 5 mAh cell
LIMITS = CellLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.01)

Opener = Callable[..., Keithley2450]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(speedup=20000.0)  # 10 h of instrument time in 1.8 s


@pytest.fixture
def server(clock: SimClock) -> Iterator[SmuServer]:
    with SmuServer(CellSpec(initial_soc=0.0), clock=clock, seed=1) as sim:
        yield sim


@pytest.fixture
def smu(clock: SimClock) -> Iterator[Opener]:
    """Open a recorded, reconnecting driver on a server; everything closed at teardown."""
    opened: list[Keithley2450] = []

    def _open(sim: SmuServer, *, timeout: float = 0.5) -> Keithley2450:
        opener = partial(open_resource, sim.resource_name, timeout=timeout, **T)
        resource = RecordingResource(ReconnectingResource(opener), "smu")
        driver = Keithley2450(resource, limits=LIMITS, clock=clock)
        opened.append(driver)
        return driver

    yield _open
    for driver in opened:
        driver.close()


def test_cc_cv_charge_and_cc_discharge_move_the_cells_capacity(server, smu) -> None:
    k = smu(server)
    assert k.identity().startswith("KEITHLEY INSTRUMENTS,MODEL 2450,")
    k.reset()
    capacity = server.cell.capacity
    charge = k.charge_cc_cv(C / 2, 4.2, C / 20, timeout=8 * 3600.0, poll_interval=30.0)
    assert charge.capacity == pytest.approx(capacity, rel=0.05)
    assert charge.readings[-1].current <= C / 20
    assert charge.readings[-1].voltage == pytest.approx(4.2, abs=2e-3)  # CV at VLIM
    assert all(2.45 < r.voltage <= 4.202 for r in charge.readings)
    assert max(r.current for r in charge.readings) == pytest.approx(C / 2, rel=1e-3)
    assert server.output is False  # switched off at the end
    discharge = k.discharge_cc(C / 2, 2.5, timeout=8 * 3600.0, poll_interval=30.0)
    assert discharge.capacity == pytest.approx(capacity, rel=0.06)
    assert discharge.energy == pytest.approx(capacity * 3.7, rel=0.1)  # ≈ 3.7 V mean
    assert discharge.readings[-1].voltage == pytest.approx(2.5, abs=2e-3)
    assert min(r.current for r in discharge.readings) == pytest.approx(-C / 2, rel=1e-3)
    assert server.cell.soc < 0.05


def test_current_source_clamps_at_vlim_and_voltage_source_at_ilim(server, smu, clock) -> None:
    k = smu(server)
    k.reset()
    k.set_source_function("CURR")
    k.set_sense_function("VOLT")
    k.set_voltage_limit(3.0)
    k.set_current(C)
    k.output_on()
    assert k.in_compliance() is False
    clock.sleep(1800.0)  # 2.5 V -> 3.0 V takes a few minutes at 1C
    reading = k.read()
    assert reading.voltage == pytest.approx(3.0, abs=1e-3)
    assert 0.0 < reading.current < C
    assert k.in_compliance() is True
    k.output_off()
    server.fill(CellSpec(initial_soc=0.5))
    k.set_source_function("VOLT")
    k.set_sense_function("CURR")
    k.set_current_limit(1e-3)
    k.set_voltage(3.0)  # far below the cell's 3.75 V: the source sinks at its limit
    k.output_on()
    reading = k.read()
    assert reading.current == pytest.approx(-1e-3, rel=1e-3)
    assert reading.voltage > 3.6
    assert k.in_compliance() is True
    k.output_off()


def test_worse_electrolyte_shows_as_a_lower_voltage_under_load(smu) -> None:
    # Real time here: the reading follows the output by milliseconds, during which the 30 s
    # polarisation (cell_circuit.TAU1) barely starts; on the fast clock those milliseconds are
    # tens of seconds, and how many depends on how busy the machine is.
    volts = {}
    with SmuServer(CellSpec(initial_soc=0.0), clock=SimClock(speedup=1.0), seed=1) as server:
        k = smu(server)
        k.reset()
        for sigma in (10.0, 2.0):
            server.fill(CellSpec(electrolyte_conductivity=sigma, initial_soc=0.5))
            k.set_source_function("CURR")
            k.set_sense_function("VOLT")
            k.set_voltage_limit(4.2)
            k.set_current(-C)
            k.output_on()
            volts[sigma] = k.read().voltage
            k.output_off()
    # 1C through the extra electrolyte resistance: 5 mA × 0.0394 cm / (σ · 1.027 cm²), σ in S/cm
    extra = 0.0394 / 1.027 * (1 / 0.002 - 1 / 0.010)
    assert volts[10.0] - volts[2.0] == pytest.approx(0.005 * extra, rel=0.05)


def test_replayed_transcript_gives_the_same_results(server, smu) -> None:
    k = smu(server)
    k.reset()
    live = k.charge_cc_cv(C, 3.9, C / 2, timeout=4 * 3600.0, poll_interval=60.0)
    identity = k.identity()
    transcript = k.resource.take()  # type: ignore[attr-defined]
    replay = ReplayResource(transcript)
    again = Keithley2450(replay, limits=LIMITS, clock=SteppedClock())
    again.reset()
    replayed = again.charge_cc_cv(C, 3.9, C / 2, timeout=4 * 3600.0, poll_interval=60.0)
    # Charge and energy are integrated from the readings on the way: the same arithmetic twice.
    assert_close(replayed, live, **SAME_COMPUTATION)
    assert again.identity() == identity
    assert replay.remaining == 0
    assert len(live.readings) > 5


def test_simulator_speaks_scpi_forms_and_queues_errors(server) -> None:
    resource = open_resource(server.resource_name, timeout=0.2, **T)
    try:
        ask = partial(query, resource, instrument="smu")
        assert ask(":source1:function:mode curr;:SOURCE:FUNCTION?") == "CURR"
        assert ask(":sour:curr:lev 1e-3;:SOUR:CURR:LEVEL:IMM:AMPL?") == "1.000000E-03"
        assert ask(":SOUR:CURR 5;:SOUR:CURR?") == "1.000000E-03"  # -222: out of range
        assert ask(':FUNC "CURR";:SENSE:FUNCTION:ON?') == '"CURR:DC"'
        with pytest.raises(InstrumentTimeout):  # -113 discards the rest of the message
            ask(":BOGUS 1;:SOUR:CURR?")
        assert ask(":SYST:ERR?") == '-222,"Data out of range"'
        assert ask(":SYSTEM:ERROR:NEXT?") == '-113,"Undefined header"'
        assert ask(":SYST:ERR?") == '0,"No error"'
        assert ask(':READ? "defbuffer1", READ, SOUR, REL').count(",") == 2
        assert ask(":OUTP:CURR:SMOD HIMPEDANCE;:OUTP:CURR:SMOD?") == "HIMP"
    finally:
        resource.close()


def test_header_normalisation_and_message_splitting() -> None:
    assert normalise_header(":source1:voltage:ilimit:level?") == "SOUR:VOLT:ILIM?"
    assert normalise_header("FUNCtion") == "SENS:FUNC"
    assert normalise_header(":OUTPut1:STATe") == "OUTP"
    assert split_message(':SENS:FUNC "A;B";:READ?; ') == [':SENS:FUNC "A;B"', ":READ?"]


def test_close_leaves_no_threads(clock, smu) -> None:
    before = threading.active_count()
    sim = SmuServer(clock=clock)
    k = smu(sim)
    k.identity()
    k.close()
    sim.close()
    assert threading.active_count() == before
