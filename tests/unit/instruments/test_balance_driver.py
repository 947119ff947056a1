"""MettlerToledoBalance over pyvisa-sim dialogues (tests/fixtures/pyvisa_sim/balance.yaml)."""

from __future__ import annotations

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.balance import (
    BalanceBusyError,
    BalanceData,
    BalanceIdentity,
    BalanceLogicalError,
    BalanceNotReady,
    BalanceRangeError,
    BalanceSyntaxError,
    BalanceTransmissionError,
    MettlerToledoBalance,
    SicsLevel,
)

T = MettlerToledoBalance.TERMINATIONS
OK, BUSY, OVER, UNDER, ODD, GARBLED, LEVEL1, APART, REFUSING = (
    f"TCPIP0::192.0.2.20::{4000 + i}::SOCKET" for i in range(1, 10)
)


def balance(dialogue, name: str) -> MettlerToledoBalance:
    return MettlerToledoBalance(dialogue("balance.yaml", name, T), retries=2, retry_delay=0.001)


def test_parses_level_0_and_1_answers(dialogue) -> None:
    scale = balance(dialogue, OK)
    assert scale.serial_number() == "B123456789"
    assert scale.reset() == "B123456789"
    assert scale.weight() == 100.0012  # parsed from a reply in g: copied, not computed
    assert scale.weight(stable=False) == 99.9871
    scale.zero()
    assert scale.tare() == 12.3456
    text = scale.resource.take().text
    first = [line.split(" ", 1)[1] for line in text.splitlines()[:2]]
    assert first == ["> I4", '< I4 A "B123456789"']


def test_busy_is_retried_then_times_out(dialogue) -> None:
    scale = balance(dialogue, BUSY)
    with pytest.raises(InstrumentTimeout, match="S I"):
        scale.weight()
    assert scale.resource.take().text.count("> S\n") == 3  # first try and two retries
    with pytest.raises(InstrumentTimeout):
        scale.zero()
    with pytest.raises(DeviceFault):
        scale.serial_number()


@pytest.mark.parametrize("call", ["weight", "tare", "zero"])
def test_overload_is_a_range_error(dialogue, call: str) -> None:
    with pytest.raises(BalanceRangeError, match="overload"):
        getattr(balance(dialogue, OVER), call)()


def test_underload_is_a_range_error(dialogue) -> None:
    scale = balance(dialogue, UNDER)
    with pytest.raises(BalanceRangeError, match="underload"):
        scale.weight()
    with pytest.raises(BalanceRangeError):
        scale.tare()


def test_general_errors_and_odd_answers(dialogue) -> None:
    scale = balance(dialogue, ODD)
    with pytest.raises(DeviceFault, match="EL: logical"):
        scale.weight()
    with pytest.raises(DeviceFault, match="ET: transmission"):
        scale.tare()
    # kg converted to g: one rounding in the multiplication by 1000
    assert scale.weight(stable=False) == pytest.approx(12.3, rel=1e-12, abs=0.0)
    with pytest.raises(DeviceFault, match="quoted"):
        scale.serial_number()
    with pytest.raises(DeviceFault, match="unexpected"):
        scale.zero()
    assert scale.reset() == ""


def test_unknown_command_gets_es(dialogue) -> None:
    scale = balance(dialogue, GARBLED)
    with pytest.raises(DeviceFault, match="ES: syntax"):
        scale.zero()


def test_garbled_values_are_device_faults(dialogue) -> None:
    scale = balance(dialogue, GARBLED)
    with pytest.raises(DeviceFault, match="not a number"):
        scale.weight()
    with pytest.raises(DeviceFault, match="unit"):
        scale.weight(stable=False)
    with pytest.raises(DeviceFault):
        scale.tare()


def test_general_errors_are_typed_and_name_the_command(dialogue) -> None:
    scale = balance(dialogue, ODD)
    with pytest.raises(BalanceLogicalError) as logical:
        scale.weight()
    assert (logical.value.command, logical.value.reply) == ("S", "EL")
    with pytest.raises(BalanceTransmissionError, match="'T'"):
        scale.tare()
    with pytest.raises(BalanceSyntaxError, match="'TAC'"):
        scale.clear_tare()  # balance_odd does not know TAC: pyvisa-sim answers ES


def test_busy_is_a_typed_timeout_and_not_ready_is_a_device_fault(dialogue) -> None:
    scale = balance(dialogue, BUSY)
    with pytest.raises(BalanceBusyError) as busy:
        scale.tare()
    assert isinstance(busy.value, InstrumentTimeout)
    assert isinstance(busy.value.__cause__, BalanceNotReady)
    with pytest.raises(BalanceNotReady, match="I4 I"):  # identity queries are not retried
        scale.serial_number()
    assert scale.resource.take().text.count("> I4\n") == 1


def test_identity_and_tare_memory(dialogue) -> None:
    scale = balance(dialogue, LEVEL1)
    assert scale.sics_level() == SicsLevel("01", ("2.20", "2.20", "", ""))
    assert scale.balance_data() == BalanceData("XS204", 220.0)  # parsed from the reply, in g
    assert scale.software_version() == "2.10 10.28.0.493.142"
    assert scale.identity() == BalanceIdentity(
        model="XS204",
        capacity=220.0,
        serial="B123456789",
        software="2.10 10.28.0.493.142",
        levels="01",
    )
    assert "XS204 (220 g), serial B123456789" in str(scale.identity())
    assert scale.tare_weight() == 0.0
    scale.resource.take()
    assert scale.set_tare_weight(12.5) == 12.5  # the read-back "12.5000 g", parsed
    sent = [line.split(" ", 2)[2] for line in scale.resource.take().text.splitlines()]
    assert sent == ["TA 12.50000 g", "TA A    12.5000 g", "TA", "TA A    12.5000 g"]
    with pytest.raises(BalanceLogicalError, match="'TA L'"):
        scale.set_tare_weight(210.0)  # within the driver's 220 g, outside the device's range
    with pytest.raises(DeviceFault, match="12.5 g after 'TAC'"):
        scale.clear_tare()  # the fixed TAC dialogue leaves the tare property: read-back catches it
    scale.display_text("vial-0001")
    scale.display_weight()


def test_other_editions_quote_i2_apart_and_answer_in_mg(dialogue) -> None:
    scale = balance(dialogue, APART)
    assert scale.sics_level().levels == "0123"
    assert scale.balance_data() == BalanceData("WMS404C-L/10", 410.009)  # parsed, in g
    # "5000.0 mg" converted to g: one rounding in the multiplication by 1e-3
    assert scale.tare_weight() == pytest.approx(5.0, rel=1e-12, abs=0.0)


def test_refusals_and_bad_read_backs(dialogue) -> None:
    scale = balance(dialogue, REFUSING)
    with pytest.raises(DeviceFault, match="reads back a tare of 0.0 g"):
        scale.set_tare_weight(12.5)
    with pytest.raises(BalanceBusyError, match="TAC I"):
        scale.clear_tare()
    assert scale.resource.take().text.count("> TAC\n") == 3
    with pytest.raises(BalanceLogicalError, match="D L"):
        scale.display_text("vial-0001")
    with pytest.raises(BalanceLogicalError, match="EL"):
        scale.display_weight()
    with pytest.raises(DeviceFault, match="four level versions"):
        scale.sics_level()
    with pytest.raises(DeviceFault, match="unit in"):
        scale.balance_data()
    with pytest.raises(DeviceFault, match="2 quoted texts"):
        scale.software_version()


@pytest.mark.parametrize("grams", [-0.001, 220.0001, float("nan"), float("inf")])
def test_tare_presets_outside_the_capacity_are_refused_before_sending(dialogue, grams) -> None:
    scale = balance(dialogue, LEVEL1)
    with pytest.raises(LimitViolation, match="tare preset"):
        scale.set_tare_weight(grams)
    assert scale.resource.take().text == ""


@pytest.mark.parametrize(
    "text", ["line\r\nbreak", "tab\there", 'say "hi"', "x" * 21, "\x03", "Ünïcode"]
)
def test_display_texts_with_separators_are_refused_before_sending(dialogue, text) -> None:
    scale = balance(dialogue, LEVEL1)
    with pytest.raises(LimitViolation, match="display text"):
        scale.display_text(text)
    assert scale.resource.take().text == ""


def test_capacity_must_be_a_positive_mass(dialogue) -> None:
    for capacity in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="capacity"):
            MettlerToledoBalance(dialogue("balance.yaml", OK, T), capacity)
