"""Property tests for the Orion Star A215 reply parsers and the simulator's number format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import DeviceFault, LimitViolation
from electroloop.instruments.orion_meter import (
    CONDUCTIVITY_UNITS,
    MEASUREMENT_FIELDS,
    OrionFormatError,
    OrionNoReading,
    OrionReplyError,
    OrionStarA215,
    body_lines,
    parse_calibration,
    parse_identity,
    parse_log,
    parse_measurements,
    parse_record,
)
from electroloop.instruments.sim.orion_meter import format_value
from electroloop.instruments.transport import ReplayResource, escape

CAPTURED = (
    "GETMEAS         \r\n\r\n\rA215 pH,X51250,3.04,ABCDE,12/07/23 09:30:40,---,CH-1,pH,4.61,pH,"
    "111.2, mV,25.0,C,89.1,%,M100,#1\n\r\r"
)
"""A real A215's reply to GETMEAS in pH mode (see the driver's docstring), less the prompt."""

positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
temperature = st.floats(min_value=-5.0, max_value=105.0, allow_nan=False)
field_text = st.text(st.characters(blacklist_characters=",\r\n", blacklist_categories=["Cs"]))


def frame(command: str, *lines: str) -> str:
    """What the meter sends for `command` (before the prompt): echo, blank lines, records."""
    return command.ljust(16) + "\r\n\r\n" + "".join(f"\r{line}\n\r" for line in lines) + "\r"


def record(
    value: str = "10.83",
    unit: str = "mS/cm",
    temperature: str = "25.0",
    t_unit: str = "C",
    mode: str = "Cond",
    extra: tuple[str, ...] = (),
) -> str:
    fields = [
        "A215 Cond",
        "X51250",
        "3.04",
        "---",
        "12/07/23 09:30:40",
        "---",
        "CH-2",
        mode,
        value,
        unit,
        "22.80",
        "mS",
        temperature,
        t_unit,
        "0.4750",
        "/cm",
        "M100",
        "#7",
        *extra,
    ]
    return ",".join(fields)


@given(positive, st.sampled_from(sorted(CONDUCTIVITY_UNITS)), temperature)
def test_records_convert_to_millisiemens_per_cm(value: float, unit: str, t: float) -> None:
    shown = f"{value:.6g}" if "e" not in f"{value:.6g}" else f"{value:.6f}"
    reading = parse_record(record(shown, unit, f"{t:.1f}"))
    # one multiplication by the unit's factor: only its rounding may differ
    assert reading.conductivity == pytest.approx(
        float(shown) * CONDUCTIVITY_UNITS[unit], rel=1e-12, abs=0.0
    )
    assert reading.temperature == pytest.approx(float(f"{t:.1f}"), abs=1e-12)
    assert reading.cell_constant == pytest.approx(0.475, abs=1e-12)
    assert reading.conductance == pytest.approx(22.8, rel=1e-12)
    assert reading.log_number == 7 and reading.channel == "CH-2"


@given(temperature)
def test_fahrenheit_is_converted_to_celsius(t: float) -> None:
    reading = parse_record(record(temperature=f"{t:.1f}", t_unit="F"))
    assert reading.temperature == pytest.approx((float(f"{t:.1f}") - 32) * 5 / 9, abs=1e-9)


@given(st.integers(min_value=2, max_value=30).filter(lambda n: n != len(MEASUREMENT_FIELDS)))
def test_a_record_of_the_wrong_field_count_names_the_fields_expected(count: int) -> None:
    line = (
        ",".join(record().split(",")[:count]) if count < 18 else record(extra=("x",) * (count - 18))
    )
    with pytest.raises(OrionReplyError, match=f"{count} fields; expected 18: model, serial"):
        parse_record(line)


@given(field_text.filter(lambda u: u.strip() not in CONDUCTIVITY_UNITS))
def test_an_unknown_unit_is_refused_naming_the_known_ones(unit: str) -> None:
    with pytest.raises(OrionReplyError, match="conductivity unit; expected one of uS/cm"):
        parse_record(record(unit=unit))


@given(field_text)
def test_a_value_is_a_number_or_a_named_error(value: str) -> None:
    try:
        reading = parse_record(record(value=value))
    except OrionNoReading as error:
        assert "no valid reading" in str(error)
    except OrionReplyError as error:
        assert "conductivity value; expected a decimal number" in str(error)
    else:
        assert reading.conductivity == pytest.approx(float(value.strip()), rel=1e-12)


def test_dashes_mean_no_reading() -> None:
    with pytest.raises(OrionNoReading, match="'-----' as the conductivity value"):
        parse_record(record(value="-----"))


@given(st.text(max_size=300))
def test_any_reply_parses_or_raises_a_device_fault(reply: str) -> None:
    try:
        records = parse_measurements(reply)
    except DeviceFault:
        return
    assert records and all(r.conductivity == r.conductivity for r in records)


@given(st.lists(st.sampled_from(["\r", "\n", "\r\n", "\n\r", "\r\r", " \r"]), min_size=5))
def test_any_line_framing_yields_the_same_lines(breaks: list[str]) -> None:
    parts = ["GETMEAS", "", record(), "", record(value="1413", unit="uS/cm")]
    reply = "".join(p + breaks[i % len(breaks)] for i, p in enumerate(parts))
    readings = parse_measurements(reply)
    assert [r.conductivity for r in readings] == pytest.approx([10.83, 1.413], rel=1e-12)


def test_the_captured_a215_reply_is_framed_as_the_simulator_frames_it() -> None:
    assert frame("GETMEAS", CAPTURED.split("\r")[3].removesuffix("\n")) == CAPTURED
    with pytest.raises(OrionReplyError, match="no conductivity record"):
        parse_measurements(CAPTURED)  # only a pH channel record: skipped, none left


def test_other_channels_are_skipped_and_the_echo_is_required() -> None:
    both = frame("GETMEAS", CAPTURED.split("\r")[3].strip(), record())
    (reading,) = parse_measurements(both)
    assert reading.conductivity == pytest.approx(10.83, rel=1e-12)
    with pytest.raises(OrionReplyError, match="expected its echo 'GETMEAS'"):
        parse_measurements(frame("SYSTEM", record()))
    with pytest.raises(OrionReplyError, match="expected Cond"):
        parse_record(record(mode="Res"))
    assert body_lines(" getmeas 3 \r\n", "GETMEAS 3") == []


def test_printer_format_is_told_apart_from_csv() -> None:
    with pytest.raises(OrionFormatError, match="send SETCSV"):
        parse_measurements(frame("GETMEAS", "Conductivity  10.83 mS/cm"))
    assert parse_log(frame("GETLOG")) == []


@given(
    st.floats(min_value=0.01, max_value=10.0),
    st.floats(min_value=0.0, max_value=10.0),
    st.sampled_from([20.0, 25.0]),
)
def test_calibration_round_trip(cell: float, coefficient: float, reference: float) -> None:
    line = (
        f"A215 Cond,X1,3.04,---,12/07/23 09:30:40,CH-2,Cond,2,{cell:.4f},/cm,1413,uS/cm,25.0,C,"
        f"{coefficient:.1f},%/C,{reference:.1f},C"
    )
    calibration = parse_calibration(frame("GETCAL COND", line))
    assert calibration is not None
    assert calibration.cell_constant == pytest.approx(float(f"{cell:.4f}"), abs=1e-12)
    assert calibration.standard == pytest.approx(1.413, rel=1e-12)
    assert calibration.coefficient == pytest.approx(float(f"{coefficient:.1f}"), abs=1e-12)
    assert (calibration.points, calibration.reference) == (2, reference)
    assert parse_calibration(frame("GETCAL COND")) is None  # no calibration saved
    with pytest.raises(OrionReplyError, match="fields; expected 18"):
        parse_calibration(frame("GETCAL COND", line + ",extra"))


@given(st.lists(field_text.map(str.strip).filter(bool), min_size=1, max_size=6))
def test_identity_needs_model_serial_software_and_clock(fields: list[str]) -> None:
    reply = frame("SYSTEM", ",".join(fields) + ("," if len(fields) == 1 else ""))
    if len(fields) == 4:
        identity = parse_identity(reply)
        assert (identity.model, identity.serial, identity.firmware) == tuple(fields[:3])
    else:
        with pytest.raises(OrionReplyError, match="expected 4: model, serial number"):
            parse_identity(reply)


@given(positive)
def test_the_simulators_numbers_carry_four_significant_digits(value: float) -> None:
    shown = format_value(value)
    assert "e" not in shown.lower()
    assert float(shown) == pytest.approx(value, rel=5e-4)  # half a unit in the 4th digit


@given(positive, st.sampled_from(["uS/cm", "mS/cm", "S/m"]))
def test_the_driver_converts_any_recorded_reading(value: float, unit: str) -> None:
    shown = f"{value:.6f}"
    transcript = (
        f"t > SETCSV\nt < {escape(frame('SETCSV'))}\n"
        f"t > GETMEAS\nt < {escape(frame('GETMEAS', record(shown, unit)))}\n"
    )
    meter = OrionStarA215(ReplayResource(transcript))
    assert meter.conductivity() == pytest.approx(
        float(shown) * CONDUCTIVITY_UNITS[unit], rel=1e-12, abs=0.0
    )


@given(st.one_of(st.integers(), st.floats(), st.booleans()))
def test_record_counts_are_checked_before_anything_is_sent(count: object) -> None:
    meter = OrionStarA215(ReplayResource(""))  # any traffic would fail the test
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 50:
        return
    with pytest.raises(LimitViolation, match="record count"):
        meter.readings(count)  # type: ignore[arg-type]
