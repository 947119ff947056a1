"""Keithley2450 driver: SCPI dialogues (pyvisa-sim), limit checks and response parsers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import DeviceFault, LimitViolation
from electroloop.instruments.smu import (
    READ_COMMAND,
    CellLimits,
    Keithley2450,
    SmuError,
    SmuReading,
    parse_bool,
    parse_error,
    parse_function,
    parse_number,
    parse_reading,
)

T = Keithley2450.TERMINATIONS
OK, VSOURCE, REFUSING, SAME = (
    f"TCPIP0::192.0.2.50::{port}::SOCKET" for port in (5025, 5026, 5027, 5028)
)


def smu(dialogue, name: str, **kwargs) -> Keithley2450:
    return Keithley2450(dialogue("smu.yaml", name, T, timeout=0.05), max_errors=3, **kwargs)


def sent(instrument: Keithley2450) -> list[str]:
    text = instrument.resource.take().text  # type: ignore[attr-defined]
    return [line.split(" ", 2)[2] for line in text.splitlines() if " > " in line]


def test_configures_a_current_source_and_reads_the_cell(dialogue) -> None:
    k = smu(dialogue, OK)
    assert k.identity() == "KEITHLEY INSTRUMENTS,MODEL 2450,04096218,1.7.12b"
    k.reset()
    k.set_source_function("CURR")
    k.set_sense_function("VOLT")
    k.set_voltage_limit(4.2)
    k.set_current(1e-3)
    k.output_on()
    assert k.output_enabled() is True
    assert k.in_compliance() is False
    assert k.read() == SmuReading(voltage=3.712345, current=1.000012e-3, time=12.345)
    k.output_off()
    assert sent(k) == [
        "*IDN?",
        "*RST;*OPC?",
        ":OUTP:CURR:SMOD HIMP;:OUTP:CURR:SMOD?",
        ":OUTP:VOLT:SMOD HIMP;:OUTP:VOLT:SMOD?",
        ":SYST:ERR?",
        ":SOUR:FUNC CURR;:SOUR:FUNC?",
        ':SENS:FUNC "VOLT";:SENS:FUNC?',
        ":SOUR:CURR:VLIM 4.200000E+00;:SOUR:CURR:VLIM?",
        ":SOUR:CURR 1.000000E-03;:SOUR:CURR?",
        ":OUTP ON;:OUTP?",
        ":OUTP?",
        ":SOUR:CURR:VLIM:TRIP?",
        READ_COMMAND,
        ":OUTP OFF;:OUTP?",
    ]


def test_voltage_source_reading_maps_sense_and_source(dialogue) -> None:
    k = smu(dialogue, VSOURCE)
    assert k.read() == SmuReading(voltage=3.65, current=-2.5e-3, time=4.0)
    assert k.in_compliance() is True  # cached functions: VOLT source asks ILIM:TRIP?


def test_setting_that_does_not_read_back_is_sent_twice_then_fails(dialogue) -> None:
    k = smu(dialogue, VSOURCE, limits=CellLimits(min_voltage=2.5, max_voltage=4.2))
    with pytest.raises(DeviceFault, match="reads back '2.000000E\\+00'"):
        k.set_voltage(3.0)
    assert sent(k) == [":SOUR:VOLT 3.000000E+00;:SOUR:VOLT?", ":SYST:ERR?"] * 2


def test_refused_command_is_read_from_the_error_queue(dialogue) -> None:
    k = smu(dialogue, REFUSING)
    with pytest.raises(SmuError, match="-113") as error:
        k.set_current(1e-3)  # the setting is unknown to this device; its read-back says 0
    assert error.value.errors == [(-113, "Undefined header")]
    assert sent(k) == [":SOUR:CURR 1.000000E-03;:SOUR:CURR?", ":SYST:ERR?", ":SYST:ERR?"]


def test_garbled_answers_are_device_faults(dialogue) -> None:
    k = smu(dialogue, REFUSING)
    with pytest.raises(DeviceFault, match="4 fields"):
        k.identity()
    with pytest.raises(DeviceFault, match="expected 1 or 0"):
        k.output_enabled()
    k._source, k._sense = "CURR", "VOLT"
    with pytest.raises(DeviceFault, match="no valid reading"):
        k.read()  # 9.91E+37 is SCPI NAN


def test_reading_needs_the_other_quantity_sensed(dialogue) -> None:
    k = smu(dialogue, SAME)
    with pytest.raises(LimitViolation, match="sense the other quantity"):
        k.read()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda k: k.set_current(0.02), "source current"),  # above the cell's 10 mA
        (lambda k: k.set_current(math.nan), "source current"),
        (lambda k: k.set_voltage(4.3), "cell window"),
        (lambda k: k.set_voltage(2.0), "cell window"),
        (lambda k: k.set_voltage_limit(4.25), "cell maximum"),
        (lambda k: k.set_voltage_limit(0.01), "voltage limit"),
        (lambda k: k.set_current_limit(0.5), "current limit"),
        (lambda k: k.set_source_function("RES"), "source function"),  # type: ignore[arg-type]
        (lambda k: k.set_sense_function("VOLT\n*RST"), "sense function"),  # type: ignore[arg-type]
        (lambda k: k.charge_cc_cv(-1e-3, 4.2, 1e-4, timeout=10.0), "charge current"),
        (lambda k: k.charge_cc_cv(1e-3, 4.2, 2e-3, timeout=10.0), "cut-off current"),
        (lambda k: k.charge_cc_cv(1e-3, 4.4, 1e-4, timeout=10.0), "charge voltage limit"),
        (lambda k: k.charge_cc_cv(1e-3, 4.2, 1e-4, timeout=0.0), "timeout"),
        (lambda k: k.discharge_cc(1e-3, 2.0, timeout=10.0), "cut-off voltage"),
        (lambda k: k.discharge_cc(-1e-3, 3.0, timeout=10.0), "magnitude"),
        (lambda k: k.discharge_cc(1e-3, 3.0, timeout=10.0, poll_interval=20.0), "poll"),
    ],
)
def test_limits_are_checked_before_anything_is_sent(dialogue, call, match: str) -> None:
    k = smu(dialogue, OK, limits=CellLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.01))
    with pytest.raises(LimitViolation, match=match):
        call(k)
    assert sent(k) == []


def test_cell_limits_respect_the_instrument_ranges() -> None:
    with pytest.raises(LimitViolation):
        CellLimits(max_current=2.0)  # the 2450 sources at most 1.05 A
    with pytest.raises(LimitViolation):
        CellLimits(min_voltage=4.2, max_voltage=2.5)


# -- response parsers -----------------------------------------------------------------------

FINITE = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False)


@given(value=FINITE)
def test_parse_number_round_trips_nr3(value: float) -> None:
    # NR3 with 7 significant digits rounds by at most 5e-7 relative.
    assert parse_number(f"{value:.6E}") == pytest.approx(value, rel=1e-6, abs=1e-300)
    assert parse_number(f" {value!r}\n") == value


@given(values=st.tuples(FINITE, FINITE, st.floats(0.0, 1e7)))
def test_parse_reading_round_trips_three_fields(values: tuple[float, float, float]) -> None:
    reply = ",".join(f"{value:.6E}" for value in values)
    assert parse_reading(reply) == pytest.approx(values, rel=1e-6, abs=1e-300)  # 7-digit NR3


@given(state=st.booleans(), word=st.booleans())
def test_parse_bool_accepts_scpi_booleans(state: bool, word: bool) -> None:
    text = ("ON" if state else "OFF") if word else str(int(state))
    assert parse_bool(text) is state


@given(function=st.sampled_from(["CURR", "VOLT"]), quoted=st.booleans(), dc=st.booleans())
def test_parse_function_accepts_source_and_sense_forms(
    function: str, quoted: bool, dc: bool
) -> None:
    text = function + (":DC" if dc else "")
    assert parse_function(f'"{text}"' if quoted else text) == function


@given(code=st.integers(-999, 9999), message=st.text(st.characters(blacklist_characters='"\n')))
def test_parse_error_round_trips(code: int, message: str) -> None:
    assert parse_error(f'{code},"{message}"') == (code, message)


@given(reply=st.text(max_size=40))
def test_parsers_raise_only_device_faults_on_junk(reply: str) -> None:
    for parser in (parse_number, parse_reading, parse_bool, parse_function, parse_error):
        try:
            parser(reply)
        except DeviceFault:
            pass
