"""One test per fault the simulated meter can throw: the typed error, or the recovery."""

from __future__ import annotations

import time
from functools import partial

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.conductivity_meter import (
    CalibrationDrift,
    ConductivityMeter,
    MeterError,
)
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)

T = ConductivityMeter.TERMINATIONS


@pytest.fixture
def filled(lab):
    for name, grams in {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}.items():
        lab.bench.deliver(name, grams / lab.bench.stocks[name].density)
    return lab


def test_silent_setting_is_caught_by_the_read_back(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T, timeout=0.1))
    filled.meter.inject(Fault.SILENT)  # the set command is lost
    with pytest.raises(DeviceFault, match="did not take SENS:COND:CELL 0.5: it reads back 1"):
        m.set_cell_constant(0.5)
    filled.meter.inject(Fault.SILENT)  # the query is lost: nothing queued, so a timeout
    with pytest.raises(InstrumentTimeout):
        m.conductivity()
    assert m.set_cell_constant(0.5) == 0.5


def test_garbage_is_a_device_fault_and_the_next_reading_is_clean(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T))
    filled.meter.inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="NR3"):
        m.conductivity()
    assert m.conductivity() == pytest.approx(filled.bench.true_conductivity(), rel=0.03)


def test_dropped_connection_reconnects_once_and_repeats_only_queries(filled) -> None:
    opener = partial(open_resource, filled.meter_resource, timeout=0.1, **T)
    resource = ReconnectingResource(opener)
    m = ConductivityMeter(RecordingResource(resource, "meter"))
    try:
        assert m.identity()
        filled.meter.inject(Fault.DISCONNECT)  # a reading is safe to repeat
        assert m.conductivity() == pytest.approx(filled.bench.true_conductivity(), rel=0.03)
        assert resource.reconnects == 1
        assert "! reconnected" in m.resource.take().text
        filled.meter.inject(Fault.DISCONNECT)  # the setting is lost with the link ...
        with pytest.raises(DeviceFault, match="did not take SENS:COND:CELL 0.5"):
            m.set_cell_constant(0.5)  # ... and the read-back, re-sent, shows it
        assert resource.reconnects == 2
        assert m.set_cell_constant(0.5) == 0.5
    finally:
        m.close()


def test_device_error_is_read_from_the_error_queue(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T, timeout=0.1))
    filled.meter.inject(Fault.ERROR)
    with pytest.raises(MeterError, match="-240") as error:
        m.conductivity()  # answered NAN; the queue says why
    assert error.value.errors == [(-240, "Hardware error;conductivity cell")]
    filled.meter.schedule(FaultRule(Fault.ERROR, after=filled.meter.commands))
    with pytest.raises(MeterError, match="-240"):
        m.set_cell_constant(0.8)  # the setting was refused: read-back, then the queue
    assert m.cell_constant() == 1.0
    m.check_errors()


def test_stuck_acquisition_is_a_timeout(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T, timeout=0.1), measurement_timeout=0.1)
    filled.meter.inject(Fault.STUCK_BUSY)
    assert m.identity()  # the meter still talks ...
    with pytest.raises(InstrumentTimeout, match=r"\*OPC\?"):
        m.reading()  # ... but its acquisition never completes
    with pytest.raises(InstrumentTimeout, match="MEAS:COND"):
        m.conductivity()


def test_drift_is_caught_by_the_check_standard(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T))
    standard = filled.bench.true_conductivity()
    assert m.verify_standard(standard, tolerance=0.02) == pytest.approx(standard, rel=0.02)
    filled.meter.inject(Fault.DRIFT)
    readings = [m.conductivity() / standard - 1.0 for _ in range(30)]
    assert readings[-1] > readings[0] + 0.04  # +0.2 % per command
    with pytest.raises(CalibrationDrift, match="allowed ±2 %"):
        m.verify_standard(standard, tolerance=0.02)


def test_a_slow_meter_answers_late_but_right(filled, connect) -> None:
    m = ConductivityMeter(connect(filled.meter_resource, T))
    filled.meter.inject(Fault.SLOW)  # from this command on, every answer comes late
    started = time.monotonic()
    value = m.conductivity()
    late = time.monotonic() - started
    assert late >= 0.9 * filled.meter.slow_delay, late
    assert value == pytest.approx(filled.bench.true_conductivity(), rel=0.03)
    started = time.monotonic()
    m.temperature()
    assert time.monotonic() - started >= 0.9 * filled.meter.slow_delay  # and stays slow
