"""Property tests of the DT-protocol parsers: well-formed answers round-trip, anything else is a
DeviceFault (never another exception, never a silent wrong value)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import DeviceFault, LimitViolation
from electroloop.instruments.syringe_pump import (
    ERROR_CODES,
    CommandOverflow,
    InitializationError,
    InvalidCommand,
    InvalidOperand,
    NotInitialized,
    PlungerMoveNotAllowed,
    PlungerOverload,
    PumpFault,
    ValveOverload,
    dt_frame,
    parse_answer,
    parse_firmware,
    parse_integer,
    parse_valve,
    pump_fault,
)

anything = st.one_of(st.text(), st.binary().map(lambda raw: raw.decode("latin-1")))
data_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def answer(ready: bool, code: int, data: str) -> str:
    return f"/0{chr(0x40 | (0x20 if ready else 0) | code)}{data}\x03"


@given(st.booleans(), st.integers(0, 15), data_text)
def test_answers_round_trip(ready: bool, code: int, data: str) -> None:
    parsed = parse_answer(answer(ready, code, data))
    assert (parsed.ready, parsed.error, parsed.data) == (ready, code, data)


@given(anything)
def test_arbitrary_answers_only_raise_device_fault(reply: str) -> None:
    try:
        parsed = parse_answer(reply)
    except DeviceFault:
        return
    assert reply == answer(parsed.ready, parsed.error, parsed.data)


@given(st.integers(0, 255).filter(lambda byte: byte & 0xD0 != 0x40), data_text)
def test_status_bytes_with_wrong_fixed_bits_are_faults(status: int, data: str) -> None:
    with pytest.raises(DeviceFault, match="status byte"):
        parse_answer(f"/0{chr(status)}{data}\x03")


@given(st.integers(0, 3000))
def test_positions_round_trip(position: int) -> None:
    assert parse_integer(str(position), "position", 0, 3000) == position


@given(anything)
def test_arbitrary_numbers_only_raise_device_fault(data: str) -> None:
    try:
        value = parse_integer(data, "position", 0, 3000)
    except DeviceFault:
        return
    assert 0 <= value <= 3000 and str(value) == data.lstrip("0").rjust(1, "0")


@given(st.integers(1, 12), st.data())
def test_valve_reports_round_trip(ports: int, data: st.DataObject) -> None:
    port = data.draw(st.integers(1, ports))
    assert parse_valve(str(port), ports) == port
    assert parse_valve("b", ports) == "bypass"
    with pytest.raises(DeviceFault):
        parse_valve(str(ports + 1), ports)


@given(anything)
def test_arbitrary_valve_reports_only_raise_device_fault(data: str) -> None:
    try:
        valve = parse_valve(data, 6)
    except DeviceFault:
        return
    assert valve == "bypass" or 1 <= valve <= 6


@given(data_text.filter(lambda text: text.strip() != ""))
def test_firmware_round_trips(text: str) -> None:
    assert parse_firmware(text) == text.strip()


@given(anything)
def test_arbitrary_firmware_only_raises_device_fault(data: str) -> None:
    try:
        text = parse_firmware(data)
    except DeviceFault:
        return
    assert text and text.isprintable() and text == text.strip()


@given(st.integers(1, 15), st.from_regex(r"[A-Za-z0-9?&,]+", fullmatch=True))
def test_frames_carry_address_and_body(address: int, body: str) -> None:
    assert dt_frame(address, body) == "/" + chr(0x30 + address) + body


@given(st.text())
def test_frames_accept_only_command_characters(body: str) -> None:
    if body and all(c in "?&," or (c.isascii() and c.isalnum()) for c in body):
        assert dt_frame(1, body) == "/1" + body
    else:
        with pytest.raises(LimitViolation):
            dt_frame(1, body)


@pytest.mark.parametrize("body", ["A300\rZ", "A300/1Z", "\x03", "A 300", ""])
def test_frames_refuse_control_characters_and_separators(body: str) -> None:
    with pytest.raises(LimitViolation):
        dt_frame(1, body)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1, InitializationError),
        (2, InvalidCommand),
        (3, InvalidOperand),
        (7, NotInitialized),
        (9, PlungerOverload),
        (10, ValveOverload),
        (11, PlungerMoveNotAllowed),
        (15, CommandOverflow),
    ],
)
def test_each_status_code_has_its_error(code: int, kind: type[PumpFault]) -> None:
    fault = pump_fault(code, "A300R")
    assert type(fault) is kind and kind.CODE == code == fault.code
    assert isinstance(fault, DeviceFault)
    assert ERROR_CODES[code] in str(fault) and f"error {code}" in str(fault)


@given(st.integers(0, 15))
def test_every_code_maps_to_a_pump_fault(code: int) -> None:
    assert pump_fault(code, "Q").code == code
