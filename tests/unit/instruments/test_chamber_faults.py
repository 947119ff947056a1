"""One test per fault the simulated chamber can throw: the typed error, or the recovery."""

from __future__ import annotations

from functools import partial

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.sim.chamber import ChamberServer
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.thermal_chamber import ChamberError, ThermalChamber
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)

T = ThermalChamber.TERMINATIONS


@pytest.fixture
def sim():
    with ChamberServer(clock=SimClock(6000.0), seed=5) as server:
        yield server


@pytest.fixture
def chamber(sim, connect) -> ThermalChamber:
    resource = connect(sim.resource_name, T, timeout=0.1, instrument="chamber")
    return ThermalChamber(resource, poll_interval=0.002)


def test_silent_setpoint_is_caught_by_the_read_back(sim, chamber) -> None:
    sim.inject(Fault.SILENT)
    with pytest.raises(DeviceFault, match="did not take SOUR:TEMP 35: it reads back 25"):
        chamber.set_setpoint(35.0)
    sim.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout, match="MEAS:TEMP"):
        chamber.temperature()
    assert chamber.set_setpoint(35.0) == 35.0


def test_garbage_is_a_device_fault_and_the_next_answer_is_clean(sim, chamber) -> None:
    sim.inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="STAT:DOOR"):
        chamber.door()
    assert chamber.door() == "CLOSED"


def test_dropped_connection_reconnects_once_and_repeats_only_queries(sim) -> None:
    resource = ReconnectingResource(partial(open_resource, sim.resource_name, timeout=0.1, **T))
    chamber = ThermalChamber(RecordingResource(resource, "chamber"))
    try:
        sim.inject(Fault.DISCONNECT)
        assert chamber.alarm() == "NONE"  # a status query is re-sent on the new link
        assert resource.reconnects == 1
        sim.inject(Fault.DISCONNECT)  # the setpoint is lost with the link ...
        with pytest.raises(DeviceFault, match="did not take SOUR:TEMP 35: it reads back 25"):
            chamber.set_setpoint(35.0)  # ... and the read-back, re-sent, shows it
        assert resource.reconnects == 2
        assert chamber.set_setpoint(35.0) == 35.0
    finally:
        chamber.close()


def test_controller_error_is_read_from_the_error_queue(sim, chamber) -> None:
    sim.inject(Fault.ERROR)
    with pytest.raises(ChamberError, match="-300") as error:
        chamber.setpoint()  # no answer; the queue says why
    assert error.value.errors == [(-300, "Device-specific error;controller fault")]
    sim.schedule(FaultRule(Fault.ERROR, after=sim.commands))
    with pytest.raises(ChamberError, match="-300"):
        chamber.set_ramp_rate(5.0)  # refused: read-back differs, then the queue
    assert chamber.ramp_rate() == 1.0


def test_stuck_chamber_never_settles(sim, chamber) -> None:
    chamber.set_ramp_rate(20.0)
    chamber.set_setpoint(60.0)
    sim.inject(Fault.STUCK_BUSY)
    chamber.start()  # accepted and reads back ON ...
    with pytest.raises(InstrumentTimeout, match="did not settle"):
        chamber.wait_until_stable(tolerance=0.5, timeout=0.3)  # ... but nothing heats
    assert chamber.output() and chamber.temperature() < 30.0


def test_drifting_sensor_leaves_the_band_and_times_out(sim, chamber) -> None:
    chamber.set_ramp_rate(20.0)
    chamber.set_setpoint(30.0)
    chamber.start()
    assert chamber.wait_until_stable(tolerance=0.5, timeout=1.0) == pytest.approx(30.0, abs=0.5)
    sim.inject(Fault.DRIFT)
    readings = [chamber.temperature() for _ in range(20)]
    assert readings[-1] - readings[0] > 0.9  # +0.2 % of 30 °C per command
    assert abs(sim.temperature_now() - 30.0) < 0.5  # the air itself stays in the band
    with pytest.raises(InstrumentTimeout, match="did not settle"):
        chamber.wait_until_stable(tolerance=0.5, timeout=0.05)
