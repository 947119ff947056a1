"""Every fault the simulated balance can inject, and the typed error or recovery it causes."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.instruments.balance import (
    BalanceBusyError,
    BalanceFault,
    BalanceLogicalError,
    BalanceRangeError,
    BalanceSyntaxError,
    BalanceTransmissionError,
    MettlerToledoBalance,
)
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.transport import (
    ConnectionLost,
    ReconnectingResource,
    RecordingResource,
    open_resource,
)

T = MettlerToledoBalance.TERMINATIONS
_T = TypeVar("_T")


@pytest.fixture
def scale(lab, connect) -> MettlerToledoBalance:
    return MettlerToledoBalance(
        connect(lab.balance_resource, T, timeout=0.2, instrument="balance"), retry_delay=0.0
    )


@pytest.fixture
def reconnecting(lab) -> Iterator[MettlerToledoBalance]:
    """A balance whose resource opens a fresh connection after the link drops."""
    opener = functools.partial(open_resource, lab.balance_resource, timeout=0.5, **T)
    resource = ReconnectingResource(opener)
    yield MettlerToledoBalance(RecordingResource(resource, "balance"))
    resource.close()


def test_silent_is_a_timeout(lab, scale) -> None:
    lab.balance.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout, match="no answer"):
        scale.weight()


def test_garbage_is_a_device_fault(lab, scale) -> None:
    lab.balance.inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="unexpected"):
        scale.weight()
    assert scale.weight() > 0.0  # the next exchange is clean


def _through_the_drop(call: Callable[[], _T]) -> _T:
    """`call`, repeated while the dropped link still looks like silence.

    pyvisa-py 0.8 reads a socket its peer closed as no data until the timeout, so `query`
    sees a timeout, and the drop only shows (and the resource reconnects) when a later write
    fails. At most two such timeouts precede it.
    """
    for _ in range(2):
        try:
            return call()
        except InstrumentTimeout:
            continue
    return call()


def test_disconnect_recovers_an_idempotent_query(lab, reconnecting) -> None:
    lab.balance.inject(Fault.DISCONNECT)
    weight = _through_the_drop(reconnecting.weight)
    assert weight == pytest.approx(lab.bench.gross_load(), abs=0.0006)
    assert reconnecting.resource.resource.reconnects == 1
    last = [line.split(" ", 1)[1] for line in reconnecting.resource.take().text.splitlines()[-3:]]
    assert last[:2] == ["! reconnected", "> S"]  # re-sent after reconnecting


def test_disconnect_during_a_state_change_is_not_repeated(lab, reconnecting) -> None:
    lab.balance.inject(Fault.DISCONNECT)
    with pytest.raises(ConnectionLost, match="'T'"):
        _through_the_drop(reconnecting.tare)
    assert reconnecting.resource.resource.reconnects == 1
    assert reconnecting.tare_weight() == 0.0  # read back instead: the tare did not happen


def test_disconnect_without_a_reconnecting_resource_stays_down(lab, scale) -> None:
    lab.balance.inject(Fault.DISCONNECT)
    with pytest.raises(InstrumentError):
        scale.weight()
    with pytest.raises(InstrumentError):
        scale.serial_number()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("ES", BalanceSyntaxError),
        ("ET", BalanceTransmissionError),
        ("EL", BalanceLogicalError),
        ("S L", BalanceLogicalError),
        ("S +", BalanceRangeError),
    ],
)
def test_error_replies_are_typed(lab, scale, reply: str, error: type[BalanceFault]) -> None:
    lab.balance.error_reply = reply
    lab.balance.inject(Fault.ERROR)
    with pytest.raises(error) as raised:
        scale.weight()
    assert (raised.value.command, raised.value.reply) == ("S", reply)


def test_stuck_busy_is_a_typed_timeout_within_the_retries(lab, scale) -> None:
    lab.balance.stability_timeout = 0.02
    scale.retries, scale.retry_delay = 2, 0.01
    lab.balance.inject(Fault.STUCK_BUSY)
    start = time.monotonic()
    with pytest.raises(BalanceBusyError, match="'S I' 3 times"):
        scale.weight()
    assert time.monotonic() - start < 3.0  # 3 x 0.02 s waits + 2 x 0.01 s delays, and the wire
    assert not scale.reading(stable=False).stable  # never settles: dynamic readings only
    with pytest.raises(BalanceBusyError, match="T I"):
        scale.tare()
    assert scale.serial_number() == "B000000007"  # identity still answers


def test_drift_grows_by_the_relative_amount_per_command(lab, scale) -> None:
    gross = lab.bench.gross_load()
    lab.balance.inject(Fault.DRIFT)
    readings = []
    for _ in range(4):
        readings.append(scale.weight())
        expected = gross * (1.0 + lab.balance.drift)
        assert readings[-1] == pytest.approx(expected, abs=0.0006)
    step = lab.balance.drift_per_command
    assert readings[-1] - readings[0] == pytest.approx(3 * step * gross, abs=0.001)


def test_a_scheduled_fault_fires_after_n_commands(lab, scale) -> None:
    lab.balance.schedule(FaultRule(Fault.SILENT, after=lab.balance.commands + 2))
    scale.weight()
    scale.weight()
    with pytest.raises(InstrumentTimeout):
        scale.weight()
    assert scale.weight() > 0.0  # fired once
