"""ConductivityMeter: SCPI parsing (pyvisa-sim dialogues) and the loopback simulator."""

from __future__ import annotations

import re

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.conductivity_meter import ConductivityMeter, MeterError
from electroloop.instruments.sim.server import Fault

T = ConductivityMeter.TERMINATIONS
OK, OVER, FAULTY, NO_PROBE = (
    f"TCPIP0::192.0.2.40::{port}::SOCKET" for port in (5025, 5026, 5027, 5028)
)


def meter(dialogue, name: str) -> ConductivityMeter:
    return ConductivityMeter(dialogue("meter.yaml", name, T, timeout=0.05), max_errors=3)


def test_parses_readings_and_converts_units(dialogue) -> None:
    m = meter(dialogue, OK)
    assert m.identity() == "Acme Instruments,CM-9,SN4242,2.1"
    assert m.conductivity() == pytest.approx(11.83)  # 1.183 S/m = 11.83 mS/cm
    assert m.temperature() == pytest.approx(25.12)
    m.reset()
    m.check_errors()
    sent = [line.split(" ", 2)[2] for line in m.resource.take().text.splitlines() if " > " in line]
    assert sent == ["*IDN?", "MEAS:COND?", "MEAS:TEMP?", "*RST", "SYST:ERR?", "SYST:ERR?"]


def test_rejected_command_is_read_from_the_error_queue(dialogue) -> None:
    m = meter(dialogue, NO_PROBE)
    with pytest.raises(MeterError, match="-113") as error:
        m.temperature()  # unknown to this meter: no reply, then SYST:ERR?
    assert error.value.errors == [(-113, "Undefined header")]
    assert isinstance(error.value.__context__, InstrumentTimeout)
    m.check_errors()  # the queue is empty again


def test_over_range_and_garbled_answers(dialogue) -> None:
    m = meter(dialogue, OVER)
    with pytest.raises(DeviceFault, match="over range"):
        m.conductivity()
    with pytest.raises(DeviceFault, match="NR3"):
        m.temperature()
    with pytest.raises(DeviceFault, match="4 fields"):
        m.identity()


def test_error_queue_that_never_empties(dialogue) -> None:
    m = meter(dialogue, FAULTY)
    with pytest.raises(DeviceFault, match="did not empty"):
        m.conductivity()


def test_timeout_with_empty_queue_stays_a_timeout(lab, connect) -> None:
    m = ConductivityMeter(connect(lab.meter_resource, T, timeout=0.1))
    lab.meter.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout):
        m.temperature()


# -- against the loopback simulator ------------------------------------------------------


def test_reads_the_bench_within_noise(lab, connect) -> None:
    for name, grams in {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}.items():
        lab.bench.deliver(name, grams / lab.bench.stocks[name].density, until=0.0)
    m = ConductivityMeter(connect(lab.meter_resource, T, instrument="meter"))
    assert m.identity().startswith("Electroloop Sim,CM-100,")
    truth = lab.bench.true_conductivity()
    readings = [m.conductivity() for _ in range(20)]
    assert all(abs(r / truth - 1.0) < 0.03 for r in readings)  # 6 sigma of 0.5 %
    assert sum(readings) / len(readings) == pytest.approx(truth, rel=0.005)
    assert m.temperature() == pytest.approx(25.0, abs=0.3)
    m.reset()
    text = m.resource.take().text
    assert re.search(r"> MEAS:COND\?\n\S+ < \d\.\d{6}E[+-]\d\d\n", text)


def test_simulated_model_refusal_becomes_meter_error(lab, connect) -> None:
    m = ConductivityMeter(connect(lab.meter_resource, T))
    lab.bench.deliver("EMC", 1.0, until=0.0)  # no EC, no salt: outside the model's domain
    with pytest.raises(MeterError, match="-222"):
        m.conductivity()
    lab.meter.inject_error(-350, "Queue overflow")
    with pytest.raises(MeterError, match="Queue overflow"):
        m.check_errors()
