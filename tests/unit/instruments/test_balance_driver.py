"""MettlerToledoBalance: MT-SICS parsing (pyvisa-sim dialogues) and the loopback simulator."""

from __future__ import annotations

import time

import pytest

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.instruments.balance import BalanceRangeError, MettlerToledoBalance
from electroloop.instruments.sim.server import Fault

T = MettlerToledoBalance.TERMINATIONS
OK, BUSY, OVER, UNDER, ODD, GARBLED = (
    f"TCPIP0::192.0.2.20::{4000 + i}::SOCKET" for i in range(1, 7)
)


def balance(dialogue, name: str) -> MettlerToledoBalance:
    return MettlerToledoBalance(dialogue("balance.yaml", name, T), retries=2, retry_delay=0.001)


def test_parses_level_0_and_1_answers(dialogue) -> None:
    scale = balance(dialogue, OK)
    assert scale.serial_number() == "B123456789"
    assert scale.reset() == "B123456789"
    assert scale.weight() == pytest.approx(100.0012)
    assert scale.weight(stable=False) == pytest.approx(99.9871)
    scale.zero()
    assert scale.tare() == pytest.approx(12.3456)
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
    assert scale.weight(stable=False) == pytest.approx(12.3)  # kg converted to g
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


# -- against the loopback simulator ------------------------------------------------------


def test_weighs_the_bench_vial(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T, instrument="balance"))
    assert scale.serial_number() == "B000000007"
    gross = lab.bench.gross_load()
    assert scale.weight() == pytest.approx(gross, abs=0.0006)
    assert scale.tare() == pytest.approx(gross, abs=0.0006)
    assert scale.weight() == pytest.approx(0.0, abs=0.0006)
    lab.bench.deliver("EC", 1.0, until=0.0)
    assert scale.weight() == pytest.approx(1.32, abs=0.0006)
    scale.zero()
    assert scale.weight() == pytest.approx(0.0, abs=0.0006)
    assert scale.reset() == "B000000007"


def test_simulated_overload_and_unstable_reading(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T), capacity=220.0)
    lab.balance.capacity = 5.0  # the 12 g vial now overloads the simulated balance
    with pytest.raises(BalanceRangeError):
        scale.weight()
    lab.balance.capacity = 220.0
    lab.balance.stability_timeout = 0.001
    lab.bench.settle_time = 10.0
    lab.bench.deliver("EC", 0.5, until=time.monotonic())
    assert scale.weight(stable=False) == pytest.approx(lab.bench.gross_load(), abs=0.05)
    scale.retries, scale.retry_delay = 1, 0.0
    with pytest.raises(InstrumentTimeout):
        scale.weight()


def test_transport_faults_are_typed(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T, timeout=0.1))
    lab.balance.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout):
        scale.weight()
    lab.balance.inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault):
        scale.weight()
    lab.balance.inject("S +")
    with pytest.raises(BalanceRangeError):
        scale.weight()
    lab.balance.inject(Fault.DISCONNECT)
    with pytest.raises(InstrumentError):
        scale.weight()
    with pytest.raises(InstrumentError):  # the link stays down
        scale.serial_number()
