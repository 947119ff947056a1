"""One test per injected fault: the pump driver raises the typed error, or recovers from what it
reads back, and the simulated bench shows that liquid moved exactly once."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.syringe_pump import (
    CommandOverflow,
    InitializationError,
    InvalidCommand,
    InvalidOperand,
    NotInitialized,
    PlungerMoveNotAllowed,
    PlungerOverload,
    PumpFault,
    PumpNotInitialized,
    PumpOverload,
    SyringePump,
    ValveOverload,
)
from electroloop.instruments.transport import (
    ConnectionLost,
    ReconnectingResource,
    RecordingResource,
    ReplayResource,
    open_resource,
)
from tests.unit.instruments.conftest import POSITION

T = SyringePump.TERMINATIONS
EC = 1.32  # g/mL


@pytest.fixture
def link(lab) -> Iterator[RecordingResource]:
    """A recorded link to the EC pump that reconnects once when it drops. Timeout 0.5 s: the
    simulator answers within ms, but not always within 0.1 s while `make test`'s other worker
    keeps the second core busy."""
    opener = functools.partial(open_resource, lab.pump_resources["EC"], timeout=0.5, **T)
    resource = RecordingResource(ReconnectingResource(opener), "pump EC")
    yield resource
    resource.close()


@pytest.fixture
def pump(link, lab) -> SyringePump:
    p = SyringePump(link, poll_interval=0.001, move_timeout=1.0)
    p.initialize()
    p.select_port(lab.INPUT_PORT)
    link.take()
    return p


def drawn(lab) -> float:
    """mL of EC out of its bottle."""
    return (500.0 - lab.bench.bottle_mass("EC")) / EC


def test_silent_report_is_asked_again_and_twice_is_a_timeout(lab, pump) -> None:
    lab.pumps["EC"].inject(Fault.SILENT)
    assert pump.position() == pytest.approx(0.0, **POSITION)
    lab.pumps["EC"].inject(Fault.SILENT, times=2)
    with pytest.raises(InstrumentTimeout, match="no answer"):
        pump.position()
    assert pump.valve() == lab.INPUT_PORT  # the link still works


def test_silent_move_is_recovered_from_the_read_back(lab, pump, link) -> None:
    lab.pumps["EC"].inject(Fault.SILENT)  # the pump never hears the pick-up
    pump.aspirate(1.0)
    assert pump.position() == pytest.approx(1.0, **POSITION)
    assert drawn(lab) == pytest.approx(1.0, rel=0.02)  # drawn once, not twice
    assert link.take().text.count("> /1P600R") == 2  # re-sent because the plunger had not moved


def test_garbage_is_a_device_fault_and_nothing_moved(lab, pump) -> None:
    lab.pumps["EC"].inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="expected"):
        pump.position()
    lab.pumps["EC"].inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="garbage"):
        pump.aspirate(1.0)
    assert pump.position() == pytest.approx(0.0, **POSITION)
    assert drawn(lab) == pytest.approx(0.0, rel=0.0, abs=1e-12)  # mL: the bottle untouched
    pump.aspirate(1.0)
    assert pump.position() == pytest.approx(1.0, **POSITION)


def test_disconnect_during_a_move_reconnects_and_completes(lab, link) -> None:
    def session(p: SyringePump) -> float:
        p.initialize()
        p.select_port(lab.INPUT_PORT)
        lab.pumps["EC"].inject(Fault.DISCONNECT)  # a no-op when replayed
        p.aspirate(1.0)
        return p.position()

    assert session(SyringePump(link, poll_interval=0.001)) == pytest.approx(1.0, **POSITION)
    assert drawn(lab) == pytest.approx(1.0, rel=0.02)  # drawn once, not twice
    traffic = link.take()
    assert "! reconnected" in traffic.text and traffic.text.count("> /1P600R") == 2
    replay = ReplayResource(traffic)  # the session replays from its transcript, faults included
    assert session(SyringePump(replay, poll_interval=0.0)) == pytest.approx(1.0, **POSITION)
    assert replay.remaining == 0


def test_disconnect_without_reconnecting_is_an_instrument_error(lab, connect) -> None:
    p = SyringePump(connect(lab.pump_resources["EMC"], T, timeout=0.5), poll_interval=0.001)
    p.initialize()
    lab.pumps["EMC"].inject(Fault.DISCONNECT)
    with pytest.raises(InstrumentError):
        p.move_to(1.0)
    with pytest.raises(InstrumentError):  # the link stays down
        p.position()


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
def test_error_answers_are_typed(lab, pump, code: int, kind: type[PumpFault]) -> None:
    server = lab.pumps["EC"]
    server.error_code = code
    server.inject(Fault.ERROR)
    with pytest.raises(kind) as raised:
        pump.move_to(1.0)
    assert raised.value.code == code
    if code in (9, 10):  # an overload persists until the pump is initialised again
        with pytest.raises(PumpOverload):
            pump.move_to(1.0)
        pump.initialize()
    elif code in (1, 7):  # the pump is no longer initialised
        with pytest.raises(PumpNotInitialized):
            pump.move_to(1.0)
        pump.initialize()
    pump.move_to(1.0)
    assert pump.position() == pytest.approx(1.0, **POSITION)


def test_an_error_reported_while_polling_is_typed(lab, pump) -> None:
    server = lab.pumps["EC"]
    server.schedule(FaultRule(Fault.ERROR, after=server.commands + 1))  # the first [Q]
    with pytest.raises(PlungerOverload):
        pump.move_to(2.0)


def test_stuck_busy_times_out(lab, link) -> None:
    pump = SyringePump(link, poll_interval=0.001, move_timeout=0.1)
    pump.initialize()
    lab.pumps["EC"].inject(Fault.STUCK_BUSY)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout, match="still busy"):
        pump.select_port(3)
    assert time.monotonic() - start < 3.0  # the allowance, not a stroke that never ends
    with pytest.raises(CommandOverflow):  # a busy pump refuses the next move
        pump.move_to(1.0)


def test_drift_makes_the_pump_deliver_more_than_asked(lab, pump) -> None:
    server = lab.pumps["EC"]
    server.drift_per_command = 0.001
    server.inject(Fault.DRIFT)
    for _ in range(4):
        pump.select_port(lab.INPUT_PORT)
        pump.aspirate(1.0)
        pump.select_port(lab.OUTPUT_PORT)
        pump.dispense(1.0)
    delivered = lab.bench.vial_contents()["EC"] / EC
    assert server.drift > 0.02
    assert delivered > 4.0 * 1.02  # the pump says 4 mL; the vial got more


def _replay(*steps: str) -> ReplayResource:
    return ReplayResource("".join(f"2026-01-01T00:00:00.000Z {step}\n" for step in steps))


LOST = ["> /1?", r"< /0`0\x03", "> /1P600R", "! ConnectionResetError: peer reset", "! reconnected"]
READY = ["> /1Q", r"< /0`\x03"]


def test_a_lost_move_that_happened_is_not_repeated() -> None:
    done = ["> /1?", r"< /0`600\x03", "> /1?6", r"< /0`1\x03", "> /1?", r"< /0`600\x03"]
    replay = _replay(*LOST, *READY, *done)
    SyringePump(replay, poll_interval=0.0).aspirate(1.0)
    assert replay.remaining == 0  # and no second P600R was asked for


def test_a_lost_move_that_never_happened_is_sent_once_more() -> None:
    resend = ["> /1P600R", r"< /0@\x03", *READY, "> /1?", r"< /0`600\x03"]
    replay = _replay(*LOST, *READY, "> /1?", r"< /0`0\x03", "> /1?6", r"< /0`1\x03", *resend)
    p = SyringePump(replay, poll_interval=0.0)
    p.aspirate(1.0)
    assert replay.remaining == 0


def test_a_lost_move_that_ended_elsewhere_raises_with_the_read_back() -> None:
    replay = _replay(*LOST, *READY, "> /1?", r"< /0`300\x03", "> /1?6", r"< /0`1\x03")
    p = SyringePump(replay, poll_interval=0.0)
    with pytest.raises(ConnectionLost, match="plunger is at 300, the valve at 1"):
        p.aspirate(1.0)
