"""OrionStarA215 against the loopback Orion simulator: readings, units, calibration, identity,
malformed replies and the faults a bench throws."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from electroloop.errors import InstrumentTimeout
from electroloop.instruments.orion_meter import (
    OrionNoReading,
    OrionReplyError,
    OrionStarA215,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.lab import SimulatedLab
from electroloop.instruments.sim.orion_meter import OrionMeterServer
from electroloop.instruments.sim.server import Fault
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)
from electroloop.models import Stock
from electroloop.samples import METER
from electroloop.simulations.conductivity import conductivity

T = OrionStarA215.TERMINATIONS
GRAMS = {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}
NOISE = 0.03  # 6 sigma of the simulated meter's 0.5 %, plus its 4-digit rounding


@pytest.fixture
def orion(stocks: list[Stock]) -> Iterator[SimulatedLab]:
    """A loopback lab whose meter is the Orion simulator, a filled vial in its cell."""
    with SimulatedLab(
        stocks,
        temperature=25.0,
        conductivity_model=conductivity,
        seed=7,
        clock=SimClock(1000.0),
        roles=("meter",),
        meter_driver="orion-a215",
    ) as lab:
        for name, grams in GRAMS.items():
            lab.bench.deliver(name, grams / lab.bench.stocks[name].density)
        yield lab


def server(lab: SimulatedLab) -> OrionMeterServer:
    assert isinstance(lab.meter, OrionMeterServer)
    return lab.meter


def meter(lab: SimulatedLab, connect, timeout: float = 5.0) -> OrionStarA215:
    """A driver over `connect`; `timeout` (s) ample for every normal answer on a busy machine."""
    return OrionStarA215(
        connect(lab.meter_resource, T, timeout=timeout, instrument="meter"),
        measurement_timeout=timeout,
    )


def frame(command: str, *lines: str) -> str:
    return command.ljust(16) + "\r\n\r\n" + "".join(f"\r{line}\n\r" for line in lines) + "\r"


def test_reads_the_bench_within_the_meters_noise(orion, connect) -> None:
    m = meter(orion, connect)
    truth = orion.bench.true_conductivity()  # mS/cm at 25 °C
    readings = [m.conductivity() for _ in range(20)]
    assert all(abs(r / truth - 1.0) < NOISE for r in readings)
    assert sum(readings) / len(readings) == pytest.approx(truth, rel=0.005)
    assert m.temperature() == pytest.approx(25.0, abs=0.3)
    several = m.readings(3)
    assert [r.log_number for r in several] == [22, 23, 24]  # every record logged, numbered
    assert all(r.cell_constant == pytest.approx(0.475, abs=1e-12) for r in several)
    # the conductance the cell saw: G = κ / K (both printed with 4 digits)
    assert several[0].conductance == pytest.approx(several[0].conductivity / 0.475, rel=1e-3)
    assert len(m.log()) == 24
    assert "> SETCSV" in m.resource.take().text  # switched to CSV before the first reading


def test_microsiemens_and_millisiemens_are_both_read_in_ms_per_cm(orion, connect) -> None:
    m = meter(orion, connect)
    orion.bench.add_standard("kcl-1413", METER, lambda t: 1.413)  # prints in µS/cm
    low = m.reading()
    orion.bench.add_standard("kcl-111.8", METER, lambda t: 111.8)  # prints in mS/cm
    high = m.reading()
    assert low.conductivity == pytest.approx(1.413, rel=NOISE)
    assert high.conductivity == pytest.approx(111.8, rel=NOISE)
    text = m.resource.take().text
    assert ",uS/cm," in text and ",mS/cm," in text
    siemens_per_metre = frame("GETMEAS", low_record("1.183", "S/m"))
    server(orion).inject(siemens_per_metre)
    assert m.conductivity() == pytest.approx(11.83, rel=1e-12)  # 1 S/m = 10 mS/cm


def low_record(value: str, unit: str, *extra: str) -> str:
    return ",".join(
        [
            "A215 Cond",
            "X1",
            "3.04",
            "---",
            "12/07/23 09:30:40",
            "---",
            "CH-2",
            "Cond",
            value,
            unit,
            "2.491",
            "mS",
            "25.0",
            "C",
            "0.4750",
            "/cm",
            "M100",
            "#1",
            *extra,
        ]
    )


def test_temperature_compensation_refers_the_reading_to_the_reference(orion, connect) -> None:
    orion.bench.temperature = 32.0
    truth = orion.bench.true_conductivity()  # at 32 °C
    server(orion).coefficient = 2.0  # set at the keypad: linear, 2 %/K to 25 °C
    m = meter(orion, connect)
    reading = m.reading()
    factor = 1.0 + 2.0 / 100.0 * (reading.temperature - 25.0)
    assert reading.conductivity == pytest.approx(truth / factor, rel=NOISE)
    calibration = m.calibration()
    assert calibration is not None
    assert (calibration.coefficient, calibration.reference) == (2.0, 25.0)


def test_calibration_and_identity(orion, connect) -> None:
    m = meter(orion, connect)
    identity = m.identity()
    assert (identity.model, identity.serial, identity.firmware) == ("A215", "X00007", "3.04")
    assert str(identity).startswith("Thermo Scientific Orion Star A215, serial X00007")
    calibration = m.calibration()
    assert calibration is not None and calibration.points == 1
    assert calibration.cell_constant == pytest.approx(0.475, abs=1e-12)
    assert calibration.standard == pytest.approx(1.413, rel=1e-12)
    server(orion).cell_constant = 0.95  # miscalibrated: twice the cell's true constant
    assert m.calibration().cell_constant == pytest.approx(0.95, abs=1e-12)  # type: ignore[union-attr]
    assert m.conductivity() == pytest.approx(2 * orion.bench.true_conductivity(), rel=NOISE)
    server(orion).calibrated = False
    assert m.calibration() is None


def test_a_reply_with_the_wrong_field_count_is_a_named_error(orion, connect) -> None:
    m = meter(orion, connect)
    m.identity()  # SETCSV has gone: the injected answer meets GETMEAS
    short = ",".join(low_record("1.183", "S/m").split(",")[:17])
    server(orion).inject(frame("GETMEAS", short))
    with pytest.raises(OrionReplyError, match="17 fields; expected 18: model, serial number"):
        m.conductivity()
    server(orion).inject(frame("GETMEAS", low_record("1.183", "S/m", "extra")))
    with pytest.raises(OrionReplyError, match="19 fields; expected 18"):
        m.conductivity()
    server(orion).inject(frame("GETMEAS", low_record("1.183", "kS/m")))
    with pytest.raises(OrionReplyError, match="'kS/m' as the conductivity unit"):
        m.conductivity()
    server(orion).inject(frame("GETMEAS", low_record("1.1.3", "S/m")))
    with pytest.raises(OrionReplyError, match="expected a decimal number"):
        m.conductivity()
    assert m.conductivity() == pytest.approx(orion.bench.true_conductivity(), rel=NOISE)


def test_a_pH_record_beside_the_conductivity_record_is_skipped(orion, connect) -> None:
    m = meter(orion, connect)
    m.identity()  # SETCSV has gone: the injected answer meets GETMEAS
    ph = "A215 pH,X1,3.04,---,12/07/23 09:30:40,---,CH-1,pH,4.61,pH,111.2, mV,25.0,C,89.1,%,M100,#1"
    server(orion).inject(frame("GETMEAS", ph, low_record("1.183", "S/m")))
    assert m.conductivity() == pytest.approx(11.83, rel=1e-12)
    server(orion).inject(frame("GETMEAS", ph))
    with pytest.raises(OrionReplyError, match="no conductivity record"):
        m.conductivity()


def test_garbage_is_a_named_error_and_the_next_reading_is_clean(orion, connect) -> None:
    m = meter(orion, connect)
    m.identity()
    server(orion).inject(Fault.GARBAGE)
    with pytest.raises(OrionReplyError, match="expected its echo 'GETMEAS'"):
        m.conductivity()
    assert m.conductivity() == pytest.approx(orion.bench.true_conductivity(), rel=NOISE)


def test_a_dropped_link_or_a_lost_answer_is_asked_again_after_reconnecting(orion) -> None:
    # 2 s: ample for a normal answer on a busy machine; a dropped link and a lost answer are
    # each noticed only when it runs out, so no more.
    opener = partial(open_resource, orion.meter_resource, timeout=2.0, **T)
    resource = ReconnectingResource(opener)
    m = OrionStarA215(RecordingResource(resource, "meter"), measurement_timeout=2.0)
    try:
        assert m.identity().serial == "X00007"
        server(orion).inject(Fault.DISCONNECT)
        assert m.conductivity() == pytest.approx(orion.bench.true_conductivity(), rel=NOISE)
        assert resource.reconnects == 1
        server(orion).inject(Fault.SILENT)  # the answer is lost: reopen, ask once more
        assert m.temperature() == pytest.approx(25.0, abs=0.3)
        assert resource.reconnects == 2
        assert m.resource.take().text.count("> GETMEAS\n") == 4  # each asked twice
    finally:
        m.close()


def test_a_lost_answer_without_a_reconnecting_link_is_a_timeout(orion, connect) -> None:
    m = meter(orion, connect)
    m.identity()
    m.resource.timeout, m.measurement_timeout = 100, 0.1  # only the lost answer waits so little
    server(orion).inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout):
        m.conductivity()


def test_a_meter_stuck_waiting_for_a_stable_reading_times_out(orion) -> None:
    opener = partial(open_resource, orion.meter_resource, timeout=5.0, **T)
    m = OrionStarA215(ReconnectingResource(opener), measurement_timeout=5.0)
    try:
        server(orion).inject(Fault.STUCK_BUSY)
        assert m.identity().model == "A215"  # the meter still talks ...
        m.resource.timeout, m.measurement_timeout = 100, 0.1  # only unanswered reads from here
        with pytest.raises(InstrumentTimeout, match="GETMEAS"):
            m.conductivity()  # ... but never prints a reading, even when asked again
    finally:
        m.close()


def test_a_probe_fault_or_a_refused_vial_reads_no_value(orion, connect) -> None:
    m = meter(orion, connect)
    m.identity()
    server(orion).inject(Fault.ERROR)
    with pytest.raises(OrionNoReading, match="no valid reading"):
        m.conductivity()
    orion.bench.move("vial-empty", "rack-A1", METER)  # an empty vial in the cell: no solvent
    with pytest.raises(OrionNoReading):
        m.conductivity()


def test_a_meter_switched_off_and_on_is_set_to_csv_again(orion, connect) -> None:
    m = meter(orion, connect)
    first = m.conductivity()
    server(orion).csv = False  # power cycled: back to the printer format
    second = m.conductivity()
    assert second == pytest.approx(first, rel=NOISE)
    assert m.resource.take().text.count("> SETCSV\n") == 2


def test_a_reading_asked_again_is_a_new_record_in_the_meters_log(orion, connect) -> None:
    m = meter(orion, connect)
    first = m.conductivity()
    logged = len(m.log())
    server(orion).csv = False  # power cycled: the GETMEAS reply comes in printer format
    second = m.conductivity()
    assert len(m.log()) == logged + 2  # the unreadable measurement and its repeat: both logged
    assert m.resource.take().text.count("> GETMEAS\n") == 3
    assert second == pytest.approx(first, rel=NOISE)  # the same sample, measured anew


def test_drift_shows_in_the_readings(orion, connect) -> None:
    m = meter(orion, connect)
    truth = orion.bench.true_conductivity()
    server(orion).inject(Fault.DRIFT)
    readings = [m.conductivity() / truth - 1.0 for _ in range(30)]
    assert readings[-1] > readings[0] + 0.04  # +0.2 % per command
