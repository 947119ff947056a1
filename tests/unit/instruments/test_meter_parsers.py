"""Property tests for every SCPI response parser the meter uses, and the simulator's parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import DeviceFault, LimitViolation
from electroloop.instruments.conductivity_meter import (
    ConductivityMeter,
    MeterError,
    ScpiLink,
    TemperatureCompensation,
    format_number,
    parse_boolean,
    parse_error,
    parse_identity,
    parse_number,
)
from electroloop.instruments.sim.meter import (
    ErrorQueue,
    ScpiHeader,
    ScpiReject,
    parse_parameter,
)
from electroloop.instruments.transport import ReplayResource

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30)
text = st.text(max_size=40)


@given(finite, st.sampled_from(["{:.6E}", "{:.3f}", "{:.6G}", "{!r}", "{:+.2e}"]))
def test_numbers_round_trip(value: float, form: str) -> None:
    reply = form.format(value)
    assert parse_number(reply, "MEAS:COND?") == float(reply)  # parsed: a copy to the last bit
    assert parse_number(f" {reply}\r\n", "MEAS:COND?") == float(reply)


@given(text)
def test_any_reply_is_a_number_or_a_device_fault(reply: str) -> None:
    try:
        value = parse_number(reply, "MEAS:TEMP?")
    except DeviceFault as error:
        assert "NR3" in str(error)
    else:
        assert not math.isnan(value)


@given(st.integers(-999, 999), st.text(st.characters(blacklist_characters="\r\n"), max_size=30))
def test_error_entries_round_trip(code: int, message: str) -> None:
    quoted = message.replace('"', '""')
    assert parse_error(f'{code},"{quoted}"\n') == (code, message)


@given(text)
def test_any_error_reply_parses_or_is_a_device_fault(reply: str) -> None:
    try:
        code, _ = parse_error(reply)
    except DeviceFault:
        return
    assert isinstance(code, int)


@given(text)
def test_booleans_are_one_zero_on_off_or_a_device_fault(reply: str) -> None:
    try:
        value = parse_boolean(reply, "OUTP?")
    except DeviceFault:
        assert reply.strip().upper() not in ("1", "0", "ON", "OFF")
    else:
        assert value == (reply.strip().upper() in ("1", "ON"))


@given(st.lists(st.text(st.characters(blacklist_characters=",\r\n"), max_size=12), max_size=6))
def test_identity_needs_four_fields(fields: list[str]) -> None:
    reply = ",".join(fields)
    if len(fields) == 4:
        assert parse_identity(reply) == reply.strip()
    else:
        with pytest.raises(DeviceFault, match="4 fields"):
            parse_identity(reply)


@given(st.floats(min_value=0.01, max_value=100.0))
def test_formatted_arguments_are_what_the_simulator_parses(value: float) -> None:
    argument = format_number(value)
    parsed = parse_parameter(argument, low=0.0, high=1000.0, default=1.0)
    assert parsed == pytest.approx(value, rel=1e-5, abs=0.0)  # .6G: 6 digits, 5e-6 relative


@given(st.text(max_size=12))
def test_simulator_parameters_parse_or_reject_with_a_scpi_code(argument: str) -> None:
    try:
        value = parse_parameter(argument, low=-5.0, high=5.0, default=0.0)
    except ScpiReject as reject:
        assert reject.code in (-104, -108, -109, -222)
    else:
        assert -5.0 <= value <= 5.0


@given(st.data())
def test_headers_match_in_any_form_and_case(data: st.DataObject) -> None:
    nodes = [
        ("SENS", "SENSE", True),
        ("COND", "CONDUCTIVITY", False),
        ("TCOMP", "TCOMPENSATION", False),
    ]
    parts = []
    for short, long, optional in nodes:
        if optional and data.draw(st.booleans()):
            continue
        word = data.draw(st.sampled_from([short, long]))
        parts.append("".join(c.lower() if data.draw(st.booleans()) else c for c in word))
    header = data.draw(st.sampled_from(["", ":"])) + ":".join(parts) + "?"
    assert ScpiHeader("[SENSe:]CONDuctivity:TCOMPensation?").matches(header)
    assert not ScpiHeader("[SENSe:]CONDuctivity:TCOMPensation").matches(header)


@given(st.lists(st.integers(-400, -100), max_size=40))
def test_error_queue_is_fifo_and_reports_overflow(codes: list[int]) -> None:
    queue = ErrorQueue(size=16)
    for code in codes:
        queue.push(code, "x")
    popped = [parse_error(queue.pop())[0] for _ in range(len(queue) + 1)]
    expected = codes if len(codes) <= 16 else [*codes[:15], -350]
    assert popped == [*expected, 0]


@given(finite)
def test_the_driver_converts_any_recorded_reading(value: float) -> None:
    transcript = f"t > MEAS:COND?\nt < {value:.6E}\n"
    meter = ConductivityMeter(ReplayResource(transcript))
    # S/m to mS/cm: one multiplication by 10, only its rounding may differ.
    assert meter.conductivity() == pytest.approx(float(f"{value:.6E}") * 10.0, rel=1e-12, abs=0.0)


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_out_of_range_settings_are_refused_before_sending(coefficient: float, cell: float) -> None:
    meter = ConductivityMeter(ReplayResource(""))  # any traffic would fail the test
    if not (0.0 <= coefficient <= 10.0):
        with pytest.raises(LimitViolation):
            meter.set_compensation(TemperatureCompensation(True, coefficient=coefficient))
    if not (0.01 <= cell <= 100.0):
        with pytest.raises(LimitViolation):
            meter.set_cell_constant(cell)


@given(
    st.text(max_size=10),
    st.sampled_from(["\n", "\r", "\x00", "\x1b", "\x7f", ";"]),
    st.text(max_size=10),
)
def test_commands_with_control_characters_are_never_sent(head: str, bad: str, tail: str) -> None:
    link = ScpiLink(ReplayResource(""), "meter", MeterError)  # any traffic would fail the test
    with pytest.raises(LimitViolation, match="nothing was sent"):
        link.write(f"SENS:COND:CELL {head}{bad}{tail}")
    with pytest.raises(LimitViolation, match="nothing was sent"):
        link.query(f"{head}{bad}{tail}?")
